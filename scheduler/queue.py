"""Publish tasks only once the rows they act on are committed.

Calling `.delay()` inside a transaction races the commit: the worker may look for a run
that is not visible yet. `publish_after_commit` holds the message until the session's
transaction commits and drops it on rollback. A publish that fails after the commit
(broker down) is logged, not raised — the commit stands, and housekeeping publishes
queued runs again whose message never arrived.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from core.model.tables import SyncJob, SyncRun
from core.sync.runs import queue_run

log = logging.getLogger(__name__)
_PENDING = "l2c.publish_after_commit"


def publish(task: Any, *args: Any, **options: Any) -> None:
    """Send `task(*args)` now (a task or its name) to the broker of the current settings;
    ids only, and the copy that logs and monitoring show is just them."""
    from scheduler.celery_app import current, prepare_broker

    celery = current()
    prepare_broker(celery.conf.broker_url)
    name = task if isinstance(task, str) else task.name
    celery.send_task(name, args=args, argsrepr=repr(args), kwargsrepr="{}", **options)


def publish_after_commit(session: Session, task: Any, *args: Any, **options: Any) -> None:
    """Send `task(*args)` after the session's transaction commits; never on rollback."""
    if _PENDING not in session.info:
        session.info[_PENDING] = []
        event.listen(session, "after_commit", _send_pending)
        event.listen(session, "after_rollback", _drop_pending)
    session.info[_PENDING].append((task, args, options))


def _send_pending(session: Session) -> None:
    pending, session.info[_PENDING] = session.info.get(_PENDING, []), []
    for task, args, options in pending:
        try:
            publish(task, *args, **options)
        except Exception:  # the rows are committed; housekeeping re-publishes queued runs
            name = task if isinstance(task, str) else task.name
            log.exception("could not publish %s%r; it will be retried", name, args)


def _drop_pending(session: Session) -> None:
    session.info[_PENDING] = []


def trigger_run(session: Session, job: SyncJob, *, trigger: str = "api") -> SyncRun:
    """Queue a run of `job` and hand it to a worker once committed (ConflictError naming
    the active run if the job has one)."""
    from scheduler.tasks import run_sync

    run = queue_run(session, job, trigger=trigger)
    publish_after_commit(session, run_sync, str(run.id))
    return run


class InboxKicker:
    """Starts inbox processing soon after webhook events are stored, at most once per
    connection per `every` seconds (the beat's tick picks up anything left)."""

    def __init__(self, every: float = 0.5) -> None:
        self.every = every
        self._last: dict[Any, float] = {}

    def __call__(self, connection_ids: Any) -> None:
        now = time.monotonic()
        for connection_id in connection_ids:
            if now - self._last.get(connection_id, -1e9) < self.every:
                continue
            self._last[connection_id] = now
            try:
                publish("l2c.process_inbox", str(connection_id))
            except Exception:  # the tick processes it instead
                log.warning("could not publish process_inbox for %s", connection_id)
