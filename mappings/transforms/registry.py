"""The transform registry: named, pure value -> value functions with validated arguments.

A transform is registered with the pydantic model of its arguments. Compiling a mapping
parses each pipeline step once (name known? arguments valid?) and builds a plain
closure; the record loop then only calls closures. Transforms never see `None` unless
they say so (`accepts_none`): a missing value stays missing through the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import DataError
from mappings.errors import Path, Problem, did_you_mean, problems_from_validation

Fn = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Context:
    """What a transform may know about where it runs: for messages and default zones."""

    mapping: str
    field: str
    timezone: tzinfo


class Args(BaseModel):
    """Base of transform argument models: strict, closed, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


@dataclass(frozen=True)
class Transform:
    """A registered transform. `primary` names the argument a scalar shorthand sets."""

    name: str
    summary: str
    build: Callable[[Any, Context], Fn]
    args: type[Args] | None = None
    primary: str | None = None
    accepts_none: bool = False

    @property
    def needs_args(self) -> bool:
        return self.args is not None and any(
            f.is_required() for f in self.args.model_fields.values()
        )


@dataclass(frozen=True)
class Step:
    """One parsed pipeline step: a transform and its validated arguments."""

    transform: Transform
    args: Args | None

    def build(self, ctx: Context) -> Fn:
        return self.transform.build(self.args, ctx)


REGISTRY: dict[str, Transform] = {}

B = TypeVar("B", bound=Callable[..., Fn])


def register(
    name: str,
    *,
    args: type[Args] | None = None,
    primary: str | None = None,
    accepts_none: bool = False,
) -> Callable[[B], B]:
    """Register a builder `(args, ctx) -> fn`; its docstring's first line is the summary."""

    def decorate(build: B) -> B:
        summary = (build.__doc__ or "").strip().splitlines()[0] if build.__doc__ else ""
        REGISTRY[name] = Transform(name, summary, build, args, primary, accepts_none)
        return build

    return decorate


def as_key(value: Any) -> str:
    """How code-list keys and inputs are compared: as text, JSON spelling for true/false/null.

    An integral float (what spreadsheets give for the code 1) compares as '1'.
    """
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def describe(value: Any) -> str:
    """A short repr of an input value for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_text(value: Any) -> str:
    """Text inputs pass; numbers become their text (a whole float without '.0')."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise DataError(f"expected text, got {describe(value)}", code="not_text")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_STEP_FORM = "a transform is a name or a one-key mapping {name: arguments}"


def parse_step(raw: Any, path: Path) -> tuple[Step | None, list[Problem]]:
    """Validate one pipeline step; problems are located under `path`."""
    if isinstance(raw, str):
        name, args_raw, name_path, on_key = raw, None, path, False
    elif isinstance(raw, Mapping) and len(raw) == 1:
        name, args_raw = next(iter(raw.items()))
        name_path, on_key = (*path, name), True
    else:
        return None, [Problem(path, _STEP_FORM)]
    spec = REGISTRY.get(name)
    if spec is None:
        hint = did_you_mean(str(name), REGISTRY) or f"known: {', '.join(sorted(REGISTRY))}"
        return None, [Problem(name_path, f"unknown transform {name!r}", hint, on_key=on_key)]
    if spec.args is None:
        if args_raw not in (None, {}):
            return None, [Problem(name_path, f"transform {name!r} takes no arguments")]
        return Step(spec, None), []
    return _with_args(spec, args_raw, path)


def _with_args(spec: Transform, args_raw: Any, path: Path) -> tuple[Step | None, list[Problem]]:
    assert spec.args is not None
    name = spec.name
    if args_raw is None:
        if spec.needs_args:
            example = f"{{{name}: {{{spec.primary or '...'}: ...}}}}"
            return None, [Problem(path, f"transform {name!r} needs arguments, e.g. {example}")]
        args_raw = {}
    base = (*path, name)
    shorthand = not isinstance(args_raw, Mapping)
    if shorthand:
        if spec.primary is None:
            return None, [Problem(base, f"the arguments of {name!r} are a mapping")]
        args_raw = {spec.primary: args_raw}
    try:
        return Step(spec, spec.args.model_validate(dict(args_raw))), []
    except ValidationError as exc:
        problems = problems_from_validation(exc, base, known=spec.args.model_fields)
    if shorthand:  # point at the scalar the user wrote, not at a key they did not write
        primary = (*base, spec.primary)
        problems = [
            Problem(base, p.message, p.hint) if p.path[: len(primary)] == primary else p
            for p in problems
        ]
    return None, problems


def parse_pipeline(raw: list[Any], path: Path) -> tuple[list[Step], list[Problem]]:
    """Validate every step of a pipeline, collecting all problems."""
    steps: list[Step] = []
    problems: list[Problem] = []
    for i, item in enumerate(raw):
        step, found = parse_step(item, (*path, i))
        problems.extend(found)
        if step is not None:
            steps.append(step)
    return steps, problems


def build_pipeline(steps: list[Step], ctx: Context) -> Fn | None:
    """Compose the steps into one function (None for an empty pipeline).

    Call the result with None only if a step `accepts_none`: callers skip None themselves
    (cheaper than a wrapper per field). Inside the pipeline, steps that do not accept
    None are skipped while the value is None, so a later `default` step still sees it.
    """
    if not steps:
        return None
    built = tuple((step.build(ctx), not step.transform.accepts_none) for step in steps)
    if len(built) == 1:
        return built[0][0]
    if not accepts_none(steps) and len(built) <= 3:
        return _chain(*(fn for fn, _ in built))

    def run(value: Any) -> Any:
        for fn, skip_none in built:
            if value is None and skip_none:
                continue
            value = fn(value)
        return value

    return run


def accepts_none(steps: list[Step]) -> bool:
    """Whether a pipeline must be called with None too (it has a `default` step)."""
    return any(step.transform.accepts_none for step in steps)


def _chain(first: Fn, second: Fn, third: Fn | None = None) -> Fn:
    """Two or three steps, none accepting None: once the value is None it stays None."""
    if third is None:

        def two(value: Any) -> Any:
            value = first(value)
            return value if value is None else second(value)

        return two

    def three(value: Any) -> Any:
        value = first(value)
        if value is None:
            return None
        value = second(value)
        return value if value is None else third(value)

    return three
