"""The hot path: a compiled mapping turning source records into MappedRecords.

Everything that can be decided once is decided by the compiler; what is left here is a
loop over (field, closure) pairs, each closure made for exactly what its field needs.
Errors are raised bare by transforms and located here, once, with the canonical field
and the source expression, because an except clause costs nothing until it catches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import DataError
from core.model.mapped import MappedRecord, Ref
from mappings.paths import Getter, truthy
from mappings.spec import MappingSpec
from mappings.transforms import Fn, as_key

Runner = Callable[[Mapping[str, Any]], Any]


Fields = tuple[tuple[str, Runner], ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """How to build one record's values (the root record or one child element).

    `scoped` groups fields whose paths share a prefix (SAP's
    `to_BusinessPartnerAddress.results[0]` read by six fields): the prefix is walked once
    per record and each field walks only the rest from there.
    """

    consts: dict[str, Any]
    fields: Fields
    origins: dict[str, str]
    """Field -> the source expression as written, for error messages."""
    scoped: tuple[tuple[Getter, Fields], ...] = ()

    def builder(self) -> Callable[[Any], dict[str, Any]]:
        """The function record -> values, with the plan's parts bound as locals."""
        consts, fields, scoped, origins = self.consts, self.fields, self.scoped, self.origins

        def values(record: Any) -> dict[str, Any]:
            out = consts.copy()
            name = ""
            try:
                for name, run in fields:
                    out[name] = run(record)
                for prefix, group in scoped:
                    base = prefix(record)
                    for name, run in group:
                        out[name] = run(base)
            except DataError as exc:
                if exc.field is not None:  # already located by a child collection
                    raise
                raise located(exc, name, origins[name], field=name) from None
            return out

        return values


def located(exc: DataError, name: str, origin: str, *, field: str | None) -> DataError:
    """The same error, saying which field and which source expression it came from."""
    return DataError(
        f"{name}: {exc.message} (from {origin})",
        field=field,
        code=exc.code,
        hint=exc.hint,
        **exc.details,
    )


def value_runner(
    get: Getter,
    pipe: Fn | None,
    *,
    default: Any,
    empty_as_null: bool,
    pipe_sees_none: bool,
    field: str | None = None,
) -> Runner:
    """Read one expression, run the pipeline, fall back to the (pre-transformed) default.

    One closure per case, so the record loop tests only what this field needs; `field`
    (the expression is one top-level key) lets the two commonest cases read it inline.
    """
    if field is not None and empty_as_null and default is None and not pipe_sees_none:
        return _fused(field, pipe)
    if pipe is None:
        if default is None:
            return _plain(get) if empty_as_null else get

        def with_default(record: Any) -> Any:
            value = get(record)
            return default if value is None or (empty_as_null and value == "") else value

        return with_default
    if pipe_sees_none:

        def run_all(record: Any) -> Any:
            value = get(record)
            value = pipe(None if empty_as_null and value == "" else value)
            return default if value is None or (empty_as_null and value == "") else value

        return run_all
    if not empty_as_null:

        def keep_empty(record: Any) -> Any:
            value = get(record)
            if value is not None:
                value = pipe(value)
            return default if value is None else value

        return keep_empty

    def run(record: Any) -> Any:
        value = get(record)
        if value is None or value == "":
            return default
        value = pipe(value)
        return default if value is None or value == "" else value

    return run


def _fused(key: str, pipe: Fn | None) -> Runner:
    if pipe is None:

        def read(record: Any) -> Any:
            try:
                value = record.get(key)
            except AttributeError:
                return None
            return None if value == "" else value

        return read

    def read_and_transform(record: Any) -> Any:
        try:
            value = record.get(key)
        except AttributeError:
            return None
        if value is None or value == "":
            return None
        value = pipe(value)
        return None if value == "" else value

    return read_and_transform


def _plain(get: Getter) -> Runner:
    def plain(record: Any) -> Any:
        value = get(record)
        return None if value == "" else value

    return plain


def list_runner(
    getters: Sequence[Getter], pipe: Fn | None, *, default: Any, empty_as_null: bool
) -> Runner:
    """Read several expressions into a list (for join, coalesce, sap_datetime)."""
    frozen = tuple(getters)

    def run(record: Any) -> Any:
        value: Any = [g(record) for g in frozen]
        if empty_as_null:
            value = [None if v == "" else v for v in value]
        if pipe is not None:
            value = pipe(value)
            if empty_as_null and value == "":
                value = None
        return default if value is None else value

    return run


def key_reader(getters: Sequence[Getter], pipe: Fn | None, origin: str) -> Runner:
    """External id: the text of one value, or of several joined with '/', each part
    through `pipe`. Missing or empty parts are refused (code missing_key): a record without
    identity cannot be upserted. Text as code lists compare it: a spreadsheet's 1000042.0
    is '1000042'."""
    if len(getters) == 1 and pipe is None:
        (get,) = getters

        def simple(record: Any) -> str:
            value = get(record)
            if value is None or value == "":
                raise DataError(f"the record has no key: {origin} is empty", code="missing_key")
            return value if value.__class__ is str else as_key(value)

        return simple
    read = _key_parts(getters, pipe)

    def key(record: Any) -> str:
        try:
            parts = read(record)
        except DataError as exc:
            raise located(exc, "key", origin, field=None) from None
        if parts is None:
            raise DataError(f"the record has no key: {origin} is empty", code="missing_key")
        return "/".join(parts)

    return key


def ref_runner(obj: str, getters: Sequence[Getter], pipe: Fn | None) -> Runner:
    """A Ref to another record by its external id (spelt as `key_reader` spells ids);
    no key means no reference (null)."""
    read = _key_parts(getters, pipe)

    def ref(record: Any) -> Ref | None:
        parts = read(record)
        return None if parts is None else Ref(obj, "/".join(parts))

    return ref


def _key_parts(getters: Sequence[Getter], pipe: Fn | None) -> Callable[[Any], list[str] | None]:
    """The key parts as text, or None as soon as one part is missing or empty."""
    frozen = tuple(getters)

    def read(record: Any) -> list[str] | None:
        parts = []
        for get in frozen:
            value = get(record)
            if pipe is not None and value is not None and value != "":
                value = pipe(value)
            if value is None or value == "":
                return None
            parts.append(as_key(value))
        return parts

    return read


def each_runner(parent: str, get: Getter, plan: Plan) -> Runner:
    """A child collection: the child plan applied to every element of a list."""
    values = plan.builder()

    def run(record: Any) -> list[dict[str, Any]] | None:
        items = get(record)
        if items is None:
            return None
        if not isinstance(items, list):
            raise DataError(f"expected a list, got {type(items).__name__}", code="not_a_list")
        out = []
        for i, item in enumerate(items):
            try:
                out.append(values(item))
            except DataError as exc:
                raise DataError(
                    f"{parent}[{i}].{exc.message}",
                    field=f"{parent}.{exc.field}",
                    code=exc.code,
                    hint=exc.hint,
                    **{**exc.details, "index": i},
                ) from None
        return out

    return run


def source_ts_reader(run: Runner, origin: str) -> Runner:
    """The record's source timestamp, which must be an aware datetime (or missing)."""

    def read(record: Any) -> datetime | None:
        try:
            value = run(record)
        except DataError as exc:
            raise located(exc, "source_ts", origin, field=None) from None
        if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
            return value
        raise DataError(
            f"source_ts: {value!r} is not a datetime with a zone (from {origin})",
            code="invalid_source_ts",
            hint="end the source_ts pipeline with the datetime or sap_datetime transform",
        )

    return read


def record_mapper(
    key: Runner, plan: Plan, when: Getter | None, source_ts: Runner | None
) -> Callable[[Mapping[str, Any]], MappedRecord | None]:
    """The whole per-record function, with everything it needs bound as locals."""
    values = plan.builder()

    def run(record: Mapping[str, Any]) -> MappedRecord | None:
        if when is not None and not truthy(when(record)):
            return None
        external_id = key(record)
        try:
            mapped = values(record)
            stamp = None if source_ts is None else source_ts(record)
        except DataError as exc:
            exc.details["external_id"] = external_id  # quarantine shows which record
            raise
        return MappedRecord(external_id, mapped, stamp)

    return run


@dataclass(frozen=True, slots=True)
class CompiledMapping:
    """A compiled inbound mapping; satisfies core.sync.ports.Mapper structurally."""

    name: str
    stream: str
    object: str
    entity: str
    owns: frozenset[str]
    match: tuple[str, ...]
    spec: MappingSpec = field(repr=False)
    when_text: str | None = field(repr=False)
    run: Callable[[Mapping[str, Any]], MappedRecord | None] = field(repr=False)
    key_of: Callable[[Mapping[str, Any]], str] = field(repr=False)
    """The external id alone (raises DataError when the record has none)."""
    fingerprint: bytes = field(repr=False, default=b"")
    """Changes whenever what the mapping produces may change (document or engine)."""

    def map(self, record: Mapping[str, Any]) -> MappedRecord | None:
        """Translate a record; None when `when` is false. Raises DataError / ConfigError."""
        return self.run(record)
