"""Housekeeping: recover runs whose worker vanished, re-publish lost messages, purge the
embedded broker, apply retention.

No broker redelivers a sync run reliably on its own: the SQL transport forgets a message
once a worker fetched it, and Redis hands it back only after the visibility timeout
(hours). So on every broker, a run still 'running' whose process is gone (same host) or
whose heartbeat is older than the lease is abandoned and a new queued run resumes the
job from its last committed state. A job whose worker died several times in a row is
not resumed again (a poison source would otherwise kill workers forever).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import CursorResult, Engine, create_engine, delete, func, inspect, select, text
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.errors import ConflictError
from core.model.tables import (
    Connection,
    IdempotentRequest,
    InboxEvent,
    OutboxMessage,
    SyncJob,
    SyncRun,
)
from core.sync.runs import abandon, is_dead, queue_run
from scheduler.celery_app import is_sql_broker, sql_broker_database
from scheduler.queue import publish_after_commit

log = logging.getLogger(__name__)

MAX_RECOVERIES = 3
"""Consecutive runs of a job that may die with their worker before it is left alone."""
IDEMPOTENCY_TTL = timedelta(hours=72)
INBOX_TTL = timedelta(days=7)
"""Processed webhook events (and so their ids, the dedupe key) are kept this long."""
OUTBOX_TTL = timedelta(days=7)
KOMBU_MESSAGES = "kombu_message"


@dataclass
class HousekeepingReport:
    recovered: int = 0
    abandoned: int = 0
    republished: int = 0
    broker_purged: int = 0
    idempotency_deleted: int = 0
    inbox_deleted: int = 0
    outbox_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def housekeep(
    sessions: sessionmaker[Session],
    *,
    broker_url: str | None = None,
    stale_after: timedelta | None = None,
    now: datetime | None = None,
) -> HousekeepingReport:
    """One pass; every step is idempotent and safe to run from several workers at once."""
    from scheduler.settings import get_scheduler_settings

    now = now or utcnow()
    if stale_after is None:
        stale_after = timedelta(seconds=get_scheduler_settings().queued_stale_after)
    report = HousekeepingReport()
    recover_dead_runs(sessions, report)
    republish_stale(sessions, now - stale_after, report)
    if broker_url is not None:
        report.broker_purged = purge_delivered(broker_url)
    apply_retention(sessions, now, report)
    if any(report.as_dict().values()):
        log.info("housekeeping", extra=report.as_dict())
    return report


def recover_dead_runs(sessions: sessionmaker[Session], report: HousekeepingReport) -> None:
    """Abandon running runs without a live process and queue a run that resumes each job."""
    with sessions() as session:
        candidates = [
            run.id
            for run in session.scalars(select(SyncRun).where(SyncRun.status == "running"))
            if is_dead(run)
        ]
    for run_id in candidates:
        with sessions.begin() as session:
            _recover(session, run_id, report)


def _recover(session: Session, run_id: uuid.UUID, report: HousekeepingReport) -> None:
    from scheduler.jobs import STDIN_CONNECTOR
    from scheduler.tasks import run_sync

    run = session.get(SyncRun, run_id)
    if run is None or run.status != "running" or not is_dead(run):
        return
    job = session.get_one(SyncJob, run.job_id)
    connector = session.scalar(
        select(Connection.connector).where(Connection.id == job.connection_id)
    )
    if connector == STDIN_CONNECTOR:
        abandon(run, "the process feeding it stopped; run `l2c singer target` again to resume")
        report.abandoned += 1
        return
    if _died_in_a_row(session, job) >= MAX_RECOVERIES:
        abandon(
            run,
            f"its worker died {MAX_RECOVERIES} runs in a row; not resumed automatically — "
            "look at the source and the worker's logs, then trigger the job again",
        )
        report.abandoned += 1
        log.error("job %s: worker died %d runs in a row; not resumed", job.name, MAX_RECOVERIES)
        return
    try:
        queued = queue_run(session, job, trigger="recovery")  # retires the dead run
    except ConflictError:
        return  # someone queued or started the job meanwhile: it resumes there
    publish_after_commit(session, run_sync, str(queued.id))
    report.recovered += 1
    log.warning("run %s of job %s lost its worker; resumed as run %s", run_id, job.name, queued.id)


def _died_in_a_row(session: Session, job: SyncJob) -> int:
    """How many of the job's latest runs ended with their worker dead (this one included)."""
    statuses = session.scalars(
        select(SyncRun.status)
        .where(SyncRun.job_id == job.id)
        .order_by(SyncRun.started_at.desc())
        .limit(MAX_RECOVERIES)
    ).all()
    count = 0
    for status in statuses:
        if status not in ("running", "abandoned"):
            break
        count += 1
    return count


def republish_stale(
    sessions: sessionmaker[Session], cutoff: datetime, report: HousekeepingReport
) -> None:
    """Publish again queued runs no worker took since `cutoff`: their message may be lost
    (broker restarted without persistence, publish failed after commit). A duplicate is
    harmless: the second claim finds the run no longer queued."""
    from scheduler.tasks import run_sync

    last_sent = func.coalesce(SyncRun.heartbeat_at, SyncRun.started_at)
    with sessions.begin() as session:
        stale = session.execute(
            select(SyncRun.id, last_sent).where(SyncRun.status == "queued", last_sent < cutoff)
        ).all()
        for run_id, sent in stale:
            touched: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                sql_update(SyncRun)
                .where(SyncRun.id == run_id, SyncRun.status == "queued", last_sent == sent)
                .values(heartbeat_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if touched.rowcount == 1:
                publish_after_commit(session, run_sync, str(run_id))
                report.republished += 1


@cache
def _broker_engine(url: str) -> Engine:
    database = sql_broker_database(url)
    options: dict[str, Any] = {"pool_pre_ping": True}
    if database.startswith("sqlite"):
        options = {"connect_args": {"timeout": 30}}
    return create_engine(database, **options)


def purge_delivered(broker_url: str) -> int:
    """Delete delivered messages from the SQL broker: kombu keeps them (visible = false)
    forever, and the table's growth slows every poll. Other brokers: nothing to do."""
    if not is_sql_broker(broker_url):
        return 0
    engine = _broker_engine(broker_url)
    if not inspect(engine).has_table(KOMBU_MESSAGES):
        return 0
    with engine.begin() as connection:
        result = connection.execute(
            text(f"DELETE FROM {KOMBU_MESSAGES} WHERE visible = :delivered"),  # noqa: S608
            {"delivered": False},
        )
    return int(result.rowcount or 0)


def apply_retention(
    sessions: sessionmaker[Session], now: datetime, report: HousekeepingReport
) -> None:
    """Forget what no longer serves: idempotency records after 72 h, processed webhook
    events after 7 days (their ids dedupe redeliveries until then), delivered outbox
    messages after 7 days. Pending work and dead letters are kept."""
    with sessions.begin() as session:
        report.idempotency_deleted = _deleted(
            session,
            delete(IdempotentRequest).where(IdempotentRequest.created_at < now - IDEMPOTENCY_TTL),
        )
        report.inbox_deleted = _deleted(
            session,
            delete(InboxEvent).where(
                InboxEvent.status == "processed", InboxEvent.received_at < now - INBOX_TTL
            ),
        )
        report.outbox_deleted = _deleted(
            session,
            delete(OutboxMessage).where(
                OutboxMessage.status == "delivered",
                OutboxMessage.delivered_at < now - OUTBOX_TTL,
            ),
        )


def _deleted(session: Session, statement: Any) -> int:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        statement.execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)
