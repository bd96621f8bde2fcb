"""The tasks are thin and idempotent: a redelivered message does nothing twice."""

from __future__ import annotations

import sys
import types
import uuid

import pytest
from sqlalchemy import select

from core.model.tables import SyncJob, SyncRun
from scheduler import tasks
from scheduler.queue import trigger_run


@pytest.fixture
def worker_sessions(sessions, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The tasks' session factory is the test database's."""
    monkeypatch.setattr(tasks, "sessions", lambda: sessions)
    return sessions


def test_run_sync_executes_the_queued_run_once(worker_sessions, csv_job, broker) -> None:
    with worker_sessions.begin() as session:
        run = trigger_run(session, session.get_one(SyncJob, csv_job.id))
    ((name, args, _),) = broker.sent
    assert name == "l2c.run_sync"
    assert tasks.run_sync(*args) == "completed"
    assert tasks.run_sync(*args) == "skipped"  # the same message delivered again
    with worker_sessions() as session:
        done = session.get_one(SyncRun, run.id)
        assert (done.status, done.read_count, done.inserted_count) == ("completed", 25, 25)
        assert len(session.scalars(select(SyncRun)).all()) == 1


def test_run_sync_of_a_deleted_run_does_nothing(worker_sessions, tenant) -> None:
    assert tasks.run_sync(str(uuid.uuid4())) == "skipped"


def test_dispatch_outbox_drains_batch_after_batch(monkeypatch, worker_sessions) -> None:
    import scheduler.outbox

    claims = iter([100, 100, 7, 0])
    calls = []

    def dispatch_due(sessions):  # type: ignore[no-untyped-def]
        calls.append(sessions)
        return types.SimpleNamespace(claimed=next(claims))

    monkeypatch.setattr(scheduler.outbox, "dispatch_due", dispatch_due)
    assert tasks.dispatch_outbox() == 207
    assert calls == [worker_sessions] * 4


def test_process_inbox_hands_over_the_connection_id(monkeypatch, worker_sessions) -> None:
    seen = []
    fake = types.ModuleType("scheduler.inbox")
    fake.process_pending = lambda sessions, connection_id=None: seen.append(  # type: ignore[attr-defined]
        (sessions, connection_id)
    )
    monkeypatch.setitem(sys.modules, "scheduler.inbox", fake)
    connection_id = uuid.uuid4()
    tasks.process_inbox(str(connection_id))
    tasks.process_inbox()
    assert seen == [(worker_sessions, connection_id), (worker_sessions, None)]


def test_a_run_stopped_by_its_time_limit_fails_as_transient(sessions, csv_job) -> None:
    from billiard.exceptions import SoftTimeLimitExceeded

    from scheduler.jobs import execute_run

    def drive(connection, state):  # type: ignore[no-untyped-def]
        def feed(sink) -> None:  # type: ignore[no-untyped-def]
            raise SoftTimeLimitExceeded

        return feed

    report = execute_run(sessions, "acme", csv_job.name, drive)
    assert report.status == "failed"
    assert "time limit (L2C_RUN_TIME_LIMIT)" in (report.error or "")
    with sessions() as session:
        assert session.get_one(SyncRun, report.run_id).error_category == "transient"


def test_a_running_run_keeps_its_heartbeat_fresh(sessions, csv_job) -> None:
    """Between two batches a slow source can think longer than the lease."""
    import time

    from core.sync.runs import start_run
    from scheduler.jobs import _heartbeats

    with sessions.begin() as session:
        run = start_run(session, session.get_one(SyncJob, csv_job.id))
    first = run.heartbeat_at

    def beat() -> object:
        with sessions() as session:
            return session.get_one(SyncRun, run.id).heartbeat_at

    with _heartbeats(sessions, run.id, every=0.05):
        deadline = time.monotonic() + 30
        while beat() == first and time.monotonic() < deadline:
            time.sleep(0.02)
    assert beat() > first
