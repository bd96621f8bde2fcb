"""Reading canonical records for the API and the CLI: filtered, cursor-paged lists and
single records, each with its order lines and the external refs that point at it.

Every query names its tenant explicitly (these are Core statements, which the session's
tenant scoping does not rewrite). Lists are ordered by id: ids are time-ordered UUIDs,
so the cursor is the last id of the previous page and a page is one index range scan.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, select
from sqlalchemy.orm import Session

from core.model.entities import EntitySpec
from core.model.tables import Connection, ExternalRef, table_of
from core.store.tables import CHILD_PARENT_COLUMN, data_columns, table_for

Op = Literal["eq", "prefix", "contains", "from", "to"]
_XREF = table_of(ExternalRef)
_CONNECTION = table_of(Connection)


@dataclass(frozen=True, slots=True)
class Filter:
    """One list filter: query parameter `param` compares `column` by `op`.

    `from`/`to` are inclusive bounds; `prefix`/`contains` ignore case.
    """

    param: str
    column: str
    op: Op


def _eq(*columns: str) -> tuple[Filter, ...]:
    return tuple(Filter(c, c, "eq") for c in columns)


def _text(column: str) -> tuple[Filter, ...]:
    return (
        Filter(f"{column}_prefix", column, "prefix"),
        Filter(f"{column}_contains", column, "contains"),
    )


def _span(column: str) -> tuple[Filter, ...]:
    return (Filter(f"{column}_from", column, "from"), Filter(f"{column}_to", column, "to"))


UPDATED_SINCE = Filter("updated_since", "updated_at", "from")
"""Common to every entity: records changed at or after an instant (incremental reads)."""

FILTERS: dict[str, tuple[Filter, ...]] = {
    "account": (
        *_text("name"),
        *_eq("uscc", "industry", "lifecycle", "country", "province", "city", "district"),
        *_eq("parent_id", "owner_id"),
    ),
    "contact": (*_text("name"), *_eq("account_id", "email", "role", "stance", "owner_id")),
    "lead": (
        *_text("name"),
        *_text("company"),
        *_eq("email", "uscc", "industry", "source", "status", "country", "province", "city"),
        *_eq("owner_id"),
    ),
    "opportunity": (
        *_text("name"),
        *_eq("account_id", "stage", "status", "forecast_category", "currency", "owner_id"),
        *_span("close_date"),
    ),
    "product": (*_text("name"), *_eq("sku", "kind", "category", "active")),
    "order": (
        *_eq("number", "account_id", "opportunity_id", "status", "erp_status", "currency"),
        *_span("order_date"),
    ),
    "invoice": (
        *_eq("number", "fapiao_number", "account_id", "order_id", "status", "currency"),
        *_span("issue_date"),
        *_span("due_date"),
    ),
    "payment": (
        *_eq("reference", "account_id", "invoice_id", "status", "method", "currency"),
        *_span("received_on"),
    ),
}
"""The list filters of each entity (plus `updated_since`): indexed or low-cardinality
columns that callers select by."""


def filters_of(spec: EntitySpec) -> tuple[Filter, ...]:
    return (*FILTERS.get(spec.name, ()), UPDATED_SINCE)


def _condition(table: Table, spec_filter: Filter, value: Any) -> ColumnElement[bool]:
    column: ColumnElement[Any] = table.c[spec_filter.column]
    if spec_filter.op == "prefix":
        return column.istartswith(value, autoescape=True)
    if spec_filter.op == "contains":
        return column.icontains(value, autoescape=True)
    condition: ColumnElement[bool]
    if spec_filter.op == "from":
        condition = column >= value
    elif spec_filter.op == "to":
        condition = column <= value
    else:
        condition = column == value
    return condition


def list_records(
    session: Session,
    tenant_id: uuid.UUID,
    spec: EntitySpec,
    criteria: Mapping[str, Any],
    *,
    after: uuid.UUID | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Up to `limit` records after id `after` that meet every given criterion.

    `criteria` maps filter parameters (see `filters_of`) to values; None means unset.
    """
    table = table_for(spec)
    by_param = {f.param: f for f in filters_of(spec)}
    unknown = sorted(set(criteria) - set(by_param))
    if unknown:
        raise KeyError(f"unknown filters for {spec.name}: {', '.join(unknown)}")
    query = select(*_columns(spec, table)).where(table.c.tenant_id == tenant_id)
    for param, value in criteria.items():
        if value is not None:
            query = query.where(_condition(table, by_param[param], value))
    if after is not None:
        query = query.where(table.c.id > after)
    rows = [dict(r._mapping) for r in session.execute(query.order_by(table.c.id).limit(limit))]
    _attach(session, tenant_id, spec, rows)
    return [_exact(table, row) for row in rows]


def read_record(
    session: Session, tenant_id: uuid.UUID, spec: EntitySpec, record_id: uuid.UUID
) -> dict[str, Any] | None:
    """One record of the tenant with its children and external refs; None if unknown."""
    table = table_for(spec)
    row = session.execute(
        select(*_columns(spec, table)).where(
            table.c.tenant_id == tenant_id, table.c.id == record_id
        )
    ).first()
    if row is None:
        return None
    rows = [dict(row._mapping)]
    _attach(session, tenant_id, spec, rows)
    return _exact(table, rows[0])


def read_records(
    session: Session, tenant_id: uuid.UUID, spec: EntitySpec, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Records of the tenant by id, with children and external refs; unknown ids are
    left out. One query per table for the whole set."""
    if not ids:
        return {}
    table = table_for(spec)
    rows = [
        dict(r._mapping)
        for r in session.execute(
            select(*_columns(spec, table)).where(
                table.c.tenant_id == tenant_id, table.c.id.in_(list(ids))
            )
        )
    ]
    _attach(session, tenant_id, spec, rows)
    return {row["id"]: _exact(table, row) for row in rows}


def _columns(spec: EntitySpec, table: Table) -> list[ColumnElement[Any]]:
    names = ("id", *(c for c in data_columns(spec) if c not in spec.derived))
    return [*(table.c[n] for n in names), table.c.created_at, table.c.updated_at]


def _attach(
    session: Session, tenant_id: uuid.UUID, spec: EntitySpec, rows: list[dict[str, Any]]
) -> None:
    """Add child lines and external refs to records, one query each for the whole page."""
    if not rows:
        return
    ids = [row["id"] for row in rows]
    for child_field, child in spec.children.items():
        lines = load_children(session, tenant_id, child, ids)
        for row in rows:
            row[child_field] = lines.get(row["id"], [])
    refs = external_refs(session, tenant_id, spec.name, ids)
    for row in rows:
        row["external_refs"] = refs.get(row["id"], [])


def load_children(
    session: Session, tenant_id: uuid.UUID, child: EntitySpec, parent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Parent id -> its child lines in line order (data columns only)."""
    table = table_for(child)
    parent = table.c[CHILD_PARENT_COLUMN[child.name]]
    query = (
        select(parent, *(table.c[c] for c in data_columns(child)))
        .where(table.c.tenant_id == tenant_id, parent.in_(parent_ids))
        .order_by(parent, table.c.line_no, table.c.id)
    )
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in session.execute(query):
        values = _exact(table, dict(row._mapping))
        found.setdefault(values.pop(parent.name), []).append(values)
    return found


@cache
def _scales(table: Table) -> dict[str, Decimal]:
    scales = {c.name: getattr(c.type, "scale", None) for c in table.c}
    return {name: Decimal(1).scaleb(-s) for name, s in scales.items() if isinstance(s, int)}


def _exact(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Decimals at their column's scale, as PostgreSQL returns them (SQLite keeps the
    text it was given): `5000000.00` reads `5000000.0000` from either store."""
    for name, exponent in _scales(table).items():
        value = row.get(name)
        if isinstance(value, Decimal):
            row[name] = value.quantize(exponent)
    return row


def external_refs(
    session: Session, tenant_id: uuid.UUID, entity: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Record id -> which connection, source object and external id point at it."""
    query = (
        select(
            _XREF.c.entity_id,
            _XREF.c.connection_id,
            _CONNECTION.c.name.label("connection"),
            _XREF.c.object,
            _XREF.c.external_id,
            _XREF.c.source_ts,
            _XREF.c.updated_at,
        )
        .join(_CONNECTION, _CONNECTION.c.id == _XREF.c.connection_id)
        .where(
            _XREF.c.tenant_id == tenant_id,
            _XREF.c.entity == entity,
            _XREF.c.entity_id.in_(ids),
        )
        .order_by(_CONNECTION.c.name, _XREF.c.object, _XREF.c.external_id)
    )
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in session.execute(query):
        values = dict(row._mapping)
        found.setdefault(values.pop("entity_id"), []).append(values)
    return found
