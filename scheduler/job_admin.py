"""Changing sync jobs after they are defined, and looking up jobs and runs by id.

Defining a job is `scheduler.jobs.add_job`; both validate a job's mappings and streams
through `job_streams`, so a job that exists always compiles.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Final

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import ConfigError, ConflictError, NotFoundError
from core.model.tables import Connection, SyncJob, SyncRun
from core.store.state import reset_state
from scheduler.beat import set_schedule
from scheduler.connections import active_runs
from scheduler.mapping_docs import compile_refs, stored_sources

UNSET: Final = object()
"""`update_job(schedule=UNSET)` leaves the schedule alone; None removes it."""


def name_taken(name: str) -> ConflictError:
    return ConflictError(
        f"a job named {name!r} already exists", hint="pick another name", field="name"
    )


def job_streams(
    session: Session,
    tenant_id: uuid.UUID,
    refs: Sequence[str],
    streams: Sequence[str] | None,
    *,
    files: bool = True,
) -> list[str]:
    """Compile a job's mappings and return the streams it syncs: `streams` when given
    (each must be read by one of the mappings), else every stream the mappings read."""
    if not refs:
        raise ConfigError(
            "a job needs at least one mapping", hint="name a mapping", field="mappings"
        )
    stored = stored_sources(session, tenant_id, refs)
    read: set[str] = set()
    for index, ref in enumerate(refs):
        if ref in refs[:index]:
            raise ConfigError(
                f"mapping {ref!r} is listed twice", hint="list it once", field=f"mappings[{index}]"
            )
        try:
            read.add(compile_refs([ref], stored, files=files)[0].stream)
        except ConfigError as error:
            error.details.setdefault("field", f"mappings[{index}]")
            raise
    if streams is None:
        return sorted(read)
    if not streams:
        raise ConfigError(
            "a job needs at least one stream",
            hint="omit streams to sync every stream of its mappings",
            field="streams",
        )
    for index, stream in enumerate(streams):
        if stream not in read:
            raise ConfigError(
                f"no mapping of this job reads stream {stream!r}",
                hint=f"its mappings read: {', '.join(sorted(read))}",
                field=f"streams[{index}]",
            )
    return sorted(set(streams))


def get_job_by_id(session: Session, tenant_id: uuid.UUID, job_id: uuid.UUID) -> SyncJob:
    job = session.get(SyncJob, job_id)
    if job is None or job.tenant_id != tenant_id:
        raise NotFoundError(
            "no such sync job in this tenant", hint="list them with GET /v1/sync-jobs"
        )
    return job


def jobs_query(tenant_id: uuid.UUID, *, connection_id: uuid.UUID | None = None) -> Select[SyncJob]:
    query = select(SyncJob).where(SyncJob.tenant_id == tenant_id)
    if connection_id is not None:
        query = query.where(SyncJob.connection_id == connection_id)
    return query


def update_job(
    session: Session,
    job: SyncJob,
    *,
    name: str | None = None,
    mappings: Sequence[str] | None = None,
    streams: Sequence[str] | None = None,
    schedule: str | object | None = UNSET,
    enabled: bool | None = None,
    files: bool = True,
) -> SyncJob:
    """Change what is given. New mappings are compiled first; without new `streams` the
    job then syncs every stream they read. A new schedule takes effect at the next beat
    tick."""
    if name is not None and name != job.name:
        if session.scalar(
            select(SyncJob.id).where(SyncJob.tenant_id == job.tenant_id, SyncJob.name == name)
        ):
            raise name_taken(name)
        job.name = name
    if mappings is not None or streams is not None:
        refs = list(mappings) if mappings is not None else list(job.mappings)
        if job.kind == "writeback":
            from scheduler.jobs import check_writeback

            check_writeback(
                session.get_one(Connection, job.connection_id), refs, streams, files=files
            )
        else:
            job.streams = job_streams(session, job.tenant_id, refs, streams, files=files)
        job.mappings = refs
    if enabled is not None:
        job.enabled = enabled
    if schedule is not UNSET:
        assert schedule is None or isinstance(schedule, str)
        set_schedule(session, job, schedule)
    try:
        session.flush()
    except IntegrityError:
        raise name_taken(job.name) from None
    return job


def _refuse_if_active(session: Session, job: SyncJob, doing: str) -> None:
    busy = active_runs(session, [job.id])
    if busy:
        raise ConflictError(
            f"job {job.name!r} has a {busy[0].status} run ({busy[0].id})",
            hint=f"wait for it to finish, then {doing}",
        )


def delete_job(session: Session, job: SyncJob) -> None:
    """Delete a job with its runs and state (its quarantined records stay, unlinked)."""
    _refuse_if_active(session, job, "delete the job")
    session.delete(job)
    session.flush()


def reset_job_state(session: Session, job: SyncJob, stream: str | None = None) -> int:
    """Forget the job's bookmarks (of one stream, or all) so the next run reads
    everything again; unchanged records still cost no write. Refused during a run,
    whose next state would overwrite the reset."""
    _refuse_if_active(session, job, "reset it")
    return reset_state(session, job.id, stream)


def get_run_by_id(session: Session, tenant_id: uuid.UUID, run_id: uuid.UUID) -> SyncRun:
    run = session.get(SyncRun, run_id)
    if run is None or run.tenant_id != tenant_id:
        raise NotFoundError("no such run in this tenant", hint="list them with GET /v1/runs")
    return run


def runs_query(
    tenant_id: uuid.UUID, *, job_id: uuid.UUID | None = None, status: str | None = None
) -> Select[SyncRun]:
    query = select(SyncRun).where(SyncRun.tenant_id == tenant_id)
    if job_id is not None:
        query = query.where(SyncRun.job_id == job_id)
    if status is not None:
        query = query.where(SyncRun.status == status)
    return query
