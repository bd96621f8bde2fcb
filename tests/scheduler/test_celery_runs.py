"""Queued runs: one active run per job, and a queued run is started by exactly one
worker — also when two workers take it at the same instant on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.errors import ConflictError
from core.model.tables import SyncJob, SyncRun
from core.sync.runs import RunNotQueuedError, queue_run, start_run, this_worker


def _job(session: Session, job: SyncJob) -> SyncJob:
    return session.get_one(SyncJob, job.id)


def _queue(sessions: sessionmaker[Session], job: SyncJob) -> uuid.UUID:
    with sessions.begin() as session:
        return queue_run(session, _job(session, job), trigger="api").id


def _statuses(sessions: sessionmaker[Session], job: SyncJob) -> list[tuple[str, str]]:
    with sessions() as session:
        return [
            (r.status, r.trigger)
            for r in session.scalars(
                select(SyncRun).where(SyncRun.job_id == job.id).order_by(SyncRun.started_at)
            )
        ]


def test_a_queued_run_waits_for_a_worker(sessions, job) -> None:
    run_id = _queue(sessions, job)
    with sessions() as session:
        run = session.get_one(SyncRun, run_id)
        assert (run.status, run.trigger, run.worker) == ("queued", "api", None)
        assert run.heartbeat_at is not None  # when its message was published


def test_a_job_with_a_queued_run_refuses_another(sessions, job) -> None:
    first = _queue(sessions, job)
    with pytest.raises(ConflictError, match="already has a queued run") as refused:
        _queue(sessions, job)
    assert str(first) in refused.value.message
    assert refused.value.details["run_id"] == str(first)
    assert _statuses(sessions, job) == [("queued", "api")]


def test_a_job_with_a_live_running_run_refuses_to_queue(sessions, job) -> None:
    with sessions.begin() as session:
        running = start_run(session, _job(session, job))
    with pytest.raises(ConflictError, match=f"running run \\({running.id} on {this_worker()}"):
        _queue(sessions, job)


def test_queueing_retires_a_dead_run_first(sessions, job) -> None:
    with sessions.begin() as session:
        long_ago = utcnow() - timedelta(hours=1)
        session.add(
            SyncRun(
                tenant_id=job.tenant_id,
                job_id=job.id,
                status="running",
                worker="another-host:4242",
                started_at=long_ago,
                heartbeat_at=long_ago,
            )
        )
    _queue(sessions, job)
    assert _statuses(sessions, job) == [("abandoned", "manual"), ("queued", "api")]


def test_a_worker_claims_the_queued_run(sessions, job) -> None:
    run_id = _queue(sessions, job)
    with sessions.begin() as session:
        run = start_run(session, _job(session, job), "api", run_id=run_id)
        assert (run.id, run.status, run.worker) == (run_id, "running", this_worker())


def test_a_redelivered_message_finds_its_run_taken(sessions, job) -> None:
    run_id = _queue(sessions, job)
    with sessions.begin() as session:
        start_run(session, _job(session, job), run_id=run_id)
    with sessions.begin() as session, pytest.raises(RunNotQueuedError, match="no longer queued"):
        start_run(session, _job(session, job), run_id=run_id)


def test_a_manual_start_takes_over_the_queued_run(sessions, job) -> None:
    """A job is never blocked by a queue that no worker reads."""
    run_id = _queue(sessions, job)
    with sessions.begin() as session:
        run = start_run(session, _job(session, job), "manual")
        assert run.id == run_id
    assert _statuses(sessions, job) == [("running", "api")]
    with sessions.begin() as session, pytest.raises(RunNotQueuedError):
        start_run(session, _job(session, job), run_id=run_id)


def _race(
    sessions: sessionmaker[Session], attempt: Callable[[Session], object], contenders: int = 4
) -> tuple[int, list[BaseException]]:
    """Run `attempt` in `contenders` threads released at the same instant."""
    barrier = threading.Barrier(contenders)
    wins: list[object] = []
    losses: list[BaseException] = []

    def contender() -> None:
        barrier.wait()
        try:
            with sessions.begin() as session:
                wins.append(attempt(session))
        except BaseException as error:  # collected and asserted by the test
            losses.append(error)

    threads = [threading.Thread(target=contender) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return len(wins), losses


@pytest.mark.parametrize("rounds", [5])
def test_workers_taking_the_same_queued_run_at_once_start_it_once(sessions, job, rounds) -> None:
    for _ in range(rounds):
        run_id = _queue(sessions, job)
        wins, losses = _race(
            sessions,
            lambda session, run_id=run_id: start_run(session, _job(session, job), run_id=run_id),
        )
        assert wins == 1
        assert losses and all(isinstance(e, RunNotQueuedError) for e in losses), losses
        with sessions.begin() as session:
            run = session.get_one(SyncRun, run_id)
            assert run.status == "running"
            run.status = "completed"


def test_callers_queueing_the_same_job_at_once_queue_it_once(sessions, job) -> None:
    wins, losses = _race(
        sessions, lambda session: queue_run(session, _job(session, job), trigger="api")
    )
    assert wins == 1
    assert losses and all(type(e) is ConflictError for e in losses), losses
    with sessions() as session:
        active = session.scalar(
            select(func.count()).select_from(SyncRun).where(SyncRun.job_id == job.id)
        )
    assert active == 1
