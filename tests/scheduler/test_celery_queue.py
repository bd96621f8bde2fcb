"""Tasks are published only after the rows they act on are committed."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConflictError
from core.model.tables import SyncJob, SyncRun
from scheduler.queue import publish_after_commit, trigger_run


def test_nothing_is_published_before_the_commit(sessions, tenant, broker) -> None:
    with sessions.begin() as session:
        publish_after_commit(session, "l2c.process_inbox", "abc")
        assert broker.sent == []
    assert broker.sent == [
        ("l2c.process_inbox", ("abc",), {"argsrepr": "('abc',)", "kwargsrepr": "{}"})
    ]


def _failing_transaction(sessions: sessionmaker[Session], work) -> None:
    with sessions.begin() as session:
        work(session)
        raise RuntimeError("the request failed after its work")


def test_nothing_is_published_on_rollback(sessions, tenant, broker) -> None:
    with pytest.raises(RuntimeError):
        _failing_transaction(
            sessions, lambda session: publish_after_commit(session, "l2c.process_inbox", "abc")
        )
    with sessions.begin() as session:
        publish_after_commit(session, "l2c.process_inbox", "def")
    assert broker.names() == ["l2c.process_inbox"]
    assert broker.sent[0][1] == ("def",)


def test_a_triggered_run_is_visible_when_its_task_is_published(
    sessions: sessionmaker[Session], job: SyncJob, broker
) -> None:
    seen: list[str] = []

    def look(name: str, args: tuple) -> None:  # what a worker would see at that instant
        with sessions() as other:
            seen.append(other.get_one(SyncRun, uuid.UUID(args[0])).status)

    broker.on_send = look
    with sessions.begin() as session:
        run = trigger_run(session, session.get_one(SyncJob, job.id))
        assert (run.status, run.trigger) == ("queued", "api")
    assert broker.sent == [
        ("l2c.run_sync", (str(run.id),), {"argsrepr": f"('{run.id}',)", "kwargsrepr": "{}"})
    ]
    assert seen == ["queued"]


def test_a_trigger_rolled_back_leaves_no_run_and_no_message(sessions, job, broker) -> None:
    with pytest.raises(RuntimeError):
        _failing_transaction(
            sessions, lambda session: trigger_run(session, session.get_one(SyncJob, job.id))
        )
    with sessions() as session:
        assert session.scalars(select(SyncRun)).all() == []
    assert broker.sent == []


def test_triggering_a_busy_job_names_its_active_run(sessions, job, broker) -> None:
    with sessions.begin() as session:
        first = trigger_run(session, session.get_one(SyncJob, job.id))
    with pytest.raises(ConflictError, match=str(first.id)), sessions.begin() as session:
        trigger_run(session, session.get_one(SyncJob, job.id))
    assert len(broker.sent) == 1


def test_a_broker_down_after_commit_keeps_the_run_queued(sessions, job, broker, caplog) -> None:
    """Housekeeping publishes it again later (test_housekeeping)."""
    broker.fail = True
    with caplog.at_level(logging.ERROR, "scheduler.queue"), sessions.begin() as session:
        run = trigger_run(session, session.get_one(SyncJob, job.id))
    with sessions() as session:
        assert session.get_one(SyncRun, run.id).status == "queued"
    assert "could not publish l2c.run_sync" in caplog.text
