"""Run lifecycle: one active run of a job at a time, heartbeats, recovery of dead runs.

A run is either started at once by the process that will execute it (the CLI), or
created 'queued' (by the API or the beat) and claimed later by a worker. A job has at
most one active — queued or running — run: every transition takes the job's row lock,
and a worker claims a queued run with a conditional UPDATE, so two workers handed the
same message cannot both run it.

A run killed with SIGKILL stays 'running' in the table. The next start recognises it as
dead — its process is gone (same host) or its heartbeat is older than the lease — marks
it 'abandoned' and goes on from the last committed state. A live run is a conflict.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ConflictError
from core.model.tables import SyncJob, SyncRun

if TYPE_CHECKING:
    from core.sync.engine import Counts

LEASE = timedelta(seconds=120)
"""A run on another host whose heartbeat is older than this is presumed dead."""
ACTIVE = ("queued", "running")
ABANDONED = "the process running it stopped without finishing; resumed by a later run"


class RunNotQueuedError(ConflictError):
    """The queued run to start is gone or was already taken (by another worker, or by a
    manual start): a redelivered message has nothing left to do."""


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_dead(run: SyncRun) -> bool:
    """Whether a 'running' run has no live process behind it."""
    host, _, pid = (run.worker or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return not _process_alive(int(pid))
    beat = run.heartbeat_at or run.started_at
    return utcnow() - beat > LEASE


def _process_alive(pid: int) -> bool:
    """Whether `pid` runs; a killed process whose parent has not reaped it yet (a zombie)
    does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no procfs (macOS): the signal check is all we have
    return state not in ("Z", "X")


def _lock_job(session: Session, job: SyncJob) -> None:
    """Serialise run transitions of one job (PostgreSQL; SQLite writers are serial)."""
    session.execute(select(SyncJob.id).where(SyncJob.id == job.id).with_for_update(key_share=True))


def abandon(run: SyncRun, reason: str = ABANDONED) -> None:
    run.status = "abandoned"
    run.finished_at = utcnow()
    run.error = reason


def _live_run(
    session: Session, job: SyncJob, *, exclude: uuid.UUID | None = None
) -> SyncRun | None:
    """Retire the job's dead running runs; return a live active one other than `exclude`."""
    active = session.scalars(
        select(SyncRun)
        .where(SyncRun.job_id == job.id, SyncRun.status.in_(ACTIVE))
        .order_by(SyncRun.started_at)
        .with_for_update()
    ).all()
    live = None
    for run in active:
        if run.id == exclude:
            continue
        if run.status == "running" and is_dead(run):
            abandon(run)
        elif live is None:
            live = run
    return live


def _busy(job: SyncJob, run: SyncRun) -> ConflictError:
    where = f" on {run.worker}" if run.status == "running" and run.worker else ""
    return ConflictError(
        f"job {job.name!r} already has a {run.status} run ({run.id}{where})",
        hint="a job runs one at a time: wait for that run to finish, then trigger again",
        run_id=str(run.id),
    )


def queue_run(session: Session, job: SyncJob, *, trigger: str) -> SyncRun:
    """Create a queued run of `job` for a worker to claim; refuse if one is active.

    `heartbeat_at` of a queued run is when its message was last published, so a lost
    message can be told from a run that merely waits its turn.
    """
    _lock_job(session, job)
    live = _live_run(session, job)
    if live is not None:
        raise _busy(job, live)
    now = utcnow()
    run = SyncRun(
        tenant_id=job.tenant_id,
        job_id=job.id,
        status="queued",
        trigger=trigger,
        started_at=now,
        heartbeat_at=now,
    )
    session.add(run)
    session.flush()
    return run


def start_run(
    session: Session, job: SyncJob, trigger: str = "manual", *, run_id: uuid.UUID | None = None
) -> SyncRun:
    """Mark a run of `job` running in this process, after retiring dead ones.

    With `run_id`, claim that queued run (RunNotQueuedError if it is gone or taken).
    Without, start a new run — or take over the job's queued run, so a job is never
    blocked by a queue that no worker reads. Any other live run is a conflict.
    """
    _lock_job(session, job)
    live = _live_run(session, job, exclude=run_id)
    if live is not None and live.status == "queued" and run_id is None:
        run_id, live = live.id, None
    if live is not None:
        raise _busy(job, live)
    now = utcnow()
    if run_id is None:
        run = SyncRun(
            tenant_id=job.tenant_id,
            job_id=job.id,
            status="running",
            trigger=trigger,
            worker=this_worker(),
            started_at=now,
            heartbeat_at=now,
        )
        session.add(run)
        session.flush()
        return run
    claimed: CursorResult[tuple[()]] = session.execute(  # type: ignore[assignment]
        update(SyncRun)
        .where(SyncRun.id == run_id, SyncRun.job_id == job.id, SyncRun.status == "queued")
        .values(status="running", worker=this_worker(), started_at=now, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise RunNotQueuedError(
            f"run {run_id} of job {job.name!r} is no longer queued",
            hint="another worker or a manual start took it; nothing to do",
            run_id=str(run_id),
        )
    return session.get_one(SyncRun, run_id, populate_existing=True)


def heartbeat(session: Session, run_id: uuid.UUID) -> bool:
    """Tell others this run's process is alive; False once the run is no longer running."""
    touched: CursorResult[tuple[()]] = session.execute(  # type: ignore[assignment]
        update(SyncRun)
        .where(SyncRun.id == run_id, SyncRun.status == "running")
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return touched.rowcount == 1


def finish_run(
    session: Session,
    run_id: uuid.UUID,
    *,
    error: BaseException | None = None,
    category: str | None = None,
) -> SyncRun:
    run = session.get_one(SyncRun, run_id)
    run.finished_at = utcnow()
    if error is not None:
        run.status = "failed"
        run.error = str(error)
        run.error_category = category or "bug"
    elif run.quarantined_count:
        run.status = "completed_with_errors"
    else:
        run.status = "completed"
    return run


def add_counts(run: SyncRun, counts: Counts) -> None:
    """Add a batch's counts to the run (in the batch's own transaction)."""
    run.read_count += counts.read
    run.inserted_count += counts.inserted
    run.updated_count += counts.updated
    run.unchanged_count += counts.unchanged
    run.skipped_count += counts.skipped
    run.quarantined_count += counts.quarantined
    run.heartbeat_at = utcnow()
