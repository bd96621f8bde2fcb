"""Canonical records out as Singer streams, incrementally (`l2c singer tap`).

The bookmark of an entity is a change-log `seq`. A first run emits every record and
bookmarks the log's head as it was when the run started; later runs emit the records
changed since (each once, in its current version). Writers append to the log under a
per-tenant lock held until commit, so no change can appear behind a bookmark.
"""

from __future__ import annotations

import types
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.model.entities import EntitySpec, entity
from core.model.tables import RecordChange, table_of
from core.store.tables import CHILD_PARENT_COLUMN, data_columns, table_for
from core.store.xref import chunks

_LOG = table_of(RecordChange)
EXPORT_CHUNK = 1000


def singer_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A plain Singer JSON schema (type lists, no anyOf) for a read model."""
    properties = {name: _schema_of(info.annotation) for name, info in model.model_fields.items()}
    return {"type": "object", "properties": properties}


_SIMPLE: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    bool: {"type": "boolean"},
    Decimal: {"type": "number"},
    date: {"type": "string", "format": "date"},
    datetime: {"type": "string", "format": "date-time"},
    uuid.UUID: {"type": "string", "format": "uuid"},
}


def _schema_of(annotation: Any) -> dict[str, Any]:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _schema_of(args[0])
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        schema = dict(_schema_of(options[0]))
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if origin is Literal:
        return {"type": "string", "enum": list(args)}
    if origin is list:
        return {"type": "array", "items": singer_schema(args[0])}
    if annotation in _SIMPLE:
        return dict(_SIMPLE[annotation])
    if annotation is AwareDatetime:
        return dict(_SIMPLE[datetime])
    raise TypeError(f"no Singer schema for {annotation!r}")


def export_messages(
    session: Session,
    tenant_id: uuid.UUID,
    entities: Sequence[str],
    state: dict[str, Any] | None,
) -> Iterator[dict[str, Any]]:
    """SCHEMA, RECORD and STATE messages for `entities`, from `state` on."""
    bookmarks: dict[str, Any] = dict((state or {}).get("bookmarks") or {})
    head = session.scalar(select(func.max(_LOG.c.seq)).where(_LOG.c.tenant_id == tenant_id)) or 0
    for name in entities:
        spec = entity(name)
        assert spec.read is not None
        yield {
            "type": "SCHEMA",
            "stream": name,
            "schema": singer_schema(spec.read),
            "key_properties": ["id"],
        }
        since = (bookmarks.get(name) or {}).get("seq")
        for ids in _changed_ids(session, tenant_id, spec, since, head):
            for record in _load(session, spec, ids):
                yield {"type": "RECORD", "stream": name, "record": record}
        bookmarks[name] = {"seq": head}
        yield {"type": "STATE", "value": {"bookmarks": dict(bookmarks)}}


def _changed_ids(
    session: Session, tenant_id: uuid.UUID, spec: EntitySpec, since: int | None, head: int
) -> Iterator[Sequence[uuid.UUID]]:
    if since is not None:
        query = (
            select(_LOG.c.entity_id)
            .where(_LOG.c.tenant_id == tenant_id, _LOG.c.entity == spec.name)
            .where(_LOG.c.seq > since, _LOG.c.seq <= head)
            .group_by(_LOG.c.entity_id)
            .order_by(func.min(_LOG.c.seq))
        )
        yield from chunks(list(session.scalars(query)), EXPORT_CHUNK)
        return
    table = table_for(spec)  # first run: every record, paged by id (keyset, constant memory)
    after: uuid.UUID | None = None
    while True:
        query = select(table.c.id).where(table.c.tenant_id == tenant_id)
        if after is not None:
            query = query.where(table.c.id > after)
        page = list(session.scalars(query.order_by(table.c.id).limit(EXPORT_CHUNK)))
        if not page:
            return
        yield page
        after = page[-1]


def _load(session: Session, spec: EntitySpec, ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    table = table_for(spec)
    fields = [f for f in spec.fields if f not in spec.children]
    columns = [table.c.id, table.c.created_at, table.c.updated_at, *(table.c[f] for f in fields)]
    rows = {
        row.id: dict(row._mapping)
        for row in session.execute(select(*columns).where(table.c.id.in_(ids)))
    }
    for child_field, child in spec.children.items():
        child_table = table_for(child)
        parent = child_table.c[CHILD_PARENT_COLUMN[child.name]]
        for record in rows.values():
            record[child_field] = []
        query = (
            select(parent, *(child_table.c[c] for c in data_columns(child)))
            .where(parent.in_(ids))
            .order_by(child_table.c.line_no)
        )
        for line in session.execute(query):
            values = dict(line._mapping)
            rows[values.pop(parent.name)][child_field].append(values)
    return [rows[i] for i in ids if i in rows]


__all__ = ["export_messages", "singer_schema"]
