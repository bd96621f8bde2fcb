"""Celery tasks: thin, idempotent wrappers that take ids only.

Each task opens its own transactions and calls a service function; a redelivered
message (late ack, worker lost, a housekeeping re-publish) finds its work done or taken
and does nothing. Arguments are ids, never secrets, and `argsrepr` is set to them when
publishing (scheduler/queue.py). The functions of inbox and outbox processing are
imported when the task runs, so this module loads before they exist.
"""

from __future__ import annotations

import logging
import time
import uuid
from functools import cache
from importlib import import_module
from typing import Any

from celery import shared_task, signals
from sqlalchemy.orm import Session, sessionmaker

from core.errors import HubError
from core.settings import get_settings
from core.store.engine import make_engine, make_session_factory
from core.sync.runs import RunNotQueuedError
from scheduler.settings import get_scheduler_settings

log = logging.getLogger(__name__)


@cache
def sessions() -> sessionmaker[Session]:
    """This process's session factory (created after the pool forked, never before)."""
    return make_session_factory(make_engine(get_settings().resolved_database_url()))


@signals.worker_process_init.connect
def _fresh_connections_after_fork(**_: Any) -> None:
    """A forked child must not reuse its parent's database connections."""
    if sessions.cache_info().currsize:
        sessions().kw["bind"].dispose(close=False)
        sessions.cache_clear()


@shared_task(name="l2c.run_sync", ignore_result=True)
def run_sync(run_id: str) -> str:
    """Execute a queued sync run; nothing when it is no longer queued (redelivery)."""
    from scheduler.jobs import run_queued

    try:
        report = run_queued(
            sessions(), uuid.UUID(run_id), batch_size=get_settings().sync_batch_size
        )
    except RunNotQueuedError as skipped:
        log.info("run %s skipped: %s", run_id, skipped.message)
        return "skipped"
    except HubError as refused:  # e.g. another run of the job is alive: it stays queued
        log.warning("run %s not started: %s", run_id, refused)
        return "refused"
    log.info(
        "run %s %s: %d read, %d inserted, %d updated, %d quarantined",
        run_id,
        report.status,
        report.counts.read,
        report.counts.inserted,
        report.counts.updated,
        report.counts.quarantined,
        extra={"run_id": run_id, "status": report.status},
    )
    return report.status


@shared_task(name="l2c.process_inbox", ignore_result=True)
def process_inbox(connection_id: str | None = None) -> None:
    """Map pending webhook events of one connection (all when None) into the store."""
    process_pending = import_module("scheduler.inbox").process_pending
    process_pending(sessions(), connection_id=uuid.UUID(connection_id) if connection_id else None)


@shared_task(name="l2c.dispatch_outbox", ignore_result=True)
def dispatch_outbox() -> int:
    """Deliver due outbox messages, batch after batch until none is due or half the task's
    time is spent (the next tick's kick goes on from there)."""
    dispatch_due = import_module("scheduler.outbox").dispatch_due
    budget = time.monotonic() + get_scheduler_settings().task_time_limit / 2
    claimed = 0
    while True:
        report = dispatch_due(sessions())
        claimed += getattr(report, "claimed", 0)
        if not getattr(report, "claimed", 0) or time.monotonic() > budget:
            return claimed


@shared_task(name="l2c.tick", ignore_result=True)
def tick() -> dict[str, int]:
    """The beat's heartbeat: queue due cron jobs, kick inbox and outbox processing."""
    from scheduler.beat import tick as run_tick

    return run_tick(sessions()).as_dict()


@shared_task(name="l2c.housekeeping", ignore_result=True, bind=True)
def housekeeping(self: Any) -> dict[str, int]:
    """Re-queue runs of vanished workers, purge delivered broker rows, apply retention."""
    from scheduler.housekeeping import housekeep

    return housekeep(sessions(), broker_url=self.app.conf.broker_url).as_dict()
