"""Checks of a mapping against the canonical model that need nothing compiled.

Each returns problems (never raises), so the compiler can collect them all.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from core.model.entities import EntitySpec
from mappings.errors import Path, Problem, did_you_mean
from mappings.spec import MappingSpec
from mappings.transforms import Step


def match_problems(spec: MappingSpec, entity: EntitySpec, lenient: frozenset[str]) -> list[Problem]:
    """Each match rule must exist and the field it compares must be mapped."""
    problems = []
    for i, rule in enumerate(spec.match):
        column = entity.match_rules.get(rule)
        if column is None:
            known = ", ".join(entity.match_rules) or "none"
            hint = did_you_mean(rule, entity.match_rules) or f"rules of {entity.name}: {known}"
            problems.append(
                Problem(("match", i), f"{entity.name} has no match rule {rule!r}", hint)
            )
            continue
        source = entity.derived[column][0] if column in entity.derived else column
        if source not in spec.fields and source not in lenient:
            problems.append(
                Problem(
                    ("match", i),
                    f"match rule {rule!r} compares {source}, which is not mapped",
                    f"map fields.{source} or drop {rule!r}",
                )
            )
    return problems


def owns_problems(spec: MappingSpec, entity: EntitySpec, lenient: frozenset[str]) -> list[Problem]:
    """Owned fields must exist and be mapped: owning a field one never writes is a slip."""
    problems = []
    for i, owned in enumerate(spec.owns):
        if owned not in entity.fields:
            hint = did_you_mean(owned, entity.fields) or f"fields: {', '.join(entity.fields)}"
            problems.append(Problem(("owns", i), f"{entity.name} has no field {owned!r}", hint))
        elif owned not in spec.fields and owned not in lenient:
            problems.append(
                Problem(
                    ("owns", i),
                    f"owns {owned!r} but does not map it",
                    f"map fields.{owned} or drop it from owns",
                )
            )
    return problems


def value_map_problems(
    steps: list[Step], entity: EntitySpec, name: str, path: Path
) -> list[Problem]:
    """Codes a final value map produces must fit the field (a Literal typo shows now)."""
    if not steps or steps[-1].transform.name != "value_map":
        return []
    args: Any = steps[-1].args
    base = (*path, len(steps) - 1, "value_map")
    found = [
        fit_problem(entity, name, value, (*base, "map", code)) for code, value in args.map.items()
    ]
    if args.unknown == "default":
        found.append(fit_problem(entity, name, args.default, (*base, "default")))
    return [p for p in found if p is not None]


def fit_problem(entity: EntitySpec, name: str, value: Any, path: Path) -> Problem | None:
    """A problem when `value` would fail the entity's validation of field `name`.

    Null always fits here (required fields are checked when a record is first created);
    references and child collections are checked elsewhere.
    """
    if value is None or name in entity.children or name in entity.references:
        return None
    try:
        _adapter(entity.create, name).validate_python(value)
    except ValidationError as exc:
        reason = "; ".join(e["msg"] for e in exc.errors(include_url=False))
        return Problem(path, f"{value!r} does not fit {entity.name}.{name}: {reason}")
    return None


@cache
def _adapter(create: type[Any], name: str) -> TypeAdapter[Any]:
    info: FieldInfo = create.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    return TypeAdapter(annotation)
