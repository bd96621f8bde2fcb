"""Compile a validated mapping document into a CompiledMapping, checking it against the
canonical model on the way.

Every check that can run before the first record does: field names against the entity,
`ref`/`each` against its references and children, match rules and owned fields, every
JMESPath, every transform's name and arguments, constants and value-map targets against
the field's type (mappings/checks.py), and each `default` through its pipeline. Problems
are collected, not raised one by one, so a document shows all its mistakes at once.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from core.errors import ConfigError, DataError
from core.model.entities import ENTITIES, EntitySpec
from mappings.checks import fit_problem, match_problems, owns_problems, value_map_problems
from mappings.errors import MappingSpecError, Path, Problem, did_you_mean
from mappings.paths import (
    ExpressionError,
    Getter,
    PathStep,
    compile_expression,
    plain_steps,
    shared_prefixes,
    single_field,
    walker,
)
from mappings.runtime import (
    CompiledMapping,
    Plan,
    Runner,
    each_runner,
    key_reader,
    list_runner,
    record_mapper,
    ref_runner,
    source_ts_reader,
    value_runner,
)
from mappings.spec import (
    ConstField,
    EachField,
    FieldSpec,
    FromField,
    KeyFrom,
    MappingSpec,
    RefField,
)
from mappings.transforms import (
    Context,
    Fn,
    Step,
    accepts_none,
    build_pipeline,
    parse_pipeline,
)
from mappings.transforms.dates import zone

_UNSET: Any = object()


ENGINE_VERSION = b"l2c-mappings/1"
"""Bump when a transform's output changes for the same input: stored content hashes
then differ and the next sync re-evaluates every record instead of skipping it."""


def fingerprint(spec: MappingSpec) -> bytes:
    """Digest of what the mapping says (not how the YAML is formatted) and engine version."""
    document = spec.model_dump(mode="json", by_alias=True, warnings=False)
    body = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(ENGINE_VERSION + b"\0" + body, digest_size=16).digest()


def compile_spec(
    spec: MappingSpec, *, name: str, lenient: frozenset[str] = frozenset()
) -> CompiledMapping:
    """Compile `spec`; raise MappingSpecError listing every problem (paths, no lines yet).

    `lenient` names fields the loader removed because their shape was already reported;
    checks that would only repeat that report (owns, match) skip them.
    """
    return _Compiler(spec, name, lenient).compile()


def origin_of(expressions: str | list[str]) -> str:
    """How an error names the source expression(s): 'CreditLimit' or 'Date', 'Time'."""
    items = [expressions] if isinstance(expressions, str) else expressions
    return ", ".join(repr(e) for e in items)


class _Compiler:
    def __init__(self, spec: MappingSpec, name: str, lenient: frozenset[str]) -> None:
        self.spec = spec
        self.name = name
        self.lenient = lenient
        self.problems: list[Problem] = []
        self.empty_as_null = spec.options.empty_as_null
        self.timezone = zone(spec.options.timezone)

    def problem(self, path: Path, message: str, hint: str | None = None, **kw: Any) -> None:
        self.problems.append(Problem(path, message, hint, **kw))

    # ------------------------------------------------------------------ document
    def compile(self) -> CompiledMapping:
        spec = self.spec
        entity = ENTITIES.get(spec.target)
        if entity is None:
            hint = did_you_mean(spec.target, ENTITIES) or f"known: {', '.join(sorted(ENTITIES))}"
            self.problem(("target",), f"unknown canonical entity {spec.target!r}", hint)
            raise MappingSpecError(self.problems)
        key = self.key(spec.key)
        when = self.getter(spec.when, ("when",)) if spec.when is not None else None
        plan = self.plan(spec.fields, entity, ("fields",))
        source_ts = self.source_ts()
        self.problems.extend(match_problems(spec, entity, self.lenient))
        self.problems.extend(owns_problems(spec, entity, self.lenient))
        if self.problems:
            raise MappingSpecError(self.problems)
        assert key is not None
        return CompiledMapping(
            name=self.name,
            stream=spec.source.stream,
            object=spec.source_object,
            entity=entity.name,
            owns=frozenset(spec.owns),
            match=tuple(spec.match),
            spec=spec,
            when_text=spec.when,
            run=record_mapper(key, plan, when, source_ts),
            key_of=key,
            fingerprint=fingerprint(spec),
        )

    def key(self, spec: str | list[str] | KeyFrom) -> Runner | None:
        if isinstance(spec, KeyFrom):
            getters = self.getters(spec.from_, ("key", "from"))
            built = self.pipeline(spec.transform, ("key", "transform"), "key")
            expressions = spec.from_
        else:
            getters, built, expressions = self.getters(spec, ("key",)), ([], None), spec
        if getters is None or built is None:
            return None
        return key_reader(getters, built[1], origin_of(expressions))

    def pipeline(
        self, raw: list[Any], path: Path, label: str
    ) -> tuple[list[Step], Fn | None] | None:
        """The parsed steps and the built pipeline, or None after reporting problems."""
        steps, problems = parse_pipeline(raw, path)
        self.problems.extend(problems)
        if problems:
            return None
        ctx = Context(mapping=self.name, field=label, timezone=self.timezone)
        return steps, build_pipeline(steps, ctx)

    def source_ts(self) -> Runner | None:
        ts = self.spec.source_ts
        if ts is None:
            return None
        if isinstance(ts, str):
            from_path: Path = ("source_ts",)
            ts = FromField.model_validate({"from": ts, "transform": ["datetime"]})
        else:
            from_path = ("source_ts", "from")
        run = self.value(
            ts, where=("source_ts",), from_path=from_path, label="source_ts", typed=None
        )
        return None if run is None else source_ts_reader(run, origin_of(ts.from_))

    # ------------------------------------------------------------------ fields
    def plan(self, fields: dict[str, FieldSpec], entity: EntitySpec, path: Path) -> Plan:
        consts: dict[str, Any] = {}
        runners: list[tuple[str, Runner]] = []
        scoped: dict[tuple[PathStep, ...], list[tuple[str, Runner]]] = {}
        origins: dict[str, str] = {}
        prefixes = shared_prefixes(_single_reads(fields))
        for name, fspec in fields.items():
            where = (*path, name)
            if name not in entity.fields:
                hint = did_you_mean(name, entity.fields) or f"fields: {', '.join(entity.fields)}"
                self.problem(where, f"{entity.name} has no field {name!r}", hint, on_key=True)
                continue
            label = ".".join(str(p) for p in where[1::2])  # fields.lines.fields.sku -> lines.sku
            if isinstance(fspec, ConstField):
                if self.fits(entity, name, fspec.const, (*where, "const")):
                    consts[name] = fspec.const
                continue
            prefix = prefixes.get(name)
            run = self.field(fspec, entity, name, where=where, label=label, prefix=prefix)
            if run is not None:
                (runners if prefix is None else scoped.setdefault(prefix, [])).append((name, run))
                origins[name] = self.origin(fspec)
        groups = tuple((walker(p), tuple(group)) for p, group in scoped.items())
        return Plan(consts, tuple(runners), origins, groups)

    def origin(self, fspec: FieldSpec) -> str:
        if isinstance(fspec, str):
            return origin_of(fspec)
        if isinstance(fspec, FromField):
            return origin_of(fspec.from_)
        if isinstance(fspec, RefField):
            return origin_of(fspec.ref.key)
        assert isinstance(fspec, EachField)
        return origin_of(fspec.each)

    def field(
        self,
        fspec: FieldSpec,
        entity: EntitySpec,
        name: str,
        *,
        where: Path,
        label: str,
        prefix: tuple[PathStep, ...] | None = None,
    ) -> Runner | None:
        """The runner of one field; with `prefix`, it reads from the prefix's value."""
        if isinstance(fspec, RefField):
            return self.ref(fspec, entity, name, where=where, label=label)
        if isinstance(fspec, EachField):
            return self.each(fspec, entity, name, where=where)
        target = entity.references.get(name)
        if target is not None:
            self.problem(
                where,
                f"{name} refers to {target}: write it as a ref",
                f"{name}: {{ref: {{object: <source object>, key: <expression>}}}}",
            )
            return None
        if name in entity.children:
            self.problem(
                where,
                f"{name} is a child collection: write it with each",
                f"{name}: {{each: <list expression>, fields: {{...}}}}",
            )
            return None
        from_path = where if isinstance(fspec, str) else (*where, "from")
        if isinstance(fspec, str):
            fspec = FromField.model_validate({"from": fspec})
        assert isinstance(fspec, FromField)  # constants never get here (see plan)
        return self.value(
            fspec,
            where=where,
            from_path=from_path,
            label=label,
            typed=(entity, name),
            prefix=prefix,
        )

    def ref(
        self, fspec: RefField, entity: EntitySpec, name: str, *, where: Path, label: str
    ) -> Runner | None:
        if name not in entity.references:
            refs = ", ".join(entity.references) or "none"
            self.problem(
                (*where, "ref"),
                f"{name} is not a reference field of {entity.name}",
                f"reference fields: {refs}",
                on_key=True,
            )
            return None
        keys = self.getters(fspec.ref.key, (*where, "ref", "key"))
        built = self.pipeline(fspec.ref.transform, (*where, "ref", "transform"), label)
        if keys is None or built is None:
            return None
        return ref_runner(fspec.ref.object, keys, built[1])

    def each(
        self, fspec: EachField, entity: EntitySpec, name: str, *, where: Path
    ) -> Runner | None:
        child = entity.children.get(name)
        if child is None:
            kids = ", ".join(entity.children) or "none"
            self.problem(
                (*where, "each"),
                f"{name} is not a child collection of {entity.name}",
                f"child collections: {kids}",
                on_key=True,
            )
            return None
        get = self.getter(fspec.each, (*where, "each"))
        plan = self.plan(fspec.fields, child, (*where, "fields"))
        return None if get is None else each_runner(name, get, plan)

    def value(
        self,
        fspec: FromField,
        *,
        where: Path,
        from_path: Path,
        label: str,
        typed: tuple[EntitySpec, str] | None,
        prefix: tuple[PathStep, ...] | None = None,
    ) -> Runner | None:
        """A from-field: getters, pipeline, and the default run through the pipeline."""
        getters = self.getters(fspec.from_, from_path)
        steps_read = plain_steps(fspec.from_) if isinstance(fspec.from_, str) else None
        if prefix is not None and steps_read is not None:
            steps_read = steps_read[len(prefix) :]
            getters = [walker(steps_read)]
        built = self.pipeline(fspec.transform, (*where, "transform"), label)
        if getters is None or built is None:
            return None
        steps, pipe = built
        if typed is not None:
            self.problems.extend(value_map_problems(steps, *typed, (*where, "transform")))
        default = self.default(fspec, pipe, where, typed)
        if default is _UNSET:
            return None
        if isinstance(fspec.from_, list):
            return list_runner(getters, pipe, default=default, empty_as_null=self.empty_as_null)
        return value_runner(
            getters[0],
            pipe,
            default=default,
            empty_as_null=self.empty_as_null,
            pipe_sees_none=accepts_none(steps),
            field=single_field(steps_read),
        )

    def default(
        self, fspec: FromField, pipe: Fn | None, where: Path, typed: tuple[EntitySpec, str] | None
    ) -> Any:
        if fspec.default is None:
            return None
        try:
            value = pipe(fspec.default) if pipe is not None else fspec.default
        except (DataError, ConfigError) as exc:
            self.problem(
                (*where, "default"),
                f"default {fspec.default!r} does not pass the transforms: {exc.message}",
            )
            return _UNSET
        if typed is not None and not self.fits(*typed, value, (*where, "default")):
            return _UNSET
        return value

    def fits(self, entity: EntitySpec, name: str, value: Any, path: Path) -> bool:
        problem = fit_problem(entity, name, value, path)
        if problem is not None:
            self.problems.append(problem)
        return problem is None

    # ------------------------------------------------------------------ expressions
    def getter(self, expr: str, path: Path) -> Getter | None:
        try:
            return compile_expression(expr)
        except ExpressionError as exc:
            self.problem(path, str(exc), offset=exc.offset)
            return None

    def getters(self, expressions: str | list[str], path: Path) -> list[Getter] | None:
        if isinstance(expressions, str):
            found = self.getter(expressions, path)
            return None if found is None else [found]
        out = [self.getter(e, (*path, i)) for i, e in enumerate(expressions)]
        return None if any(g is None for g in out) else [g for g in out if g is not None]


def _single_reads(fields: dict[str, FieldSpec]) -> dict[str, str]:
    """Field -> its one source expression, for fields that read exactly one."""
    reads = {}
    for name, fspec in fields.items():
        expr = fspec.from_ if isinstance(fspec, FromField) else fspec
        if isinstance(expr, str):
            reads[name] = expr
    return reads
