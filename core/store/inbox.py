"""The webhook inbox, store side: verified events go in with one multi-row statement
per batch, and each comes back marked new or a redelivery.

Uniqueness is the table's (connection_id, event_id) constraint, so a redelivery racing
its original — in the same batch, another batch or another process — still makes
exactly one row; `INSERT … ON CONFLICT DO NOTHING RETURNING id` says which rows this
statement created, and one lookup finds the rows the others already point to.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect

from core.clock import utcnow
from core.ids import new_id
from core.model.tables import InboxEvent, table_of

INBOX = table_of(InboxEvent)
MAX_EVENT_ID = 255
"""Length of inbox_event.event_id (and stream); longer ids are refused before the insert."""
_LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A verified event on its way into the inbox."""

    tenant_id: uuid.UUID
    connection_id: uuid.UUID
    event_id: str
    stream: str | None
    payload: bytes


@dataclass(frozen=True, slots=True)
class Stored:
    """Where an event ended up: its inbox row, and whether that row was already there."""

    id: uuid.UUID
    duplicate: bool


_COLUMNS = "id, tenant_id, connection_id, event_id, stream, payload, received_at, status, attempts"
_PG_INSERT = f"""
INSERT INTO inbox_event ({_COLUMNS})
SELECT u.id, u.tenant_id, u.connection_id, u.event_id, u.stream, u.payload, %b, 'pending', 0
FROM unnest(%b::uuid[], %b::uuid[], %b::uuid[], %b::text[], %b::text[], %b::bytea[])
    AS u(id, tenant_id, connection_id, event_id, stream, payload)
ON CONFLICT (connection_id, event_id) DO NOTHING
RETURNING id
"""  # noqa: S608 - constant text, values are parameters
"""Binary parameters (`%b`): psycopg's text format would hex-encode every payload and
regex-escape every string of the arrays, in Python, on the writer thread."""


def insert_events(
    connection: Connection, events: Sequence[NewEvent], now: datetime | None = None
) -> list[Stored]:
    """Insert `events` in the caller's SQLAlchemy transaction; one `Stored` per event,
    in order. Nothing here commits."""
    driver = connection.connection.driver_connection
    return _insert(driver, connection.dialect, events, now or utcnow())


def insert_events_now(
    driver: Any, dialect: Dialect, events: Sequence[NewEvent], now: datetime | None = None
) -> list[Stored]:
    """Insert `events` durably on a driver connection in autocommit mode: the insert is
    one statement, hence its own transaction — committed (or not at all) on return.

    This is the group-commit writer's path: one round trip per batch on PostgreSQL (no
    BEGIN, no separate COMMIT), one C call on SQLite. Both drivers release the GIL while
    the database works, so the event loop keeps serving meanwhile.
    """
    if dialect.name == "sqlite" and len(events) > _SQLITE_ROWS:  # several statements
        driver.execute("BEGIN IMMEDIATE")
        try:
            stored = _insert(driver, dialect, events, now or utcnow())
        except BaseException:
            driver.rollback()
            raise
        driver.commit()
        return stored
    return _insert(driver, dialect, events, now or utcnow())


def _insert(
    driver: Any, dialect: Dialect, events: Sequence[NewEvent], now: datetime
) -> list[Stored]:
    """The statement goes straight to the driver (one `unnest` insert on PostgreSQL, one
    multi-row VALUES on SQLite): through SQLAlchemy's executemany it cost 24-50 µs of
    Python per row, on the thread that competes with the event loop for the GIL."""
    if not events:
        return []
    first: dict[tuple[uuid.UUID, str], int] = {}
    fresh: list[NewEvent] = []
    ids: list[uuid.UUID] = []
    for index, event in enumerate(events):
        key = (event.connection_id, event.event_id)
        if key in first:
            ids.append(ids[first[key]])  # a redelivery within this very batch
            continue
        first[key] = index
        ids.append(new_id())
        fresh.append(event)
    fresh_ids = [ids[i] for i in first.values()]
    if dialect.name == "postgresql":
        inserted = _insert_postgres(driver, fresh, fresh_ids, now)
    else:
        inserted = _insert_sqlite(driver, dialect, fresh, fresh_ids, now)
    missing = [key for key, i in first.items() if ids[i] not in inserted]
    existing = _existing_ids(driver, dialect, missing) if missing else {}
    results: list[Stored] = []
    claimed: set[uuid.UUID] = set()
    for index, event in enumerate(events):
        row_id = ids[index]
        if row_id in inserted and row_id not in claimed:
            claimed.add(row_id)
            results.append(Stored(row_id, duplicate=False))
        elif row_id in inserted:
            results.append(Stored(row_id, duplicate=True))
        else:
            results.append(Stored(existing[(event.connection_id, event.event_id)], duplicate=True))
    return results


def _insert_postgres(
    driver: Any, events: Sequence[NewEvent], ids: Sequence[uuid.UUID], now: datetime
) -> set[uuid.UUID]:
    params = (
        now,
        list(ids),
        [e.tenant_id for e in events],
        [e.connection_id for e in events],
        [e.event_id for e in events],
        [e.stream for e in events],
        [e.payload for e in events],
    )
    with driver.cursor() as cursor:
        cursor.execute(_PG_INSERT, params, prepare=True)
        return {row[0] for row in cursor.fetchall()}


def _same(value: Any) -> Any:
    return value


_SQLITE_ROWS = 3000
"""Rows per statement: 9 parameters each stays under SQLite's 32,766 variables."""


def _insert_sqlite(
    driver: Any,
    dialect: Dialect,
    events: Sequence[NewEvent],
    ids: Sequence[uuid.UUID],
    now: datetime,
) -> set[uuid.UUID]:
    """Values in the very formats SQLAlchemy's column types write (read back by the ORM)."""
    as_uuid: Callable[[Any], Any] = INBOX.c.id.type.bind_processor(dialect) or _same
    as_time: Callable[[Any], Any] = INBOX.c.received_at.type.bind_processor(dialect) or _same
    stamp = as_time(now)
    inserted: set[uuid.UUID] = set()
    for start in range(0, len(events), _SQLITE_ROWS):
        chunk = range(start, min(len(events), start + _SQLITE_ROWS))
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, 'pending', 0)"] * len(chunk))
        params: list[Any] = []
        for i in chunk:
            event = events[i]
            params += (
                as_uuid(ids[i]),
                as_uuid(event.tenant_id),
                as_uuid(event.connection_id),
                event.event_id,
                event.stream,
                event.payload,
                stamp,
            )
        sql = (
            f"INSERT INTO inbox_event ({_COLUMNS}) VALUES {values} "  # noqa: S608 - placeholders
            "ON CONFLICT (connection_id, event_id) DO NOTHING RETURNING id"
        )
        rows = driver.execute(sql, params).fetchall()
        inserted.update(uuid.UUID(hex=row[0]) for row in rows)
    return inserted


def _existing_ids(
    driver: Any, dialect: Dialect, keys: Sequence[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
    """Row ids of events that were in the inbox before this statement."""
    by_connection: dict[uuid.UUID, list[str]] = {}
    for connection_id, event_id in keys:
        by_connection.setdefault(connection_id, []).append(event_id)
    found: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    for connection_id, event_ids in by_connection.items():
        for start in range(0, len(event_ids), _LOOKUP_CHUNK):
            chunk = event_ids[start : start + _LOOKUP_CHUNK]
            if dialect.name == "postgresql":
                with driver.cursor() as cursor:
                    cursor.execute(
                        "SELECT id, event_id FROM inbox_event "
                        "WHERE connection_id = %s AND event_id = ANY(%s)",
                        (connection_id, chunk),
                    )
                    rows = cursor.fetchall()
            else:
                marks = ", ".join("?" * len(chunk))
                rows = driver.execute(
                    "SELECT id, event_id FROM inbox_event "  # noqa: S608 - placeholders
                    f"WHERE connection_id = ? AND event_id IN ({marks})",
                    (connection_id.hex, *chunk),
                ).fetchall()
            for row_id, event_id in rows:
                as_id = row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(hex=row_id)
                found[(connection_id, event_id)] = as_id
    return found
