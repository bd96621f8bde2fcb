"""The database-driven beat: a due job is queued exactly once per firing, a changed cron
takes effect at the next tick, and pending inbox/outbox work gets kicked."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConfigError
from core.model.tables import (
    InboxEvent,
    OutboxMessage,
    Subscription,
    SyncJob,
    SyncRun,
)
from scheduler.beat import next_fire, set_schedule, tick

T0 = datetime(2026, 3, 2, 1, 59, 30, tzinfo=UTC)


def schedule(sessions: sessionmaker[Session], job: SyncJob, cron: str | None, now=T0) -> SyncJob:
    with sessions.begin() as session:
        row = session.get_one(SyncJob, job.id)
        set_schedule(session, row, cron, now=now)
        return row


def runs(sessions: sessionmaker[Session], job: SyncJob) -> list[tuple[str, str]]:
    with sessions() as session:
        return [
            (r.status, r.trigger)
            for r in session.scalars(
                select(SyncRun).where(SyncRun.job_id == job.id).order_by(SyncRun.started_at)
            )
        ]


def next_run_at(sessions: sessionmaker[Session], job: SyncJob) -> datetime | None:
    with sessions() as session:
        return session.get_one(SyncJob, job.id).next_run_at


@pytest.mark.parametrize("cron", ["0 2 * * * *", "61 * * * *", "every day", "* * *", "0 0 31 2 *"])
def test_a_bad_cron_is_refused_with_the_field_and_an_example(sessions, job, cron) -> None:
    with pytest.raises(ConfigError) as refused:
        schedule(sessions, job, cron)
    assert refused.value.details["field"] == "schedule"
    assert "e.g. '0 2 * * *'" in (refused.value.hint or "")
    assert next_run_at(sessions, job) is None


def test_a_schedule_gets_its_next_firing_and_none_clears_it(sessions, job) -> None:
    row = schedule(sessions, job, "  0   2 * * * ")
    assert row.schedule == "0 2 * * *"
    assert next_run_at(sessions, job) == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    row = schedule(sessions, job, "@hourly")
    assert next_run_at(sessions, job) == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    schedule(sessions, job, None)
    assert next_run_at(sessions, job) is None
    with sessions() as session:
        assert session.get_one(SyncJob, job.id).schedule is None


def test_a_due_job_is_queued_once_per_firing(sessions, job, broker) -> None:
    schedule(sessions, job, "0 2 * * *")
    assert tick(sessions, now=T0).queued == 0  # not yet due
    at_two = T0 + timedelta(seconds=31)
    first = tick(sessions, now=at_two)
    again = tick(sessions, now=at_two + timedelta(seconds=5))
    assert (first.queued, again.queued) == (1, 0)
    assert runs(sessions, job) == [("queued", "schedule")]
    assert next_run_at(sessions, job) == datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    with sessions() as session:
        run_id = session.scalar(select(SyncRun.id).where(SyncRun.job_id == job.id))
    assert broker.sent[0][:2] == ("l2c.run_sync", (str(run_id),))


def test_a_changed_cron_takes_effect_at_the_next_tick(sessions, job, broker) -> None:
    schedule(sessions, job, "0 2 * * *")
    # the API changes the schedule while the beat runs: no restart
    schedule(sessions, job, "*/15 * * * *", now=T0)
    assert tick(sessions, now=datetime(2026, 3, 2, 2, 0, 5, tzinfo=UTC)).queued == 1
    assert next_run_at(sessions, job) == datetime(2026, 3, 2, 2, 15, tzinfo=UTC)


def test_a_firing_is_skipped_while_the_previous_run_is_active(
    sessions, job, broker, caplog
) -> None:
    schedule(sessions, job, "*/5 * * * *")
    tick(sessions, now=datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    with caplog.at_level(logging.INFO, "scheduler.beat"):
        report = tick(sessions, now=datetime(2026, 3, 2, 2, 5, tzinfo=UTC))
    assert (report.queued, report.skipped) == (0, 1)
    assert "scheduled run of job erp-accounts skipped: job 'erp-accounts' already has a" in (
        caplog.text
    )
    assert runs(sessions, job) == [("queued", "schedule")]
    assert next_run_at(sessions, job) == datetime(2026, 3, 2, 2, 10, tzinfo=UTC)


def test_missed_firings_give_one_run_not_a_burst(sessions, job, broker) -> None:
    schedule(sessions, job, "* * * * *")
    assert tick(sessions, now=T0 + timedelta(days=1)).queued == 1
    assert next_run_at(sessions, job) == T0.replace(second=0) + timedelta(days=1, minutes=1)


def test_a_disabled_job_is_not_queued(sessions, job, broker) -> None:
    schedule(sessions, job, "* * * * *")
    with sessions.begin() as session:
        session.get_one(SyncJob, job.id).enabled = False
    assert tick(sessions, now=T0 + timedelta(hours=1)).queued == 0
    assert runs(sessions, job) == []


def test_a_schedule_set_without_a_next_firing_is_planned(sessions, job, broker) -> None:
    with sessions.begin() as session:
        session.get_one(SyncJob, job.id).schedule = "30 * * * *"
    tick(sessions, now=T0)
    assert next_run_at(sessions, job) == datetime(2026, 3, 2, 2, 30, tzinfo=UTC)


def test_concurrent_beats_queue_a_firing_once(sessions, job, broker) -> None:
    schedule(sessions, job, "* * * * *")
    due = T0 + timedelta(minutes=5)
    barrier = threading.Barrier(4)
    reports = []

    def beat() -> None:
        barrier.wait()
        reports.append(tick(sessions, now=due))

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(reports) == 4
    assert sum(r.queued for r in reports) == 1
    assert sum(r.skipped for r in reports) == 0  # the others never claimed the firing
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 1
    assert broker.names() == ["l2c.run_sync"]


def test_pending_inbox_and_due_outbox_work_is_kicked(sessions, tenant, connection, broker) -> None:
    with sessions.begin() as session:
        subscription = Subscription(
            tenant_id=tenant.id, name="crm", url="https://crm.example.com/hook", secret=b"x"
        )
        session.add(subscription)
        session.flush()
        session.add_all(
            [
                InboxEvent(
                    tenant_id=tenant.id, connection_id=connection.id, event_id="e1", payload=b"{}"
                ),
                OutboxMessage(
                    tenant_id=tenant.id,
                    subscription_id=subscription.id,
                    change_seq=1,
                    next_attempt_at=T0,
                ),
            ]
        )
    report = tick(sessions, now=T0)
    assert (report.inbox_kicks, report.outbox_kicks) == (1, 1)
    sent = {name: (args, options) for name, args, options in broker.sent}
    assert sent["l2c.process_inbox"][0] == (str(connection.id),)
    assert sent["l2c.dispatch_outbox"][0] == ()
    assert all(options["expires"] > 0 for _, options in sent.values())
    # nothing pending, nothing due: no kicks
    with sessions.begin() as session:
        for event in session.scalars(select(InboxEvent)):
            event.status = "processed"
        for message in session.scalars(select(OutboxMessage)):
            message.next_attempt_at = T0 + timedelta(hours=1)
    assert tick(sessions, now=T0).as_dict() == {
        "queued": 0,
        "skipped": 0,
        "inbox_kicks": 0,
        "outbox_kicks": 0,
    }


def test_next_fire_is_utc() -> None:
    assert next_fire("0 2 * * *", T0) == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
