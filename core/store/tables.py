"""Which table stores which canonical entity, and the columns the store manages itself."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Table

from core.model import tables as t
from core.model.entities import EntitySpec
from core.model.tables import table_of

RECORD_TABLES: dict[str, Table] = {
    "account": table_of(t.Account),
    "contact": table_of(t.Contact),
    "lead": table_of(t.Lead),
    "opportunity": table_of(t.Opportunity),
    "product": table_of(t.Product),
    "order": table_of(t.Order),
    "order_line": table_of(t.OrderLine),
    "invoice": table_of(t.Invoice),
    "payment": table_of(t.Payment),
}

CHILD_PARENT_COLUMN = {"order_line": "order_id"}
"""Child entity -> the column that points at its parent."""

META_COLUMNS = ("source_ts", "field_ts", "field_owners", "updated_at")
"""Bookkeeping columns the store updates alongside the data columns."""


def table_for(spec: EntitySpec) -> Table:
    return RECORD_TABLES[spec.name]


@cache
def data_columns(spec: EntitySpec) -> tuple[str, ...]:
    """Columns holding canonical values: schema fields (minus child lists) + derived."""
    return (*(f for f in spec.fields if f not in spec.children), *spec.derived)
