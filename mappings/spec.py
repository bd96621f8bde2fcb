"""The mapping document (version 1) as a strict pydantic model.

This model checks the document's shape only: which keys exist and what kind of value
each holds. Whether a field exists on the target entity, a transform name is known or a
JMESPath parses is checked by the compiler, which knows the entity and the registry.

`mappings/schema.json` is generated from this model (plus the transform registry) by
mappings/schema.py, for editors with YAML schema support.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    WithJsonSchema,
    field_validator,
)

from core.model.entities import ENTITIES
from mappings.transforms.dates import zone


def _expressions(value: Any) -> str | list[str]:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return value
    raise ValueError("expected an expression or a non-empty list of expressions")


def _pipeline(value: Any) -> list[Any]:
    # Steps are checked one by one by the compiler against the registry, so that one bad
    # step does not hide the problems of the others.
    return value if isinstance(value, list) else [value]


_EXPRESSION_SCHEMA = {"type": "string", "minLength": 1, "description": "JMESPath expression"}
# pydantic resolves "$ref"s it did not make, so steps carry a marker that
# mappings/schema.py swaps for a reference to the registry-built $defs/Transform.
STEP_MARKER = {"$comment": "transform-step"}

Expression = Annotated[str, Field(min_length=1, description="JMESPath expression")]
Expressions = Annotated[
    str | list[str],
    PlainValidator(_expressions),
    WithJsonSchema(
        {
            "anyOf": [
                _EXPRESSION_SCHEMA,
                {"type": "array", "items": _EXPRESSION_SCHEMA, "minItems": 1},
            ]
        }
    ),
]
Pipeline = Annotated[
    list[Any],
    PlainValidator(_pipeline),
    WithJsonSchema({"anyOf": [STEP_MARKER, {"type": "array", "items": STEP_MARKER}]}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True
    )


class FromField(_Strict):
    """A value read from the record. A list of expressions gives the pipeline a list.

    `default` is written like a source value: it goes through the transforms (once, when
    the mapping is compiled) and is used whenever the result is null.
    """

    from_: Expressions = Field(alias="from")
    transform: Pipeline = Field(default_factory=list)
    default: Any = None


class ConstField(_Strict):
    """The same value for every record."""

    const: Any


class KeyFrom(_Strict):
    """An external id read through transforms; the transforms apply to each key part."""

    from_: Expressions = Field(alias="from")
    transform: Pipeline = Field(default_factory=list)


def _key_form(value: Any) -> str | None:
    if isinstance(value, str | list):
        return "key:expressions"
    return "key:from" if isinstance(value, Mapping) else None


Key = Annotated[
    Annotated[Expressions, Tag("key:expressions")] | Annotated[KeyFrom, Tag("key:from")],
    Discriminator(
        _key_form,
        custom_error_type="key_form",
        custom_error_message="a key is an expression, a list of them, or {from, transform}",
    ),
]


class RefTarget(_Strict):
    """Another record of the same connection: its source object and external id.

    `key` and `transform` must spell the id exactly as the other mapping's `key` does.
    """

    object: Annotated[str, Field(min_length=1)]
    key: Expressions
    transform: Pipeline = Field(default_factory=list)


class RefField(_Strict):
    """A reference field, resolved by the sync engine through the external ids."""

    ref: RefTarget


class EachField(_Strict):
    """A child collection: one child record per element of the list `each` yields."""

    each: Expression
    fields: Annotated[dict[str, FieldSpec], Field(min_length=1)]


TAGS = frozenset(
    {
        "field:expression",
        "field:from",
        "field:const",
        "field:ref",
        "field:each",
        "key:expressions",
        "key:from",
    }
)
_FORMS = (
    ("each", "field:each"),
    ("ref", "field:ref"),
    ("const", "field:const"),
    ("from", "field:from"),
)


def _field_form(value: Any) -> str | None:
    if isinstance(value, str):
        return "field:expression"
    if isinstance(value, Mapping):
        return next((tag for key, tag in _FORMS if key in value), None)
    return None


def _ts_form(value: Any) -> str | None:
    form = _field_form(value)
    return form if form in ("field:expression", "field:from") else None


FieldSpec = Annotated[
    Annotated[str, Tag("field:expression"), Field(min_length=1)]
    | Annotated[FromField, Tag("field:from")]
    | Annotated[ConstField, Tag("field:const")]
    | Annotated[RefField, Tag("field:ref")]
    | Annotated[EachField, Tag("field:each")],
    Discriminator(
        _field_form,
        custom_error_type="field_form",
        custom_error_message="a field is an expression, or a mapping with from, const, ref or each",
    ),
]
SourceTs = Annotated[
    Annotated[str, Tag("field:expression"), Field(min_length=1)]
    | Annotated[FromField, Tag("field:from")],
    Discriminator(
        _ts_form,
        custom_error_type="field_form",
        custom_error_message="source_ts is an expression or a mapping with from (and transform)",
    ),
]
EachField.model_rebuild()


class SourceSpec(_Strict):
    """Where records come from; `object` is the external-id namespace (default: stream)."""

    connector: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    stream: Annotated[str, Field(min_length=1)]
    object: Annotated[str, Field(min_length=1)] | None = None


class Options(_Strict):
    """Document-wide defaults."""

    empty_as_null: bool = True
    """'' becomes null before and after the transforms (CSV cells are never missing, only empty)."""
    timezone: str = "UTC"
    """Zone of naive datetimes when a transform names none."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value


class MappingSpec(_Strict):
    """An inbound mapping: one source stream -> one canonical entity."""

    version: Literal[1]
    description: str | None = None
    source: SourceSpec
    target: Annotated[str, Field(json_schema_extra={"enum": sorted(ENTITIES)})]
    key: Key
    source_ts: SourceTs | None = None
    when: Expression | None = None
    match: list[str] = Field(default_factory=list)
    owns: list[str] = Field(default_factory=list)
    options: Options = Field(default_factory=Options)
    fields: Annotated[dict[str, FieldSpec], Field(min_length=1)]

    @property
    def source_object(self) -> str:
        return self.source.object or self.source.stream


def _keys_of(*models: type[BaseModel]) -> frozenset[str]:
    return frozenset(f.alias or name for m in models for name, f in m.model_fields.items())


DOCUMENT_KEYS = _keys_of(
    MappingSpec, SourceSpec, Options, FromField, ConstField, RefField, RefTarget, EachField, KeyFrom
)
"""Every key the document language has (for 'did you mean')."""
