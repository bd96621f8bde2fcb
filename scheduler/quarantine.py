"""Quarantined records: find them, correct their payload, replay or discard them.

`l2c quarantine` and the API's /v1/quarantine call these, so both mean the same by
"replay": the open records run through their job's (possibly corrected) mappings —
the tenant's stored documents included — into the store; those still failing stay
open with their newest reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core.errors import ConflictError, NotFoundError
from core.model.tables import Quarantine, SyncJob
from core.store.quarantine import mark_resolved, set_payload
from core.sync.replay import replay_entries
from scheduler.jobs import mappers_by_stream
from scheduler.mapping_docs import stored_sources

STATUSES = ("open", "replayed", "discarded")


def quarantine_query(
    tenant_id: uuid.UUID,
    *,
    status: str | None = None,
    connection_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> Select[Quarantine]:
    query = select(Quarantine).where(Quarantine.tenant_id == tenant_id)
    if status is not None:
        query = query.where(Quarantine.status == status)
    if connection_id is not None:
        query = query.where(Quarantine.connection_id == connection_id)
    if job_id is not None:
        query = query.where(Quarantine.job_id == job_id)
    if reason is not None:
        query = query.where(Quarantine.reason == reason)
    return query


def get_entry(session: Session, tenant_id: uuid.UUID, entry_id: uuid.UUID) -> Quarantine:
    entry = session.get(Quarantine, entry_id)
    if entry is None or entry.tenant_id != tenant_id:
        raise NotFoundError(
            "no such quarantined record in this tenant",
            hint="list them with GET /v1/quarantine or `l2c quarantine list`",
        )
    return entry


def get_entries(
    session: Session, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> list[Quarantine]:
    """The entries with these ids, in that order; NotFoundError names the first missing."""
    found = {
        e.id: e
        for e in session.scalars(
            select(Quarantine).where(Quarantine.tenant_id == tenant_id, Quarantine.id.in_(ids))
        )
    }
    for entry_id in ids:
        if entry_id not in found:
            raise NotFoundError(
                f"no quarantined record {entry_id} in this tenant",
                hint="list them with GET /v1/quarantine",
            )
    return [found[i] for i in dict.fromkeys(ids)]


def _refuse_closed(entries: Sequence[Quarantine], doing: str) -> None:
    for entry in entries:
        if entry.status != "open":
            raise ConflictError(
                f"record {entry.id} is {entry.status}, not open",
                hint=f"only open records can be {doing}",
            )


def edit_payload(entry: Quarantine, payload: dict[str, Any]) -> None:
    """Correct an open record's raw payload before replaying it."""
    _refuse_closed([entry], "edited")
    set_payload(entry, payload)


def discard(session: Session, entries: Sequence[Quarantine]) -> None:
    """Give up on open records (kept for the record, no longer open)."""
    _refuse_closed(entries, "discarded")
    mark_resolved(session, [e.id for e in entries], "discarded")
    for entry in entries:
        session.refresh(entry)


@dataclass(slots=True)
class Replayed:
    replayed: list[uuid.UUID] = field(default_factory=list)
    still_bad: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    """(record id, why it still fails)."""
    not_open: list[uuid.UUID] = field(default_factory=list)
    """Asked for, but already replayed or discarded: left alone."""


def replay(session: Session, entries: Sequence[Quarantine]) -> Replayed:
    """Replay the open ones of `entries` through their job's mappings."""
    outcome = Replayed(not_open=[e.id for e in entries if e.status != "open"])
    by_job: dict[uuid.UUID | None, list[Quarantine]] = {}
    for entry in entries:
        if entry.status == "open":
            by_job.setdefault(entry.job_id, []).append(entry)
    for job_id, group in by_job.items():
        refs = list(session.get_one(SyncJob, job_id).mappings) if job_id else []
        mappers = mappers_by_stream(refs, stored_sources(session, group[0].tenant_id, refs))
        result = replay_entries(session, run_id=None, mappers=mappers, entries=group)
        outcome.replayed += result.replayed
        outcome.still_bad += result.still_bad
    return outcome
