"""Housekeeping: a run whose worker vanished is resumed by a new queued run, a lost
message is published again, and old rows are forgotten on schedule."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.model.tables import (
    Account,
    Connection,
    IdempotentRequest,
    InboxEvent,
    OutboxMessage,
    Subscription,
    SyncJob,
    SyncRun,
)
from core.sync.runs import start_run
from scheduler.housekeeping import MAX_RECOVERIES, housekeep
from scheduler.jobs import run_queued

ROOT = Path(__file__).resolve().parents[2]
HOLD_A_RUN = textwrap.dedent(
    """
    import sys, time, uuid
    from core.model.tables import SyncJob
    from core.store.engine import make_engine, make_session_factory
    from core.sync.runs import start_run

    sessions = make_session_factory(make_engine(sys.argv[1]))
    with sessions.begin() as session:
        run = start_run(session, session.get_one(SyncJob, uuid.UUID(sys.argv[2])))
    print(run.id, flush=True)
    time.sleep(120)
    """
)


def runs(sessions: sessionmaker[Session], job: SyncJob) -> list[SyncRun]:
    with sessions() as session:
        return list(
            session.scalars(
                select(SyncRun).where(SyncRun.job_id == job.id).order_by(SyncRun.started_at)
            )
        )


def add_run(sessions, job, *, status: str, worker: str | None, age: timedelta) -> uuid.UUID:
    at = utcnow() - age
    with sessions.begin() as session:
        run = SyncRun(
            tenant_id=job.tenant_id,
            job_id=job.id,
            status=status,
            worker=worker,
            started_at=at,
            heartbeat_at=at,
        )
        session.add(run)
        session.flush()
        return run.id


def test_a_run_whose_worker_was_killed_is_resumed_by_a_new_run(
    engine: Engine, sessions, csv_job, broker
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_RUN, url, str(csv_job.id)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        killed_run = uuid.UUID(holder.stdout.readline().strip())
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        holder.stdout.close()
    assert housekeep(sessions).recovered == 1
    old, new = runs(sessions, csv_job)
    assert (old.id, old.status) == (killed_run, "abandoned")
    assert "stopped without finishing" in (old.error or "")
    assert (new.status, new.trigger) == ("queued", "recovery")
    assert broker.sent[0][:2] == ("l2c.run_sync", (str(new.id),))
    assert housekeep(sessions).recovered == 0  # once
    report = run_queued(sessions, new.id)  # what the worker does with the message
    assert (report.status, report.counts.read, report.counts.inserted) == ("completed", 25, 25)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 25


def test_a_live_run_is_left_alone(sessions, csv_job, broker) -> None:
    with sessions.begin() as session:
        start_run(session, session.get_one(SyncJob, csv_job.id))  # this very process
    add_run(sessions, csv_job, status="abandoned", worker=None, age=timedelta(days=1))
    assert housekeep(sessions).recovered == 0
    assert [r.status for r in runs(sessions, csv_job)] == ["abandoned", "running"]


def test_a_run_on_another_host_is_dead_once_its_heartbeat_is_stale(
    sessions, csv_job, broker
) -> None:
    fresh = add_run(sessions, csv_job, status="running", worker="w2:7", age=timedelta(seconds=5))
    assert housekeep(sessions).recovered == 0
    with sessions.begin() as session:
        session.get_one(SyncRun, fresh).heartbeat_at = utcnow() - timedelta(minutes=10)
    assert housekeep(sessions).recovered == 1
    assert [(r.status, r.trigger) for r in runs(sessions, csv_job)] == [
        ("abandoned", "manual"),
        ("queued", "recovery"),
    ]


def test_a_job_that_keeps_killing_its_worker_is_not_resumed_forever(
    sessions, csv_job, broker
) -> None:
    for age in range(MAX_RECOVERIES - 1, 0, -1):
        add_run(sessions, csv_job, status="abandoned", worker=None, age=timedelta(hours=age))
    add_run(sessions, csv_job, status="running", worker="w2:7", age=timedelta(minutes=10))
    report = housekeep(sessions)
    assert (report.recovered, report.abandoned) == (0, 1)
    last = runs(sessions, csv_job)[-1]
    assert last.status == "abandoned"
    assert f"died {MAX_RECOVERIES} runs in a row" in (last.error or "")
    assert broker.sent == []


def test_a_singer_target_run_is_abandoned_not_requeued(sessions, tenant, broker) -> None:
    """Its records came on stdin: no worker can read them again."""
    with sessions.begin() as session:
        connection = Connection(tenant_id=tenant.id, name="feed", connector="stdin", config={})
        session.add(connection)
        session.flush()
        job = SyncJob(tenant_id=tenant.id, name="singer-target:feed", connection_id=connection.id)
        session.add(job)
    add_run(sessions, job, status="running", worker="w2:7", age=timedelta(hours=1))
    assert housekeep(sessions).as_dict()["abandoned"] == 1
    assert [r.status for r in runs(sessions, job)] == ["abandoned"]
    assert broker.sent == []


def test_a_queued_run_whose_message_was_lost_is_published_again(sessions, csv_job, broker) -> None:
    lost = add_run(sessions, csv_job, status="queued", worker=None, age=timedelta(minutes=30))
    report = housekeep(sessions, stale_after=timedelta(minutes=10))
    assert report.republished == 1
    assert broker.sent == [
        ("l2c.run_sync", (str(lost),), {"argsrepr": f"('{lost}',)", "kwargsrepr": "{}"})
    ]
    # published just now: not again at the next pass
    assert housekeep(sessions, stale_after=timedelta(minutes=10)).republished == 0
    assert [r.status for r in runs(sessions, csv_job)] == ["queued"]


def test_old_rows_are_forgotten_and_live_ones_kept(sessions, tenant, connection, broker) -> None:
    now = utcnow()
    with sessions.begin() as session:
        subscription = Subscription(
            tenant_id=tenant.id, name="crm", url="https://crm.example.com/hook", secret=b"x"
        )
        session.add(subscription)
        session.flush()
        for key, age in [("old", timedelta(hours=73)), ("new", timedelta(hours=71))]:
            session.add(
                IdempotentRequest(
                    tenant_id=tenant.id, key=key, fingerprint=b"f" * 32, created_at=now - age
                )
            )
        for event_id, status, age in [
            ("done-old", "processed", timedelta(days=8)),
            ("done-new", "processed", timedelta(days=6)),
            ("pending-old", "pending", timedelta(days=8)),
        ]:
            session.add(
                InboxEvent(
                    tenant_id=tenant.id,
                    connection_id=connection.id,
                    event_id=event_id,
                    payload=b"{}",
                    status=status,
                    received_at=now - age,
                )
            )
        for seq, status, age in [
            (1, "delivered", timedelta(days=8)),
            (2, "delivered", timedelta(days=6)),
            (3, "dead", timedelta(days=30)),
        ]:
            session.add(
                OutboxMessage(
                    tenant_id=tenant.id,
                    subscription_id=subscription.id,
                    change_seq=seq,
                    status=status,
                    created_at=now - age,
                    delivered_at=now - age if status == "delivered" else None,
                )
            )
    report = housekeep(sessions)
    assert (report.idempotency_deleted, report.inbox_deleted, report.outbox_deleted) == (1, 1, 1)
    with sessions() as session:
        assert session.scalars(select(IdempotentRequest.key)).all() == ["new"]
        assert sorted(session.scalars(select(InboxEvent.event_id))) == ["done-new", "pending-old"]
        assert sorted(session.scalars(select(OutboxMessage.change_seq))) == [2, 3]
