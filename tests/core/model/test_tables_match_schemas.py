"""The ORM tables and the pydantic schemas describe the same fields."""

import typing

import pytest
from annotated_types import MaxLen
from sqlalchemy import String

from core.model.entities import ENTITIES
from core.store.tables import RECORD_TABLES, data_columns


def _max_length(annotation: typing.Any) -> int | None:
    """The max_length constraint in an annotation, searching Optional and Annotated."""
    if isinstance(annotation, MaxLen) or getattr(annotation, "max_length", None):
        return int(annotation.max_length)
    for arg in (*typing.get_args(annotation), *getattr(annotation, "__metadata__", ())):
        found = _max_length(arg)
        if found:
            return found
    return None


@pytest.mark.parametrize("name", [*sorted(ENTITIES), "order_line"])
def test_every_field_has_a_column_with_the_schema_length(name: str) -> None:
    spec = ENTITIES[name] if name in ENTITIES else ENTITIES["order"].children["lines"]
    table = RECORD_TABLES[name]
    for field in data_columns(spec):
        assert field in table.c, f"{name}.{field} has no column"
    for field, info in spec.create.model_fields.items():
        if field in spec.children:
            continue
        column_type = table.c[field].type
        limit = _max_length(info.annotation) or next(
            (n for n in map(_max_length, info.metadata) if n), None
        )
        if isinstance(column_type, String) and limit is not None:
            assert column_type.length == limit, (
                f"{name}.{field}: schema {limit}, column {column_type.length}"
            )


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_required_fields_are_not_nullable(name: str) -> None:
    spec = ENTITIES[name]
    table = RECORD_TABLES[name]
    for field in spec.required:
        assert not table.c[field].nullable, f"{name}.{field} is required but nullable"
