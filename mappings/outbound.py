"""Outbound mappings: a canonical record -> the payload a connector's writer sends.

An outbound document is the mirror of an inbound one (docs/mappings.md, "Write-back"):

    version: 1
    kind: outbound
    source: order                                  # canonical entity
    target: {connector: sap_odata, object: sales_order}
    remote_ref: sales_orders                       # xref object the remote id is kept under
    when: "status == 'confirmed'"                  # JMESPath over the canonical record
    owns: [RequestedDeliveryDate]                  # payload fields the hub owns (see below)
    fields:
      SalesOrderType: {const: OR}
      SoldToParty: {xref: account_id}              # the id this connection knows the account by
      PurchaseOrderByShipToParty: number
      to_Item:
        each: lines
        fields:
          Material: {xref: product_id}
          RequestedQuantity: {from: quantity, transform: {decimal_text: 3}}

Field forms are those of inbound mappings (expression, from/transform/default, const,
each) plus `xref`: a canonical id resolved, at write time, to the external id the
target connection holds for that record; a record whose reference the connection does
not know yet is refused with a message saying which one. `owns` lists the payload's
top-level fields the hub owns: an update sends only those, and after a concurrent
change in the remote system (HTTP 412) the writer re-applies only those. Left empty,
the hub owns every top-level field it maps.

Built-in outbound documents live in `mappings/<dir>/outbound/<name>.yaml` and are named
`<dir>/outbound/<name>`, apart from the inbound ones so nothing lists them as inbound.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, ValidationError

from core.errors import ConfigError, DataError
from core.model.entities import ENTITIES, EntitySpec
from mappings.errors import MappingSpecError, Path, Problem, problems_from_validation
from mappings.loader import parse_yaml
from mappings.paths import ExpressionError, Getter, compile_expression, truthy
from mappings.spec import ConstField, Expression, FromField, Options, _Strict
from mappings.transforms import Context, Fn, build_pipeline, parse_pipeline
from mappings.transforms.dates import zone

__all__ = [
    "OUTBOUND_DIR",
    "OutboundMapping",
    "XrefLookup",
    "list_outbound",
    "load_outbound",
    "load_outbound_text",
]

BUILTIN_DIR = FilePath(__file__).parent
OUTBOUND_DIR = "outbound"
_NAME = re.compile(r"([a-z][a-z0-9_]*)/outbound/([a-z0-9_][a-z0-9_\-]*)")

XrefLookup = Callable[[str, Any], str | None]
"""(entity, canonical id) -> the external id the target connection holds, or None."""


# ------------------------------------------------------------------ document shape


class XrefField(_Strict):
    """The external id of a referenced canonical record in the target system."""

    xref: Expression
    entity: str | None = None
    """The referenced entity; by default the one the canonical model says the field refers to."""
    required: bool = True
    """A missing external id refuses the write (False: the field is left out)."""


class OutEach(_Strict):
    """A list in the payload: one element per item of the canonical list `each` yields."""

    each: Expression
    fields: Annotated[dict[str, Any], Field(min_length=1)]


class TargetSpec(_Strict):
    connector: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    object: Annotated[str, Field(min_length=1)]


class OutboundSpec(_Strict):
    """An outbound mapping: one canonical entity -> one remote object."""

    version: Literal[1]
    kind: Literal["outbound"]
    description: str | None = None
    source: Annotated[str, Field(json_schema_extra={"enum": sorted(ENTITIES)})]
    target: TargetSpec
    remote_ref: Annotated[str, Field(min_length=1)]
    when: Expression | None = None
    owns: list[str] = Field(default_factory=list)
    options: Options = Field(default_factory=Options)
    fields: Annotated[dict[str, Any], Field(min_length=1)]


# ------------------------------------------------------------------ compiled form

Builder = Callable[[Mapping[str, Any], XrefLookup], dict[str, Any]]


@dataclass(frozen=True)
class OutboundMapping:
    """A compiled outbound document."""

    name: str
    entity: str
    connector: str
    object: str
    remote_ref: str
    owns: tuple[str, ...]
    fingerprint: bytes
    _when: Getter | None
    _build: Builder

    def wants(self, record: Mapping[str, Any]) -> bool:
        """Whether `when` selects the record (no `when`: every record)."""
        return self._when is None or truthy(self._when(record))

    def payload(self, record: Mapping[str, Any], xref: XrefLookup) -> dict[str, Any]:
        """The JSON-ready payload for a canonical record (dict with its lines).

        Raises DataError naming the payload field when a value cannot be made.
        """
        return self._build(record, xref)


def payload_digest(payload: Mapping[str, Any]) -> bytes:
    """A stable digest of a payload: an unchanged payload need not be sent again."""
    return hashlib.blake2b(
        orjson.dumps(payload, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).digest()


def json_ready(value: Any) -> Any:
    """Decimals as plain text (SAP sends and takes decimals as strings), dates ISO, ids text."""
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    return value


class _Compiler:
    def __init__(self, spec: OutboundSpec, name: str) -> None:
        self.spec = spec
        self.name = name
        self.problems: list[Problem] = []
        self.timezone = zone(spec.options.timezone)

    def problem(self, path: Path, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(path, message, hint))

    def compile(self) -> OutboundMapping:
        spec = self.spec
        entity = ENTITIES.get(spec.source)
        if entity is None:
            self.problem(
                ("source",),
                f"unknown canonical entity {spec.source!r}",
                f"known: {', '.join(sorted(ENTITIES))}",
            )
            raise MappingSpecError(self.problems)
        when = self.getter(spec.when, ("when",)) if spec.when is not None else None
        build = self.fields(spec.fields, entity, ("fields",))
        for index, owned in enumerate(spec.owns):
            if owned not in spec.fields:
                self.problem(
                    ("owns", index),
                    f"{owned!r} is not a field of this mapping",
                    "owns lists top-level payload fields the mapping writes",
                )
        if self.problems:
            raise MappingSpecError(self.problems)
        document = spec.model_dump(mode="json", by_alias=True, warnings=False)
        return OutboundMapping(
            name=self.name,
            entity=entity.name,
            connector=spec.target.connector,
            object=spec.target.object,
            remote_ref=spec.remote_ref,
            owns=tuple(spec.owns) or tuple(spec.fields),
            fingerprint=hashlib.blake2b(
                orjson.dumps(document, option=orjson.OPT_SORT_KEYS), digest_size=16
            ).digest(),
            _when=when,
            _build=build,
        )

    def getter(self, expression: str, path: Path) -> Getter | None:
        try:
            return compile_expression(expression)
        except ExpressionError as exc:
            self.problem(path, f"invalid JMESPath expression: {exc}")
            return None

    def pipeline(self, raw: Any, path: Path, label: str) -> Fn | None:
        steps, problems = parse_pipeline(raw if isinstance(raw, list) else [raw], path)
        self.problems.extend(problems)
        if problems:
            return None
        return build_pipeline(
            steps, Context(mapping=self.name, field=label, timezone=self.timezone)
        )

    def fields(self, fields: Mapping[str, Any], entity: EntitySpec, path: Path) -> Builder:
        parts: list[tuple[str, Callable[[Mapping[str, Any], XrefLookup], Any], bool]] = []
        for name, raw in fields.items():
            where = (*path, name)
            made = self.field(name, raw, entity, where)
            if made is not None:
                parts.append(made)

        def build(record: Mapping[str, Any], xref: XrefLookup) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, run, keep_none in parts:
                try:
                    value = run(record, xref)
                except DataError as exc:
                    if exc.field is not None:
                        raise
                    raise DataError(
                        f"{name}: {exc.message}", field=name, code=exc.code, hint=exc.hint
                    ) from None
                if value is not None or keep_none:
                    out[name] = json_ready(value)
            return out

        return build

    def field(
        self, name: str, raw: Any, entity: EntitySpec, where: Path
    ) -> tuple[str, Callable[[Mapping[str, Any], XrefLookup], Any], bool] | None:
        if isinstance(raw, str):
            raw = {"from": raw}
        if not isinstance(raw, Mapping):
            self.problem(
                where, "a field is an expression, or a mapping with from, const, xref or each"
            )
            return None
        try:
            if "each" in raw:
                return self.each(name, OutEach.model_validate(raw), entity, where)
            if "xref" in raw:
                return self.xref(name, XrefField.model_validate(raw), entity, where)
            if "const" in raw:
                value = ConstField.model_validate(raw).const
                return name, lambda _r, _x: value, True
            spec = FromField.model_validate(raw)
        except ValidationError as exc:
            self.problems.extend(
                Problem((*where, *p.path), p.message, p.hint)
                for p in problems_from_validation(exc, skip=frozenset(), known=frozenset())
            )
            return None
        if not isinstance(spec.from_, str):
            self.problem((*where, "from"), "an outbound field reads one expression")
            return None
        get = self.getter(spec.from_, (*where, "from"))
        pipe = (
            self.pipeline(spec.transform, (*where, "transform"), name) if spec.transform else None
        )
        if get is None or (spec.transform and pipe is None):
            return None
        default = spec.default

        def run(record: Mapping[str, Any], _xref: XrefLookup) -> Any:
            value = get(record)
            if value is not None and value != "" and pipe is not None:
                value = pipe(value)
            return default if value is None or value == "" else value

        return name, run, False

    def xref(
        self, name: str, spec: XrefField, entity: EntitySpec, where: Path
    ) -> tuple[str, Callable[[Mapping[str, Any], XrefLookup], Any], bool] | None:
        target = spec.entity or entity.references.get(spec.xref)
        if target is None or target not in ENTITIES:
            self.problem(
                (*where, "xref"),
                f"cannot tell which entity {spec.xref!r} refers to",
                "name it: {xref: ..., entity: account}",
            )
            return None
        get = self.getter(spec.xref, (*where, "xref"))
        if get is None:
            return None
        required = spec.required

        def run(record: Mapping[str, Any], xref: XrefLookup) -> Any:
            canonical = get(record)
            if canonical is None:
                if required:
                    raise DataError(
                        f"{spec.xref} is empty",
                        code="missing_reference",
                        hint=f"set the {target} of this record",
                    )
                return None
            found = xref(target, canonical)
            if found is None and required:
                raise DataError(
                    f"{target} {canonical} is not known to the target system yet",
                    code="unknown_reference",
                    hint=f"sync that {target} from the system (or create it there) first; "
                    "the write is retried when the record changes or on `retry`",
                )
            return found

        return name, run, False

    def each(
        self, name: str, spec: OutEach, entity: EntitySpec, where: Path
    ) -> tuple[str, Callable[[Mapping[str, Any], XrefLookup], Any], bool] | None:
        child = entity.children.get(spec.each)
        get = self.getter(spec.each, (*where, "each"))
        build = self.fields(spec.fields, child or entity, (*where, "fields"))
        if get is None:
            return None

        def run(record: Mapping[str, Any], xref: XrefLookup) -> Any:
            items = get(record) or []
            out = []
            for index, item in enumerate(items):
                try:
                    out.append(build(item, xref))
                except DataError as exc:
                    raise DataError(
                        f"{name}[{index}].{exc.message}",
                        field=f"{name}[{index}]",
                        code=exc.code,
                        hint=exc.hint,
                    ) from None
            return out

        return name, run, True


# ------------------------------------------------------------------ loading


def load_outbound_text(text: str, *, name: str = "<text>") -> OutboundMapping:
    """Compile an outbound document given as YAML text; every problem at once."""
    data = parse_yaml(text, file=name)
    try:
        spec = OutboundSpec.model_validate(data)
    except ValidationError as exc:
        raise MappingSpecError(
            problems_from_validation(exc, skip=frozenset(), known=frozenset()), source=name
        ) from None
    return _Compiler(spec, name).compile()


def list_outbound() -> list[str]:
    """Names of the shipped outbound mappings, e.g. ['sap/outbound/order_to_sales_order']."""
    return sorted(
        f"{p.parent.parent.name}/{OUTBOUND_DIR}/{p.stem}"
        for p in BUILTIN_DIR.glob(f"*/{OUTBOUND_DIR}/*.yaml")
    )


def load_outbound(ref: str, *, files: bool = True) -> OutboundMapping:
    """Compile a built-in outbound mapping (`sap/outbound/order_to_sales_order`) or, with
    `files`, an outbound mapping file; ConfigError when there is none."""
    match = _NAME.fullmatch(ref)
    if match is not None:
        path = BUILTIN_DIR / match.group(1) / OUTBOUND_DIR / f"{match.group(2)}.yaml"
    elif files and FilePath(ref).is_file():
        path = FilePath(ref)
    else:
        raise ConfigError(
            f"no outbound mapping {ref!r}",
            hint=f"built-in outbound mappings: {', '.join(list_outbound()) or 'none'}",
        )
    if not path.is_file():
        raise ConfigError(
            f"no outbound mapping {ref!r}",
            hint=f"built-in outbound mappings: {', '.join(list_outbound()) or 'none'}",
        )
    return load_outbound_text(path.read_text(encoding="utf-8"), name=ref)
