"""Queries on external refs: what we already know of a batch, and reference resolution."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, any_, bindparam, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from core.model.tables import ExternalRef, table_of

T = TypeVar("T")
CHUNK = 2000
_xref = table_of(ExternalRef)


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def batches(session: Session, values: Sequence[T]) -> Iterator[Sequence[T]]:
    """How to split a batch for `member_of`: PostgreSQL takes it whole (one array
    parameter), SQLite in chunks (one parameter per value, and a limit on their number)."""
    if session.get_bind().dialect.name == "postgresql":
        if values:
            yield values
        return
    yield from chunks(values)


def member_of(
    session: Session, column: ColumnElement[Any], values: Sequence[Any]
) -> ColumnElement[bool]:
    """`column IN values`, as `= ANY(array)` on PostgreSQL: one bound parameter instead of
    thousands, about four times faster to send and plan."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


@dataclass(frozen=True, slots=True)
class Link:
    entity_id: uuid.UUID
    content_hash: bytes
    source_ts: datetime | None


def load_links(
    session: Session,
    connection_id: uuid.UUID,
    entity: str,
    object_: str,
    external_ids: Sequence[str],
) -> dict[str, Link]:
    """External id -> what the store holds for it, for one (connection, entity, object)."""
    found: dict[str, Link] = {}
    for chunk in batches(session, external_ids):
        rows = session.execute(
            select(_xref.c.external_id, _xref.c.entity_id, _xref.c.content_hash, _xref.c.source_ts)
            .where(_xref.c.connection_id == connection_id)
            .where(_xref.c.entity == entity)
            .where(_xref.c.object == object_)
            .where(member_of(session, _xref.c.external_id, chunk))
        ).all()
        for external_id, entity_id, content_hash, source_ts in rows:
            found[external_id] = Link(entity_id, bytes(content_hash), source_ts)
    return found


def load_hashes(
    session: Session,
    connection_id: uuid.UUID,
    entity: str,
    object_: str,
    external_ids: Sequence[str],
) -> dict[str, bytes]:
    """External id -> content hash the store holds (for skipping unchanged records)."""
    found: dict[str, bytes] = {}
    for chunk in batches(session, external_ids):
        rows = session.execute(
            select(_xref.c.external_id, _xref.c.content_hash)
            .where(_xref.c.connection_id == connection_id)
            .where(_xref.c.entity == entity)
            .where(_xref.c.object == object_)
            .where(member_of(session, _xref.c.external_id, chunk))
        ).all()
        found.update((external_id, bytes(digest)) for external_id, digest in rows)
    return found


def resolve(
    session: Session,
    connection_id: uuid.UUID,
    wanted: Iterable[tuple[str, str, str]],
) -> dict[tuple[str, str, str], uuid.UUID]:
    """(entity, object, external id) -> canonical id, for the ones that exist."""
    keys = sorted(set(wanted))
    resolved: dict[tuple[str, str, str], uuid.UUID] = {}
    for chunk in chunks(keys, 500):
        rows = session.execute(
            select(_xref.c.entity, _xref.c.object, _xref.c.external_id, _xref.c.entity_id)
            .where(_xref.c.connection_id == connection_id)
            .where(tuple_(_xref.c.entity, _xref.c.object, _xref.c.external_id).in_(chunk))
        )
        for entity, object_, external_id, entity_id in rows:
            resolved[(entity, object_, external_id)] = entity_id
    return resolved


def repoint(
    session: Session,
    tenant_id: uuid.UUID,
    entity: str,
    from_id: uuid.UUID,
    to_id: uuid.UUID,
    now: datetime,
) -> int:
    """Point every external ref of one record at another (a merge): later syncs of the
    old record's external ids then update the survivor. Returns how many moved.

    The key (connection, entity, object, external id) does not change, so this cannot
    clash with the survivor's own refs; the content hash stays, so re-reading an
    unchanged source record still writes nothing."""
    result = session.execute(
        update(_xref)
        .where(
            _xref.c.tenant_id == tenant_id,
            _xref.c.entity == entity,
            _xref.c.entity_id == from_id,
        )
        .values(entity_id=to_id, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
