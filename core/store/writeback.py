"""The write-back queue of a job (`writeback_item`): what to write, what was written.

A pass of a write-back job (scheduler/writeback.py) works in three steps, each its own
transaction, so a crash at any instant loses nothing and writes nothing twice:

1. `collect`: change-log rows after the job's bookmark become items (one per record;
   the newest change wins) and the bookmark moves past them, in one transaction.
   Changes that came from the job's own connection are not collected (loop prevention:
   what SAP told us is not written back to SAP).
2. `due`: items to write now, oldest first.
3. `written` / `failed` / `retry_later` / `skipped`: the outcome of one write, with the
   remote id kept as an external ref in the same transaction.

Between the remote call and step 3 a crash leaves the item pending; the next pass calls
the writer again with the same idempotency key, and the writer finds what it created
(connectors/sdk/writer.py). Every statement names its tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.model.tables import ExternalRef, RecordChange, WritebackItem, table_of
from core.store.bulk import bulk_writer
from core.store.state import load_state, save_state

__all__ = [
    "STATUSES",
    "Due",
    "bookmark",
    "collect",
    "due",
    "failed",
    "list_items",
    "remote_ids",
    "retry",
    "retry_later",
    "skipped",
    "written",
]

_ITEMS = table_of(WritebackItem)
_CHANGES = table_of(RecordChange)
_XREF = table_of(ExternalRef)
STATUSES = ("pending", "written", "failed", "skipped", "dead")
BOOKMARK = "writeback_seq"
NO_HASH = bytes(16)
"""Content hash of an xref the write-back made: the inbound sync of the same object
then always re-reads what the system holds (it never equals a real record's hash)."""


def bookmark(session: Session, job_id: uuid.UUID) -> int:
    """The change-log seq the job has collected up to (0: never collected)."""
    state = load_state(session, job_id) or {}
    return int(state.get(BOOKMARK) or 0)


def collect(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    job_id: uuid.UUID,
    connection_id: uuid.UUID,
    entity: str,
    run_id: uuid.UUID | None,
    now: datetime | None = None,
    limit: int = 50_000,
) -> int:
    """Turn the entity's changes after the bookmark into pending items; return how many
    records they concern. Call repeatedly until it returns 0 for a large backlog."""
    now = now or utcnow()
    since = bookmark(session, job_id)
    newest = session.execute(
        select(func.max(_CHANGES.c.seq)).where(_CHANGES.c.tenant_id == tenant_id)
    ).scalar()
    rows = session.execute(
        select(_CHANGES.c.seq, _CHANGES.c.entity_id)
        .where(
            _CHANGES.c.tenant_id == tenant_id,
            _CHANGES.c.seq > since,
            _CHANGES.c.entity == entity,
            or_(_CHANGES.c.connection_id.is_(None), _CHANGES.c.connection_id != connection_id),
        )
        .order_by(_CHANGES.c.seq)
        .limit(limit)
    ).all()
    latest: dict[uuid.UUID, int] = {}
    for seq, record_id in rows:
        latest[record_id] = seq
    # a full page stops at its last row; otherwise everything up to the log's head was
    # seen, including the changes that were not collected (other entities, own connection)
    last = rows[-1][0] if rows else since
    reached = last if len(rows) == limit else max(int(newest or 0), last, since)
    if latest:
        bulk_writer(session).upsert(
            _ITEMS,
            ["job_id", "record_id"],
            [
                "tenant_id",
                "entity",
                "status",
                "change_seq",
                "attempts",
                "next_attempt_at",
                "last_error",
                "error_category",
                "created_at",
                "updated_at",
            ],
            [
                (job_id, record_id, tenant_id, entity, "pending", seq, 0, now, None, None, now, now)
                for record_id, seq in latest.items()
            ],
        )
    if reached != since:
        save_state(
            session, tenant_id=tenant_id, job_id=job_id, run_id=run_id, state={BOOKMARK: reached}
        )
    return len(latest)


@dataclass(frozen=True, slots=True)
class Due:
    """An item to write now."""

    id: int
    record_id: uuid.UUID
    attempts: int
    remote_id: str | None
    payload_hash: bytes | None


def due(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    job_id: uuid.UUID,
    now: datetime | None = None,
    exclude: Sequence[int] = (),
    limit: int = 100,
) -> list[Due]:
    """Pending items whose time has come, oldest first (one pass of a job runs at a time:
    the job's run lock, so no row locks are needed)."""
    query = select(
        _ITEMS.c.id,
        _ITEMS.c.record_id,
        _ITEMS.c.attempts,
        _ITEMS.c.remote_id,
        _ITEMS.c.payload_hash,
    ).where(
        _ITEMS.c.tenant_id == tenant_id,
        _ITEMS.c.job_id == job_id,
        _ITEMS.c.status == "pending",
        _ITEMS.c.next_attempt_at <= (now or utcnow()),
    )
    if exclude:
        query = query.where(_ITEMS.c.id.not_in(list(exclude)))
    rows = session.execute(query.order_by(_ITEMS.c.id).limit(limit)).all()
    return [Due(*row) for row in rows]


def remote_ids(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    connection_id: uuid.UUID,
    entity: str,
    ids: Sequence[Any],
    object: str | None = None,
) -> dict[uuid.UUID, str]:
    """Canonical id -> the external id the connection holds for it (of `object`, or of
    any object; the newest ref when several)."""
    if not ids:
        return {}
    query = select(_XREF.c.entity_id, _XREF.c.external_id).where(
        _XREF.c.tenant_id == tenant_id,
        _XREF.c.connection_id == connection_id,
        _XREF.c.entity == entity,
        _XREF.c.entity_id.in_(list(ids)),
    )
    if object is not None:
        query = query.where(_XREF.c.object == object)
    found: dict[uuid.UUID, str] = {}
    for entity_id, external_id in session.execute(query.order_by(_XREF.c.updated_at)):
        found[entity_id] = external_id
    return found


def written(
    session: Session,
    item: Due,
    *,
    tenant_id: uuid.UUID,
    connection_id: uuid.UUID,
    entity: str,
    object: str,
    remote_id: str,
    remote_status: str | None,
    payload_hash: bytes,
    now: datetime | None = None,
) -> None:
    """The system holds this version: keep its id as an external ref, close the item."""
    now = now or utcnow()
    bulk_writer(session).upsert(
        _XREF,
        ["connection_id", "entity", "object", "external_id"],
        ["tenant_id", "entity_id", "content_hash", "source_ts", "created_at", "updated_at"],
        [
            (
                connection_id,
                entity,
                object,
                remote_id,
                tenant_id,
                item.record_id,
                NO_HASH,
                None,
                now,
                now,
            )
        ],
    )
    _set(
        session,
        tenant_id,
        item.id,
        status="written",
        attempts=item.attempts + 1,
        remote_id=remote_id,
        remote_status=remote_status,
        payload_hash=payload_hash,
        last_error=None,
        error_category=None,
        written_at=now,
        updated_at=now,
    )


def failed(session: Session, item: Due, *, tenant_id: uuid.UUID, error: str, category: str) -> None:
    """The system refused this version (or it cannot be mapped): parked with the reason
    until the record changes or someone retries it."""
    _set(
        session,
        tenant_id,
        item.id,
        status="failed",
        attempts=item.attempts + 1,
        last_error=error[:4000],
        error_category=category,
        updated_at=utcnow(),
    )


def skipped(session: Session, item: Due, *, tenant_id: uuid.UUID, reason: str) -> None:
    """The mapping's `when` leaves the record out (or it was deleted): nothing to write."""
    _set(session, tenant_id, item.id, status="skipped", last_error=reason, updated_at=utcnow())


def retry_later(
    session: Session,
    item: Due,
    *,
    tenant_id: uuid.UUID,
    error: str,
    delay: timedelta | None,
) -> None:
    """A transient failure: try again after `delay`; None means retries ran out (dead)."""
    now = utcnow()
    values: dict[str, Any] = {
        "attempts": item.attempts + 1,
        "last_error": error[:4000],
        "error_category": "transient",
        "updated_at": now,
    }
    if delay is None:
        values["status"] = "dead"
    else:
        values["next_attempt_at"] = now + delay
    _set(session, tenant_id, item.id, **values)


def retry(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    job_id: uuid.UUID,
    ids: Sequence[int] | None = None,
    statuses: Sequence[str] = ("failed", "dead"),
) -> int:
    """Put failed/dead items (all, or `ids`) back to pending now; return how many."""
    query = update(_ITEMS).where(
        _ITEMS.c.tenant_id == tenant_id,
        _ITEMS.c.job_id == job_id,
        _ITEMS.c.status.in_(list(statuses)),
    )
    if ids is not None:
        query = query.where(_ITEMS.c.id.in_(list(ids)))
    now = utcnow()
    result: Any = session.execute(
        query.values(status="pending", attempts=0, next_attempt_at=now, updated_at=now)
    )
    return int(result.rowcount or 0)


def _set(session: Session, tenant_id: uuid.UUID, item_id: int, **values: Any) -> None:
    session.execute(
        update(_ITEMS)
        .where(and_(_ITEMS.c.tenant_id == tenant_id, _ITEMS.c.id == item_id))
        .values(**values)
    )


def list_items(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    job_id: uuid.UUID,
    status: str | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[WritebackItem]:
    """A job's items, oldest first (`after`: the last id of the previous page)."""
    query = select(WritebackItem).where(
        WritebackItem.tenant_id == tenant_id, WritebackItem.job_id == job_id
    )
    if status is not None:
        query = query.where(WritebackItem.status == status)
    if after is not None:
        query = query.where(WritebackItem.id > after)
    return list(session.scalars(query.order_by(WritebackItem.id).limit(limit)))
