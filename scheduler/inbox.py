"""Processing the webhook inbox: pending events go through the same path as a sync.

Each pass claims pending events (SKIP LOCKED on PostgreSQL, so workers share the work),
groups them by connection, and feeds their records to every sync job of the connection
whose mappings consume the event's stream — as one run per job with trigger `webhook`.
Xrefs, the change log, field ownership, out-of-order protection (the newest source
timestamp wins), quarantine and the outbox therefore apply exactly as for a sync, and
processing an event twice changes nothing the second time.

An event no job maps, or whose body cannot be read, ends `failed` with the reason; it
is kept and `requeue` puts it back once the mapping or job exists. A job that is busy
with another run leaves its events pending for the next pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.errors import ConflictError, HubError
from core.logs import get_logger
from core.model.tables import Connection, InboxEvent, SyncJob, SyncRun, Tenant
from scheduler.connections import vetted_config
from scheduler.jobs import Driver, execute_run, mappers_by_stream
from scheduler.mapping_docs import stored_sources
from scheduler.network import connector_network
from scheduler.webhooks import WebhookSettings, fetcher_factory, read_config

log = get_logger("l2c.inbox")
LEASE = timedelta(minutes=16)
"""A claim older than this belongs to a dead worker (tasks are killed after 15 min)."""
STATUSES = ("pending", "processing", "processed", "failed")


@dataclass
class InboxReport:
    """What one pass did."""

    claimed: int = 0
    processed: int = 0
    failed: int = 0
    deferred: int = 0
    runs: list[uuid.UUID] = field(default_factory=list)


@dataclass
class _Event:
    id: uuid.UUID
    connection_id: uuid.UUID
    stream: str | None
    payload: bytes
    records: list[dict[str, Any]] = field(default_factory=list)
    jobs: set[uuid.UUID] = field(default_factory=set)
    run_id: uuid.UUID | None = None
    error: str | None = None
    deferred: bool = False


def process_pending(
    sessions: sessionmaker[Session], connection_id: uuid.UUID | None = None, limit: int = 1000
) -> InboxReport:
    """Claim up to `limit` pending events (of one connection, or all) and process them."""
    report = InboxReport()
    events = _claim(sessions, connection_id, limit)
    report.claimed = len(events)
    by_connection: dict[uuid.UUID, list[_Event]] = {}
    for event in events:
        by_connection.setdefault(event.connection_id, []).append(event)
    for group in by_connection.values():
        _process_connection(sessions, group, report)
        _settle(sessions, group, report)
    return report


def _claim(
    sessions: sessionmaker[Session], connection_id: uuid.UUID | None, limit: int
) -> list[_Event]:
    now = utcnow()
    with sessions.begin() as session:
        session.execute(  # claims of dead workers go back to the queue (the beat sees them)
            update(InboxEvent)
            .where(InboxEvent.status == "processing", InboxEvent.processed_at < now - LEASE)
            .values(status="pending")
            .execution_options(synchronize_session=False)
        )
        query = select(InboxEvent.id).where(InboxEvent.status == "pending")
        if connection_id is not None:
            query = query.where(InboxEvent.connection_id == connection_id)
        query = query.order_by(InboxEvent.received_at, InboxEvent.id).limit(limit)
        ids = list(session.scalars(query.with_for_update(skip_locked=True)))
        if not ids:
            return []
        session.execute(
            update(InboxEvent)
            .where(InboxEvent.id.in_(ids))
            .values(status="processing", processed_at=now, attempts=InboxEvent.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        rows = session.execute(
            select(InboxEvent.id, InboxEvent.connection_id, InboxEvent.stream, InboxEvent.payload)
            .where(InboxEvent.id.in_(ids))
            .order_by(InboxEvent.received_at, InboxEvent.id)
        ).all()
    return [_Event(r.id, r.connection_id, r.stream, r.payload) for r in rows]


def _process_connection(
    sessions: sessionmaker[Session], events: list[_Event], report: InboxReport
) -> None:
    with sessions() as session:
        connection = session.get(Connection, events[0].connection_id)
        if connection is None:  # deleted meanwhile: its events went with it
            return
        tenant = session.get_one(Tenant, connection.tenant_id)
        try:
            settings = read_config(connection).settings
        except HubError as error:  # L2C_SECRET_KEY changed: the operator's to fix, not the event
            log.error(
                "webhook settings unreadable", connection=connection.name, error=error.message
            )
            for event in events:
                event.deferred = True
            return
        jobs = list(
            session.scalars(
                select(SyncJob)
                .where(SyncJob.connection_id == connection.id, SyncJob.enabled.is_(True))
                .order_by(SyncJob.name)
            )
        )
        consumed: dict[uuid.UUID, tuple[str, set[str]]] = {}
        broken: dict[str, str] = {}  # stream -> why the job that lists it cannot run
        for job in jobs:
            try:
                stored = stored_sources(session, job.tenant_id, list(job.mappings))
                streams = set(mappers_by_stream(list(job.mappings), stored, job.streams or None))
            except HubError as error:
                for stream in job.streams or []:
                    broken[stream] = f"sync job {job.name!r} cannot run: {error.message}"
                continue
            consumed[job.id] = (job.name, streams)
        tenant_slug, connection_name = tenant.slug, connection.name
        session.expunge(connection)
        connection_row = connection

    for event in events:
        _read(event, settings)
        if event.error is not None:
            continue
        event.jobs = {j for j, (_, streams) in consumed.items() if event.stream in streams}
        if not event.jobs:
            event.error = broken.get(event.stream or "") or (
                f"no enabled sync job of connection {connection_name!r} maps stream "
                f"{event.stream!r}: add a mapping for it to a job, then retry the event"
            )
    _hydrate(connection_row, [e for e in events if e.error is None and e.jobs])
    for job_id, (job_name, _) in consumed.items():
        mine = [e for e in events if job_id in e.jobs and e.error is None and not e.deferred]
        if mine:
            _run(sessions, tenant_slug, job_name, mine, report)


def _hydrate(connection: Connection, events: list[_Event]) -> None:
    """Events that carry keys only (SAP business events) become the current records,
    re-read through the connector's fetcher: one fetch per stream for the whole pass.
    The records are fed once, with the stream's first event; the others of that stream
    are processed by the same run."""
    factory = fetcher_factory(connection)
    if factory is None or not events:
        return
    by_stream: dict[str, list[_Event]] = {}
    for event in events:
        by_stream.setdefault(event.stream or "", []).append(event)
    with connector_network():
        _fetch_all(factory, connection, events, by_stream)


def _fetch_all(
    factory: Any, connection: Connection, events: list[_Event], by_stream: dict[str, list[_Event]]
) -> None:
    try:
        fetcher = factory(vetted_config(connection))
    except Exception as error:
        _fail_all(events, f"cannot re-read the events' records: {_reason(error)}")
        return
    try:
        for stream, group in by_stream.items():
            keys = list(
                {
                    orjson.dumps(r, option=orjson.OPT_SORT_KEYS): r
                    for e in group
                    for r in e.records
                }.values()
            )
            try:
                records = fetcher.fetch(stream, keys)
            except Exception as error:
                if getattr(error, "category", None) == "transient":
                    for event in group:
                        event.deferred = True
                else:
                    _fail_all(group, f"cannot re-read the events' records: {_reason(error)}")
                continue
            group[0].records = list(records)
            for event in group[1:]:
                event.records = []
    finally:
        fetcher.close()


def _reason(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    hint = getattr(error, "hint", None)
    return f"{message} ({hint})" if hint else message


def _read(event: _Event, settings: WebhookSettings) -> None:
    """The stream and records of an event's body (`data`: one record or a list)."""
    try:
        body = orjson.loads(event.payload)
    except orjson.JSONDecodeError:
        event.error = "the stored body is not JSON"
        return
    if not isinstance(body, dict):
        event.error = "the stored body is not a JSON object"
        return
    event_type = body.get("type")
    if isinstance(event_type, str) and event_type:
        event.stream = settings.stream_of(event_type)  # today's type map, not the ingest's
    if not event.stream:
        event.error = "the event names no stream (`type` is missing)"
        return
    data = body.get("data")
    records = data if isinstance(data, list) else [data]
    if not all(isinstance(r, dict) for r in records):
        event.error = "`data` must be an object or a list of objects"
        return
    event.records = [r for r in records if isinstance(r, dict)]


def _run(
    sessions: sessionmaker[Session],
    tenant_slug: str,
    job_name: str,
    events: Sequence[_Event],
    report: InboxReport,
) -> None:
    def drive(_connection: Connection, _state: dict[str, Any] | None) -> Driver:
        def feed(sink: Any) -> None:
            for event in events:
                for record in event.records:
                    sink.record(event.stream, record)

        return feed

    try:
        result = execute_run(sessions, tenant_slug, job_name, drive, trigger="webhook")
    except ConflictError:  # the job is busy (a sync is running): try again next pass
        for event in events:
            event.deferred = True
        return
    except Exception as error:  # a bug: keep the events, with the reason, for a retry
        log.exception("webhook run failed", job=job_name)
        _fail_all(events, f"processing failed: {type(error).__name__}: {error}")
        return
    report.runs.append(result.run_id)
    if result.status == "failed":
        with sessions() as session:
            run = session.get(SyncRun, result.run_id)
            transient = run is not None and run.error_category == "transient"
        for event in events:
            if transient:
                event.deferred = True
            else:
                event.error = f"run {result.run_id} failed: {result.error}"
        return
    for event in events:
        event.run_id = event.run_id or result.run_id


def _fail_all(events: Iterable[_Event], message: str) -> None:
    for event in events:
        event.error = message


def _settle(sessions: sessionmaker[Session], events: list[_Event], report: InboxReport) -> None:
    now = utcnow()
    with sessions.begin() as session:
        for event in events:
            if event.deferred and event.error is None:
                values: dict[str, Any] = {
                    "status": "pending",
                    "processed_at": None,
                    "attempts": InboxEvent.attempts - 1,
                }
                report.deferred += 1
            elif event.error is not None:
                values = {"status": "failed", "processed_at": now, "error": event.error[:4000]}
                report.failed += 1
            else:
                values = {
                    "status": "processed",
                    "processed_at": now,
                    "run_id": event.run_id,
                    "error": None,
                    "stream": event.stream,
                }
                report.processed += 1
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == event.id, InboxEvent.status == "processing")
                .values(**values)
                .execution_options(synchronize_session=False)
            )


# ------------------------------------------------------------------ reading and retrying


def list_events(
    session: Session,
    connection_id: uuid.UUID,
    *,
    status: str | None = None,
    after: uuid.UUID | None = None,
    limit: int = 50,
) -> list[InboxEvent]:
    """A connection's events, oldest first (`after`: the last id of the previous page).
    The caller scopes the session to the tenant."""
    query = select(InboxEvent).where(InboxEvent.connection_id == connection_id)
    if status is not None:
        query = query.where(InboxEvent.status == status)
    if after is not None:
        query = query.where(InboxEvent.id > after)
    return list(session.scalars(query.order_by(InboxEvent.id).limit(limit)))


def requeue(
    session: Session, connection_id: uuid.UUID, ids: Sequence[uuid.UUID] | None = None
) -> int:
    """Put failed events of a connection back to pending (all failed ones, or `ids`)."""
    query = update(InboxEvent).where(
        InboxEvent.connection_id == connection_id, InboxEvent.status == "failed"
    )
    if ids is not None:
        query = query.where(InboxEvent.id.in_(list(ids)))
    result: Any = session.execute(
        query.values(status="pending", error=None, processed_at=None).execution_options(
            synchronize_session=False
        )
    )
    return int(result.rowcount or 0)


__all__ = [
    "InboxReport",
    "list_events",
    "process_pending",
    "requeue",
]
