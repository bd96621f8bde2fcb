"""The database-driven beat: cron schedules live on the job rows, not in Celery.

Celery beat only sends `tick` every few seconds. A tick queues a run of every enabled
job whose `next_run_at` has passed and moves `next_run_at` on with a conditional UPDATE
(`WHERE next_run_at = <the value read>`), so two beats — or a tick redelivered — never
queue the same firing twice; a schedule changed through the API is simply a new
`next_run_at`, read by the next tick. Missed firings (beat down for a day) give one
run, not a burst. A tick also kicks inbox and outbox processing when work is pending.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from croniter import CroniterBadDateError, croniter
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.errors import ConfigError, ConflictError
from core.model.tables import InboxEvent, OutboxMessage, SyncJob
from core.sync.runs import queue_run
from scheduler.queue import publish, publish_after_commit

log = logging.getLogger(__name__)

CRON_HINT = (
    "five fields in UTC — minute hour day-of-month month day-of-week — "
    "e.g. '0 2 * * *' (02:00 daily) or '*/15 * * * *' (every 15 minutes); "
    "@hourly, @daily, @weekly and @monthly also work"
)
DUE_PER_TICK = 500
KICK_EXPIRES = 60.0
"""A kick not picked up within this many seconds is dropped: the next tick sends another."""


def next_fire(cron: str, after: datetime) -> datetime:
    """The first firing of `cron` strictly after `after` (UTC)."""
    return croniter(cron, after).get_next(datetime)  # type: ignore[no-any-return]


def parse_cron(cron: str) -> str:
    """The normalised expression, or ConfigError naming the field with an example."""
    expression = " ".join(cron.split())
    fields = expression.split(" ")
    shape_ok = len(fields) == 5 or (len(fields) == 1 and expression.startswith("@"))
    if not shape_ok or not croniter.is_valid(expression):
        raise ConfigError(
            f"schedule {cron!r} is not a cron expression", hint=CRON_HINT, field="schedule"
        )
    try:
        next_fire(expression, utcnow())
    except CroniterBadDateError:
        raise ConfigError(
            f"schedule {cron!r} never fires (no such date)", hint=CRON_HINT, field="schedule"
        ) from None
    return expression


def set_schedule(
    session: Session, job: SyncJob, cron: str | None, *, now: datetime | None = None
) -> None:
    """Give `job` a cron schedule (None or blank: on demand only) and its next firing.

    Takes effect at the next tick, without restarting anything.
    """
    if cron is None or not cron.strip():
        job.schedule = None
        job.next_run_at = None
        return
    job.schedule = parse_cron(cron)
    job.next_run_at = next_fire(job.schedule, now or utcnow())
    session.flush()


@dataclass
class TickReport:
    queued: int = 0
    skipped: int = 0
    inbox_kicks: int = 0
    outbox_kicks: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def tick(sessions: sessionmaker[Session], *, now: datetime | None = None) -> TickReport:
    """Queue due scheduled runs and kick pending inbox/outbox work (one beat tick)."""
    now = now or utcnow()
    report = TickReport()
    with sessions.begin() as session:
        due = session.execute(
            select(SyncJob.id, SyncJob.next_run_at)
            .where(
                SyncJob.enabled.is_(True),
                SyncJob.schedule.is_not(None),
                SyncJob.next_run_at.is_not(None),
                SyncJob.next_run_at <= now,
            )
            .order_by(SyncJob.next_run_at)
            .limit(DUE_PER_TICK)
        ).all()
        unplanned = session.scalars(
            select(SyncJob).where(SyncJob.schedule.is_not(None), SyncJob.next_run_at.is_(None))
        ).all()
        for job in unplanned:  # scheduled before set_schedule existed, or set by hand
            _plan(session, job, now)
    for job_id, planned in due:
        assert planned is not None  # selected with next_run_at <= now
        with sessions.begin() as session:
            outcome = _fire(session, job_id, planned, now)
        if outcome == "queued":
            report.queued += 1
        elif outcome == "skipped":
            report.skipped += 1
    _kick(sessions, now, report)
    return report


def _plan(session: Session, job: SyncJob, now: datetime) -> None:
    try:
        set_schedule(session, job, job.schedule, now=now)
    except ConfigError as bad:
        log.warning("job %s has a bad schedule and stays unscheduled: %s", job.id, bad)
        job.schedule = None


def _fire(session: Session, job_id: uuid.UUID, planned: datetime, now: datetime) -> str | None:
    """Claim one firing of a job (conditional UPDATE) and queue its run."""
    job = session.get(SyncJob, job_id)
    if job is None or job.schedule is None:
        return None
    try:
        following = next_fire(job.schedule, now)
    except (CroniterBadDateError, ValueError):
        log.warning("job %s: schedule %r no longer fires; cleared", job.id, job.schedule)
        following = None
    claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(SyncJob)
        .where(SyncJob.id == job_id, SyncJob.next_run_at == planned)
        .values(next_run_at=following)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return None  # another beat fired it, or the schedule changed since we read it
    from scheduler.tasks import run_sync

    try:
        run = queue_run(session, job, trigger="schedule")
    except ConflictError as busy:
        log.info("scheduled run of job %s skipped: %s", job.name, busy.message)
        return "skipped"
    publish_after_commit(session, run_sync, str(run.id))
    log.info("scheduled run %s of job %s queued", run.id, job.name)
    return "queued"


def _kick(sessions: sessionmaker[Session], now: datetime, report: TickReport) -> None:
    from scheduler.tasks import dispatch_outbox, process_inbox

    with sessions() as session:
        outbox_due = session.scalar(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .limit(1)
        )
        inbox = session.scalars(
            select(InboxEvent.connection_id)
            .where(InboxEvent.status == "pending")
            .group_by(InboxEvent.connection_id)
            .limit(DUE_PER_TICK)
        ).all()
    if outbox_due is not None:
        publish(dispatch_outbox, expires=KICK_EXPIRES)
        report.outbox_kicks += 1
    for connection_id in inbox:
        publish(process_inbox, str(connection_id), expires=KICK_EXPIRES)
        report.inbox_kicks += 1
