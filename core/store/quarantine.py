"""Quarantine: bad records with why and their raw payload, until fixed and replayed.

A record re-read after a crash (or in every run until it is fixed) is recognised by its
payload hash and not stored twice while an open entry exists.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import DataError
from core.ids import new_id
from core.model.tables import Quarantine, table_of
from core.store.bulk import bulk_writer
from core.store.xref import chunks

_Q = table_of(Quarantine)
_COLUMNS = (
    "id",
    "tenant_id",
    "connection_id",
    "job_id",
    "run_id",
    "stream",
    "mapping",
    "external_id",
    "reason",
    "field",
    "message",
    "payload",
    "payload_hash",
    "status",
    "attempts",
    "created_at",
)


@dataclass(frozen=True, slots=True)
class Source:
    """Where quarantined records came from."""

    tenant_id: uuid.UUID
    connection_id: uuid.UUID | None
    job_id: uuid.UUID | None
    run_id: uuid.UUID | None


def payload_hash(payload: Any) -> bytes:
    body = orjson.dumps(payload, default=str, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(body, digest_size=16).digest()


def describe(error: DataError) -> str:
    return f"{error.message}; {error.hint}" if error.hint else error.message


def quarantine_records(
    session: Session,
    source: Source,
    *,
    stream: str,
    mapping: str | None,
    entries: Sequence[tuple[dict[str, Any], DataError, str | None]],
) -> int:
    """Store (payload, error, external id) entries; returns how many are new."""
    if not entries:
        return 0
    hashed = [(payload_hash([mapping, p]), p, e, x) for p, e, x in entries]
    already: set[bytes] = set()
    for chunk in chunks([h for h, *_ in hashed]):
        already.update(
            bytes(h)
            for h in session.scalars(
                select(_Q.c.payload_hash)
                .where(_Q.c.connection_id == source.connection_id)
                .where(_Q.c.status == "open")
                .where(_Q.c.payload_hash.in_(chunk))
            )
        )
    now = utcnow()
    rows = []
    for digest, payload, error, external_id in hashed:
        if digest in already:
            continue
        already.add(digest)
        rows.append(
            (
                new_id(),
                source.tenant_id,
                source.connection_id,
                source.job_id,
                source.run_id,
                stream,
                mapping,
                external_id,
                error.code,
                error.field,
                describe(error),
                payload,
                digest,
                "open",
                1,
                now,
            )
        )
    bulk_writer(session).insert(_Q, _COLUMNS, rows)
    return len(rows)


def open_entries(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    job_id: uuid.UUID | None = None,
    reason: str | None = None,
    limit: int | None = None,
) -> list[Quarantine]:
    query = (
        select(Quarantine)
        .where(Quarantine.tenant_id == tenant_id, Quarantine.status == "open")
        .order_by(Quarantine.created_at, Quarantine.id)
    )
    if job_id is not None:
        query = query.where(Quarantine.job_id == job_id)
    if reason is not None:
        query = query.where(Quarantine.reason == reason)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def mark_resolved(session: Session, ids: Sequence[uuid.UUID], status: str) -> None:
    if ids:
        session.execute(
            update(_Q).where(_Q.c.id.in_(ids)).values(status=status, resolved_at=utcnow())
        )


def record_failure(session: Session, entry: Quarantine, error: DataError) -> None:
    """A replay failed again: keep the entry open with the newest reason."""
    entry.reason = error.code
    entry.field = error.field
    entry.message = describe(error)
    entry.attempts += 1


def set_payload(entry: Quarantine, payload: dict[str, Any]) -> None:
    """Replace a record's raw payload with a corrected one, to replay it; the new hash
    lets the corrected record be recognised like any other."""
    entry.payload = payload
    entry.payload_hash = payload_hash([entry.mapping, payload])
