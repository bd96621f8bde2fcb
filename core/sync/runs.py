"""Run lifecycle: one run of a job at a time, heartbeats, and recovery of dead runs.

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

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ConflictError
from core.model.tables import SyncJob, SyncRun

if TYPE_CHECKING:
    from core.sync.engine import Counts

LEASE = timedelta(seconds=120)


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_dead(run: SyncRun) -> bool:
    """Whether a 'running' run has no live process behind it."""
    host, _, pid = (run.worker or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    beat = run.heartbeat_at or run.started_at
    return utcnow() - beat > LEASE


def start_run(session: Session, job: SyncJob, trigger: str = "manual") -> SyncRun:
    """Create a running run for `job`, after retiring dead ones; refuse if one is alive."""
    running = session.scalars(
        select(SyncRun)
        .where(SyncRun.job_id == job.id, SyncRun.status == "running")
        .with_for_update()
    ).all()
    for run in running:
        if not is_dead(run):
            raise ConflictError(
                f"job {job.name!r} is already running (run {run.id} on {run.worker})",
                hint="wait for it to finish, or stop that process",
            )
        run.status = "abandoned"
        run.finished_at = utcnow()
        run.error = "the process running it stopped without finishing; resumed by a later run"
    now = utcnow()
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
