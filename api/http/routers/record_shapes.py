"""The request and response shapes of the canonical-record endpoints, generated from the
entity registry so that every entity gets the same, exact contract.

Request bodies are built field by field from the `<Entity>Create` schemas, with the same
constraints plus what JSON needs to be exact: decimals travel as strings (or integers;
a JSON number with a fraction is refused, it is a binary float), booleans, integers and
dates only in their own JSON types, and text must be storable (no NUL, valid Unicode).
So the OpenAPI document says what the server accepts, and nothing else is accepted.
"""

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from api.http.routers.record_resources import LINE_EXAMPLE, Resource
from core.model import types as t
from core.model.entities import EntitySpec
from core.model.types import UtcDatetime
from core.store.external import external_field
from core.store.records import Filter, filters_of

NO_NUL = r"^[^\x00]*$"
QueryText = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NO_NUL)]
ExternalText = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NO_NUL)]
CURSOR = r"^[0-9a-f]{32}$"
_USCC_SHAPE = r"^\s*[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{18}\s*$"
UsccQuery = Annotated[
    str, StringConstraints(pattern=_USCC_SHAPE, strip_whitespace=True, to_upper=True)
]
MAXLINE_EXAMPLES = 1000
Outcome = Literal["inserted", "updated", "unchanged"]


# ---------------------------------------------------------------------------- exact JSON
@dataclass(frozen=True)
class _DecimalText:
    """How one decimal type is written: a pattern for strings, a range for integers."""

    pattern: str
    minimum: int
    maximum: int

    def schema(self, nullable: bool) -> dict[str, Any]:
        kinds: list[dict[str, Any]] = [
            {"type": "string", "pattern": self.pattern},
            {"type": "integer", "minimum": self.minimum, "maximum": self.maximum},
        ]
        if nullable:
            kinds.append({"type": "null"})
        return {"anyOf": kinds}


_DECIMALS: dict[tuple[int, int], _DecimalText] = {
    (19, 4): _DecimalText(r"^[+-]?\d{1,15}(\.\d{1,4})?$", -(10**15) + 1, 10**15 - 1),
    (19, 6): _DecimalText(r"^[+-]?\d{1,13}(\.\d{1,6})?$", -(10**13) + 1, 10**13 - 1),
    (7, 4): _DecimalText(r"^(100(\.0{1,4})?|\d{1,2}(\.\d{1,4})?)$", 0, 100),
    (9, 6): _DecimalText(r"^-?(90(\.0{1,6})?|[1-8]?\d(\.\d{1,6})?)$", -90, 90),
    (10, 6): _DecimalText(r"^-?(180(\.0{1,6})?|(1[0-7]\d|[1-9]?\d)(\.\d{1,6})?)$", -180, 180),
}
"""By (max_digits, decimal_places) of the canonical types: Money, Quantity, Percent,
Latitude, Longitude (the ranges of Percent and the coordinates are in the patterns)."""


def _digits(items: Any) -> tuple[int, int] | None:
    """(max_digits, decimal_places) from pydantic metadata, also inside a FieldInfo."""
    for item in items:
        if getattr(item, "max_digits", None) is not None:
            return int(item.max_digits), int(item.decimal_places)
        found = _digits(getattr(item, "metadata", ()))
        if found:
            return found
    return None


def _refuse(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


def _decimal_check(text: _DecimalText) -> Callable[[Any], Any]:
    pattern = re.compile(text.pattern)

    def check(value: Any) -> Any:
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)  # JSON `53.0` is the integer 53
        if not isinstance(value, str):
            raise _refuse(
                "decimal_type",
                'send decimals as strings such as "1234.50" (or integers): JSON numbers '
                "with a fraction are binary floats and not exact",
            )
        if not pattern.fullmatch(value):
            raise _refuse("decimal_parsing", f"not a decimal of the form {text.pattern}")
        return value

    return check


def _type_check(kind: type, code: str, message: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None:
            return value
        if kind is int and isinstance(value, float) and value.is_integer():
            return int(value)  # JSON `4.0` is the integer 4
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            raise _refuse(code, message)
        return value

    return check


def _text_check(pattern: str, code: str, message: str) -> Callable[[Any], Any]:
    """Dates and times only as ISO 8601 text (pydantic would also read numbers, and
    numeric text, as Unix timestamps)."""
    shape = re.compile(pattern)

    def check(value: Any) -> Any:
        if value is None or (isinstance(value, str) and shape.match(value)):
            return value
        raise _refuse(code, message)

    return check


_ISO_DATE = _text_check(r"\d{4}-\d{2}-\d{2}\Z", "date_type", "Input should be a date, YYYY-MM-DD")
_ISO_DATETIME = _text_check(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}",
    "datetime_type",
    "Input should be an ISO 8601 date-time with a zone, e.g. 2025-06-02T09:30:00Z",
)
_STRICT = {
    bool: _type_check(bool, "bool_type", "Input should be a valid boolean (true or false)"),
    int: _type_check(int, "int_type", "Input should be a valid integer"),
    date: _ISO_DATE,
}
IsoDate = Annotated[date, BeforeValidator(_ISO_DATE)]
IsoDatetime = Annotated[UtcDatetime, BeforeValidator(_ISO_DATETIME)]


_NOT_AT_OR_SPACE = r"[^@\s\x00\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
"""What the e-mail pattern's "not @ or space" means to the server's (Unicode) regex engine,
spelled out for clients whose whitespace class is narrower (ECMAScript's omits U+0085),
and without NUL."""


class _StorableTextSchema:
    """Says in the JSON schema what `Guarded` enforces: text without NUL characters."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> Any:
        schema = handler(core_schema)
        for option in [schema, *schema.get("anyOf", ())]:
            if option.get("type") == "string" and "format" not in option:
                pattern = option.get("pattern")
                if pattern is None:
                    option["pattern"] = NO_NUL
                elif "[^@\\s]" in pattern:  # the e-mail shape
                    option["pattern"] = pattern.replace("[^@\\s]", _NOT_AT_OR_SPACE)
        return schema


def _base(annotation: Any) -> tuple[Any, bool]:
    """The annotation without `| None`, and whether it had it."""
    if get_origin(annotation) in (Union, type(int | None)):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(get_args(annotation))
    return annotation, False


def api_annotation(model: type[BaseModel], name: str) -> Any:
    """A Create-schema field as the API takes it (see the module docstring)."""
    info = model.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    base, nullable = _base(info.annotation)
    plain = get_args(base)[0] if get_origin(base) is Annotated else base
    if plain is Decimal:
        digits = _digits([*info.metadata, *getattr(base, "__metadata__", ())])
        assert digits in _DECIMALS, f"{model.__name__}.{name}: no JSON shape for {digits}"
        text = _DECIMALS[digits]
        return Annotated[
            annotation, BeforeValidator(_decimal_check(text)), WithJsonSchema(text.schema(nullable))
        ]
    if base is t.Uscc:
        schema: dict[str, Any] = {
            "type": "string",
            "pattern": _USCC_SHAPE,
            "description": "统一社会信用代码: 18 characters, the last one a check character.",
        }
        return Annotated[
            annotation,
            WithJsonSchema({"anyOf": [schema, {"type": "null"}]} if nullable else schema),
        ]
    if plain in _STRICT:
        return Annotated[annotation, BeforeValidator(_STRICT[plain])]
    if plain is str:
        return Annotated[annotation, _StorableTextSchema()]
    return annotation


def _bad_text(value: Any) -> str | None:
    """Why a value (or a nested one) cannot be stored as text, if it cannot: PostgreSQL
    refuses NUL characters and UTF-8 cannot encode unpaired surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            return "must not contain NUL (\\u0000) characters"
        try:
            value.encode()
        except UnicodeEncodeError:
            return "must be valid Unicode (it contains an unpaired surrogate)"
        return None
    if isinstance(value, BaseModel):
        value = list(value.__dict__.values())
    if isinstance(value, list | tuple):
        return next((why for why in map(_bad_text, value) if why), None)
    return None


class Guarded(BaseModel):
    """Refuses text that validates as a string but that no database could store."""

    @field_validator("*", mode="after", check_fields=False)
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        why = _bad_text(value)
        if why:
            raise _refuse("text_not_storable", f"{info.field_name} {why}")
        return value


# ---------------------------------------------------------------------------- responses
class ExternalRefOut(BaseModel):
    """One external id that points at the record."""

    connection_id: uuid.UUID = Field(examples=["0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"])
    connection: str = Field(examples=["sap-prod"], description="The connection's name.")
    object: str = Field(examples=["BusinessPartner"], description="The source object.")
    external_id: str = Field(examples=["1000042"])
    source_ts: UtcDatetime | None = Field(
        description="Source timestamp of the version last applied from this id."
    )
    updated_at: UtcDatetime


# ---------------------------------------------------------------------------- builders
def _no_default(schema: dict[str, Any]) -> None:
    """A field that may be left out but never sent as null: no `default: null` shown."""
    schema.pop("default", None)


def _no_null(schema: dict[str, Any]) -> None:
    """A query parameter is given or not: it has no null (its schema says so)."""
    schema.pop("default", None)
    options = schema.get("anyOf")
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            del schema["anyOf"]
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept


def _model(
    name: str,
    bases: tuple[type[BaseModel], ...],
    doc: str,
    fields: Mapping[str, tuple[Any, Any]] | None = None,
    config: ConfigDict | None = None,
    validators: Mapping[str, Any] | None = None,
) -> type[BaseModel]:
    """A pydantic model class built like a class statement (for generated shapes)."""
    namespace: dict[str, Any] = {"__module__": __name__, "__doc__": doc, **(validators or {})}
    if config is not None:
        namespace["model_config"] = config
    if fields:
        namespace["__annotations__"] = {k: v[0] for k, v in fields.items()}
        namespace.update({k: v[1] for k, v in fields.items()})
    model: type[BaseModel] = type(name, bases, namespace)
    return model


def _body_fields(
    spec: EntitySpec, *, partial: bool, lines: type[BaseModel] | None = None
) -> dict[str, tuple[Any, Any]]:
    """The Create schema's fields as a request body takes them.

    Whole records (`partial=False`) need the required fields; partial ones may leave any
    field out but cannot send null for a required one.
    """
    fields: dict[str, tuple[Any, Any]] = {}
    for name, info in spec.create.model_fields.items():
        description = info.description
        if name in spec.children:
            assert lines is not None
            kind: Any = list[lines]  # type: ignore[valid-type]
            if partial:
                fields[name] = (
                    kind,
                    Field(None, max_length=MAXLINE_EXAMPLES, json_schema_extra=_no_default),
                )
            else:
                fields[name] = (kind | None, Field(None, max_length=MAXLINE_EXAMPLES))
            continue
        annotation = api_annotation(spec.create, name)
        if not info.is_required():
            fields[name] = (annotation, Field(None, description=description))
        elif partial:
            fields[name] = (annotation, Field(None, json_schema_extra=_no_default))
        else:
            fields[name] = (annotation, Field(description=description))
    return fields


def _external_fields(spec: EntitySpec) -> dict[str, tuple[Any, Any]]:
    return {
        external_field(reference): (
            ExternalText,
            Field(
                None,
                json_schema_extra=_no_default,
                description=f"The {target}'s external id under this connection, instead of "
                f"`{reference}`.",
            ),
        )
        for reference, target in spec.references.items()
    }


def _one_way(spec: EntitySpec) -> tuple[dict[str, Any], Any]:
    """A reference is given by canonical id or by external id, not both: the rule for
    the JSON schema and the validator that enforces it."""
    pairs = [(r, external_field(r)) for r in spec.references]

    def check(self: BaseModel) -> BaseModel:
        sent = self.model_fields_set
        for reference, by_external in pairs:
            if reference in sent and by_external in sent:
                raise _refuse("one_way", f"send either {reference} or {by_external}, not both")
        return self

    schema = {"allOf": [{"not": {"required": list(pair)}} for pair in pairs]} if pairs else {}
    return schema, model_validator(mode="after")(check)


def _body(
    name: str,
    doc: str,
    fields: dict[str, tuple[Any, Any]],
    example: dict[str, Any] | None,
    rules: dict[str, Any] | None = None,
    validators: dict[str, Any] | None = None,
) -> type[BaseModel]:
    extra: dict[str, Any] = {**(rules or {})}
    if example is not None:
        extra["examples"] = [example]
    return _model(
        name,
        (Guarded,),
        doc,
        fields,
        config=ConfigDict(extra="forbid", json_schema_extra=extra),
        validators=validators,
    )


@dataclass(frozen=True)
class Shapes:
    create: type[BaseModel]
    patch: type[BaseModel]
    upsert: type[BaseModel]
    record: type[BaseModel]
    upserted: type[BaseModel]
    query: type[BaseModel]
    record_example: dict[str, Any]


def shapes(resource: Resource) -> Shapes:
    spec = resource.spec
    name = resource.model_name
    create_lines: type[BaseModel] | None = None
    upsert_lines: type[BaseModel] | None = None
    for child in spec.children.values():
        child_name = child.name.title().replace("_", "")
        doc = child.create.__doc__ or ""
        create_lines = _body(f"{child_name}In", doc, _body_fields(child, partial=False), None)
        rules, validator = _one_way(child)
        upsert_lines = _body(
            f"{child_name}Upsert",
            doc,
            {**_body_fields(child, partial=False), **_external_fields(child)},
            None,
            rules,
            {"_one_way": validator},
        )
    create = _body(
        f"{name}Create",
        f"A new {resource.title}. Server-assigned fields (id, tenant, timestamps, "
        "ownership) are refused.",
        _body_fields(spec, partial=False, lines=create_lines),
        resource.example,
    )
    patch = _body(
        f"{name}Patch",
        f"Changes to a {resource.title}: only the fields sent change; null clears a field "
        "(fields required to create cannot be cleared); lines, if sent, replace all lines.",
        _body_fields(spec, partial=True, lines=create_lines),
        resource.patch_example,
    )
    rules, validator = _one_way(spec)
    upsert = _body(
        f"{name}Upsert",
        f"What the external system says about a {resource.title}: fields sent are written, "
        "others are kept. Fields required to create are needed when the external id is new.",
        {**_body_fields(spec, partial=True, lines=upsert_lines), **_external_fields(spec)},
        resource.upsert_example or resource.example,
        rules,
        {"_one_way": validator},
    )
    assert spec.read is not None
    record_example = {
        "id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e",
        **{k: v for k, v in resource.example.items() if k not in spec.children},
        **{n: [{**LINE_EXAMPLE, "product_id": None}] for n in spec.children},
        "created_at": "2025-06-01T08:00:00Z",
        "updated_at": "2025-06-02T09:30:00Z",
        "external_refs": [
            {
                "connection_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8f",
                "connection": "sap-prod",
                "object": resource.entity,
                "external_id": "1000042",
                "source_ts": "2025-06-02T09:29:58Z",
                "updated_at": "2025-06-02T09:30:00Z",
            }
        ],
    }
    record = _model(
        f"{name}Record",
        (spec.read,),
        f"A {resource.title} as stored, with the external ids that point at it. Decimals "
        "are strings at the store's scale; times are UTC.",
        {"external_refs": (list[ExternalRefOut], Field(description="Who knows it by which id."))},
        config=ConfigDict(json_schema_extra={"examples": [record_example]}),
    )
    upserted = _model(
        f"{name}Upserted",
        (record,),
        f"The {resource.title} after an upsert, and what the upsert did.",
        {
            "outcome": (
                Outcome,
                Field(description="`unchanged` also when the data was older than what is held."),
            )
        },
        config=ConfigDict(
            json_schema_extra={"examples": [{**record_example, "outcome": "updated"}]}
        ),
    )
    return Shapes(create, patch, upsert, record, upserted, _query_model(resource), record_example)


# ---------------------------------------------------------------------------- list queries
class ListQuery(Guarded):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=200, description="Items per page (1-200).")
    cursor: str = Field(
        None,  # type: ignore[assignment]
        pattern=CURSOR,
        description="`next_cursor` of the previous page; omit for the first.",
        examples=["0190f5d28c6e7b3a9d1e2f4a5b6c7d8e"],
        json_schema_extra=_no_null,
    )


_OP_DOC = {
    "eq": "equals",
    "prefix": "starts with (ignoring case)",
    "contains": "contains (ignoring case)",
    "from": "is on or after",
    "to": "is on or before",
}


def _query_model(resource: Resource) -> type[BaseModel]:
    spec = resource.spec
    fields: dict[str, tuple[Any, Any]] = {}
    for spec_filter in filters_of(spec):
        kind = _filter_type(spec, spec_filter)
        doc = f"Only records whose `{spec_filter.column}` {_OP_DOC[spec_filter.op]} this."
        example = resource.filter_examples.get(spec_filter.param)
        examples = None if example is None else [example]
        fields[spec_filter.param] = (
            kind,
            Field(None, description=doc, examples=examples, json_schema_extra=_no_null),
        )
    return _model(f"{resource.model_name}ListQuery", (ListQuery,), "", fields)


def _filter_type(spec: EntitySpec, spec_filter: Filter) -> Any:
    if spec_filter.param == "updated_since":
        return IsoDatetime
    if spec_filter.op in ("prefix", "contains"):
        return QueryText
    if spec_filter.op in ("from", "to"):
        return IsoDate
    base, _ = _base(spec.create.model_fields[spec_filter.column].annotation)
    if base is t.Uscc:
        return UsccQuery  # a search for a code with a wrong check character finds nothing
    if base is bool:
        return bool  # query text: true/false
    return api_annotation(spec.create, spec_filter.column)
