"""Singer state of a job, stored per stream so one stream can be reset alone.

A Singer STATE document looks like {"bookmarks": {stream: {...}}, ...}; each bookmark
is a row keyed (job, stream), other top-level keys go to the row with stream ''.
Written in the same transaction as the batch the state covers.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.model.tables import StreamState, table_of
from core.store.bulk import bulk_writer

_STATE = table_of(StreamState)
TAP_LEVEL = ""


def load_state(session: Session, job_id: uuid.UUID) -> dict[str, Any] | None:
    """The job's last committed state document, or None when it has never run."""
    rows = session.execute(
        select(_STATE.c.stream, _STATE.c.value).where(_STATE.c.job_id == job_id)
    ).all()
    if not rows:
        return None
    document: dict[str, Any] = {}
    bookmarks: dict[str, Any] = {}
    for stream, value in rows:
        if stream == TAP_LEVEL:
            document.update(value)
        else:
            bookmarks[stream] = value
    if bookmarks:
        document["bookmarks"] = bookmarks
    return document


def save_state(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    job_id: uuid.UUID,
    run_id: uuid.UUID | None,
    state: dict[str, Any],
) -> None:
    """Store a state document (streams absent from it keep their bookmark)."""
    bookmarks = state.get("bookmarks")
    rows: dict[str, Any] = {}
    if isinstance(bookmarks, dict):
        rows.update(bookmarks)
        rest = {k: v for k, v in state.items() if k != "bookmarks"}
    else:
        rest = dict(state)
    if rest:
        rows[TAP_LEVEL] = rest
    now = utcnow()
    bulk_writer(session).upsert(
        _STATE,
        ("job_id", "stream"),
        ("tenant_id", "value", "run_id", "updated_at"),
        [(job_id, stream, tenant_id, value, run_id, now) for stream, value in rows.items()],
    )


def reset_state(session: Session, job_id: uuid.UUID, stream: str | None = None) -> int:
    """Forget the bookmark of one stream (or all): the next run reads from the start."""
    statement = delete(_STATE).where(_STATE.c.job_id == job_id)
    if stream is not None:
        statement = statement.where(_STATE.c.stream == stream)
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount
