"""Sync jobs: define them, run them, replay their quarantine.

`run_job` is what `l2c sync run` calls and `run_queued` what the worker's `run_sync`
task calls: both start a run, drive the connection's source into the sync engine and
finish the run, whatever happens in between. While a run executes, a heartbeat thread
keeps its lease fresh, so a slow source is not mistaken for a dead worker.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from connectors.sdk.registry import get_connector
from core.errors import ConfigError, HubError, NotFoundError, TransientError
from core.model.entities import entity
from core.model.tables import Connection, SyncJob, SyncRun, Tenant
from core.store.quarantine import open_entries
from core.store.state import load_state
from core.sync.engine import Counts, RunTarget, SyncSink
from core.sync.ports import Mapper
from core.sync.replay import replay_entries
from core.sync.runs import LEASE, RunNotQueuedError, add_counts, finish_run, heartbeat, start_run
from core.sync.singer_io import run_tap_process
from scheduler.beat import set_schedule
from scheduler.connections import vetted_config
from scheduler.errors import translate
from scheduler.job_admin import job_streams, name_taken
from scheduler.mapping_docs import compile_refs, stored_sources
from scheduler.taps import run_inprocess_tap

REPLAYED_AT_END = "unresolved_reference"
HEARTBEAT_EVERY = LEASE.total_seconds() / 4
log = logging.getLogger(__name__)


def add_job(
    session: Session,
    tenant: Tenant,
    *,
    name: str,
    connection: Connection,
    mappings: Sequence[str],
    schedule: str | None = None,
    streams: Sequence[str] | None = None,
    enabled: bool = True,
    files: bool = True,
    kind: str = "sync",
) -> SyncJob:
    """Define a job; its mappings are compiled now so mistakes show up immediately.

    Mappings are the tenant's stored ones or built-ins (or, with `files`, mapping files
    on this machine: the CLI's case, never the API's). `streams` narrows the job to some
    of its mappings' streams; by default it syncs all of them. A `writeback` job has one
    outbound mapping instead (scheduler/writeback.py).
    """
    if session.scalar(
        select(SyncJob.id).where(SyncJob.tenant_id == tenant.id, SyncJob.name == name)
    ):
        raise name_taken(name)
    get_connector(connection.connector)  # must exist; its streams are checked at run time
    if kind == "writeback":
        check_writeback(connection, mappings, streams, files=files)
        read = None
    elif kind == "sync":
        read = job_streams(session, tenant.id, mappings, streams, files=files)
    else:
        raise ConfigError(f"unknown job kind {kind!r}", hint="sync or writeback", field="kind")
    job = SyncJob(
        tenant_id=tenant.id,
        name=name,
        connection_id=connection.id,
        mappings=list(mappings),
        streams=read,
        enabled=enabled,
        kind=kind,
    )
    session.add(job)
    try:
        session.flush()
    except IntegrityError:  # a concurrent request took the name since the check
        raise name_taken(name) from None
    set_schedule(session, job, schedule)
    return job


def check_writeback(
    connection: Connection,
    mappings: Sequence[str],
    streams: Sequence[str] | None,
    *,
    files: bool = True,
) -> None:
    """A write-back job: one outbound mapping for the connection's connector, which can write."""
    from scheduler.writeback import outbound_mapping

    if streams:
        raise ConfigError(
            "a write-back job reads no streams", hint="leave streams out", field="streams"
        )
    probe = SyncJob(name="(new)", mappings=list(mappings))
    try:
        outbound_mapping(probe, connection, files=files)
    except ConfigError as error:
        error.details.setdefault("field", "mappings")
        raise
    if get_connector(connection.connector).writer is None:
        raise ConfigError(
            f"connector {connection.connector!r} cannot write",
            hint="write-back needs a connector with a writer (see `l2c connectors`)",
            field="connection",
        )


def get_job(session: Session, tenant: Tenant, name: str) -> SyncJob:
    job = session.scalar(
        select(SyncJob).where(SyncJob.tenant_id == tenant.id, SyncJob.name == name)
    )
    if job is None:
        raise NotFoundError(f"no sync job named {name!r}", hint="see `l2c job list`")
    return job


def mappers_by_stream(
    refs: Sequence[str],
    stored: Mapping[str, str] | None = None,
    streams: Sequence[str] | None = None,
) -> dict[str, list[Mapper]]:
    """Compile mappings (`stored`: the tenant's documents among them, name -> YAML) and
    order each stream's mappings so referenced entities come first; `streams` keeps
    only those streams."""
    by_stream: dict[str, list[Mapper]] = {}
    for mapper in compile_refs(refs, stored or {}):
        if streams and mapper.stream not in streams:
            continue
        by_stream.setdefault(mapper.stream, []).append(mapper)
    for mappers in by_stream.values():
        mappers.sort(key=lambda m: _depth(m.entity))
    return by_stream


def _depth(name: str, seen: frozenset[str] = frozenset()) -> int:
    """How many entities `name` refers to transitively (accounts 0, contacts 1, ...)."""
    refs = {t for t in entity(name).references.values() if t != name and t not in seen}
    return max((1 + _depth(t, seen | {name}) for t in refs), default=0)


@contextlib.contextmanager
def batch_friendly_gc() -> Iterator[None]:
    """Python's cycle collector rescans every live container each time its thresholds
    trip; a sync keeps tens of thousands of records alive per batch, so the defaults
    cost about a quarter of a run (measured: 40 s -> 33 s for 300k records). Objects that
    exist before the run are frozen out of the scans and the thresholds raised."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 100, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@dataclass(frozen=True)
class RunReport:
    run_id: uuid.UUID
    status: str
    counts: Counts
    unmapped: dict[str, int]
    error: str | None


Driver = Callable[[SyncSink], None]
Begin = Callable[[Session], tuple[SyncJob, SyncRun]]


def execute_run(
    sessions: sessionmaker[Session],
    tenant_slug: str,
    job_name: str,
    drive: Callable[[Connection, dict[str, Any] | None], Driver],
    *,
    trigger: str = "manual",
    run_id: uuid.UUID | None = None,
    batch_size: int = 5000,
    on_flush: Callable[[Counts], None] | None = None,
    on_state_committed: Callable[[dict[str, Any]], None] | None = None,
) -> RunReport:
    """Start a run of a job, let `drive` feed the sink, and finish the run whatever happens.

    `drive(connection, state)` returns the function that feeds Singer messages; errors of
    the user's kind end the run as failed and come back in the report, bugs are re-raised
    after the run is marked failed. `run_id` names a queued run to claim instead of
    starting a new one.
    """
    from core.store.tenants import get_tenant

    def begin(session: Session) -> tuple[SyncJob, SyncRun]:
        job = get_job(session, get_tenant(session, tenant_slug), job_name)
        return job, start_run(session, job, trigger, run_id=run_id)

    return _execute(
        sessions,
        begin,
        drive,
        batch_size=batch_size,
        on_flush=on_flush,
        on_state_committed=on_state_committed,
    )


def _execute(
    sessions: sessionmaker[Session],
    begin: Begin,
    drive: Callable[[Connection, dict[str, Any] | None], Driver],
    *,
    batch_size: int,
    on_flush: Callable[[Counts], None] | None,
    on_state_committed: Callable[[dict[str, Any]], None] | None = None,
) -> RunReport:
    with sessions.begin() as session:
        job, run = begin(session)
        connection = session.get_one(Connection, job.connection_id)
        target = RunTarget(job.tenant_id, connection.id, job.id, run.id)
        mapping_refs = list(job.mappings)
        stored = stored_sources(session, job.tenant_id, mapping_refs)
        streams = list(job.streams or [])
        state = load_state(session, job.id)
        session.expunge(connection)
        session.expunge(job)

    if job.kind == "writeback":
        return _execute_writeback(sessions, target, job, connection)
    error: BaseException | None = None
    sink = SyncSink(
        sessions,
        target,
        {},
        batch_size=batch_size,
        on_flush=on_flush,
        on_state_committed=on_state_committed,
    )
    try:
        with _heartbeats(sessions, target.run_id):
            sink.mappers = mappers_by_stream(mapping_refs, stored, streams)
            with batch_friendly_gc():
                drive(connection, state)(sink)
                sink.close()
            _replay_unresolved(sessions, target, sink)
    except BaseException as raw:  # every failure ends the run with its reason, then surfaces
        error = translate(raw) if isinstance(raw, Exception) else raw
        if isinstance(raw, SoftTimeLimitExceeded):
            error = TransientError(
                "the run reached its time limit (L2C_RUN_TIME_LIMIT)",
                hint="the next run resumes from its last committed state; raise "
                "L2C_RUN_TIME_LIMIT (and L2C_VISIBILITY_TIMEOUT) for a long first sync",
            )
        with contextlib.suppress(Exception):
            sink.close()  # what was read before the failure is valid: commit it with its state
    with sessions.begin() as session:
        category = error.category if isinstance(error, HubError) else None
        finished = finish_run(session, target.run_id, error=error, category=category)
        status, message = finished.status, finished.error
    if error is not None and not isinstance(error, HubError):
        raise error
    return RunReport(target.run_id, status, sink.counts, dict(sink.unmapped), message)


def _execute_writeback(
    sessions: sessionmaker[Session], target: RunTarget, job: SyncJob, connection: Connection
) -> RunReport:
    """A run of a write-back job: one pass of scheduler/writeback.py."""
    from scheduler.writeback import run_writeback

    error: BaseException | None = None
    counts = Counts()
    try:
        with _heartbeats(sessions, target.run_id):
            counts = run_writeback(sessions, target, job, connection).as_counts()
    except BaseException as raw:  # the run ends failed with the reason, then surfaces
        error = translate(raw) if isinstance(raw, Exception) else raw
    with sessions.begin() as session:
        category = error.category if isinstance(error, HubError) else None
        finished = finish_run(session, target.run_id, error=error, category=category)
        status, message = finished.status, finished.error
    if error is not None and not isinstance(error, HubError):
        raise error
    return RunReport(target.run_id, status, counts, {}, message)


@contextlib.contextmanager
def _heartbeats(
    sessions: sessionmaker[Session], run_id: uuid.UUID, every: float = HEARTBEAT_EVERY
) -> Iterator[None]:
    """Refresh the run's heartbeat from a thread while the body runs: batches also do,
    but a source may think for longer than the lease between two batches."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                with sessions.begin() as session:
                    if not heartbeat(session, run_id):
                        return
            except Exception:  # a missed beat is retried; the lease allows several
                log.warning("heartbeat of run %s failed", run_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_job(
    sessions: sessionmaker[Session],
    tenant_slug: str,
    job_name: str,
    *,
    trigger: str = "manual",
    batch_size: int = 5000,
    on_flush: Callable[[Counts], None] | None = None,
) -> RunReport:
    """Run a job from its connection's source to the end, resuming from its state."""
    return execute_run(
        sessions,
        tenant_slug,
        job_name,
        _source_driver,
        trigger=trigger,
        batch_size=batch_size,
        on_flush=on_flush,
    )


def run_queued(
    sessions: sessionmaker[Session],
    run_id: uuid.UUID,
    *,
    batch_size: int = 5000,
    on_flush: Callable[[Counts], None] | None = None,
) -> RunReport:
    """Claim a queued run and execute it from its connection's source (the worker's
    entry). RunNotQueuedError when it is gone or taken: a redelivery has nothing to do."""

    def begin(session: Session) -> tuple[SyncJob, SyncRun]:
        queued = session.get(SyncRun, run_id)
        if queued is None:
            raise RunNotQueuedError(
                f"run {run_id} does not exist", hint="its job was deleted; nothing to do"
            )
        job = session.get_one(SyncJob, queued.job_id)
        return job, start_run(session, job, queued.trigger, run_id=run_id)

    return _execute(sessions, begin, _source_driver, batch_size=batch_size, on_flush=on_flush)


def _source_driver(connection: Connection, state: dict[str, Any] | None) -> Driver:
    config = vetted_config(connection)
    return lambda sink: _drive(connection.connector, config, state, sink)


def _replay_unresolved(sessions: sessionmaker[Session], target: RunTarget, sink: SyncSink) -> None:
    """References to records that arrived later in the run can be resolved now."""
    with sessions.begin() as session:
        entries = open_entries(
            session, target.tenant_id, job_id=target.job_id, reason=REPLAYED_AT_END
        )
        if not entries:
            return
        result = replay_entries(
            session, run_id=target.run_id, mappers=sink.mappers, entries=entries
        )
        resolved_here = sum(
            1 for e in entries if e.run_id == target.run_id and e.id in set(result.replayed)
        )
        delta = result.counts
        delta.read = 0
        delta.quarantined = -resolved_here
        add_counts(session.get_one(SyncRun, target.run_id), delta)
        sink.counts.add(delta)


def _drive(
    connector_name: str, config: dict[str, Any], state: dict[str, Any] | None, sink: SyncSink
) -> None:
    from scheduler.network import connector_network

    connector = get_connector(connector_name)
    streams = set(sink.mappers)
    if connector.tap is not None:
        with connector_network():
            run_inprocess_tap(connector.tap, config, state, streams, sink)
    elif connector.tap_command is not None:
        with tempfile.TemporaryDirectory(prefix="l2c-tap-") as workdir:
            argv = connector.tap_command(config, Path(workdir), state)
            run_tap_process(argv, sink, cwd=Path(workdir))
    else:
        raise ConfigError(f"connector {connector_name!r} has no source", hint="it cannot be synced")


def latest_runs(
    session: Session, tenant: Tenant, job: SyncJob | None, limit: int = 20
) -> list[SyncRun]:
    query = select(SyncRun).where(SyncRun.tenant_id == tenant.id)
    if job is not None:
        query = query.where(SyncRun.job_id == job.id)
    return list(session.scalars(query.order_by(SyncRun.started_at.desc()).limit(limit)))


STDIN_CONNECTOR = "stdin"
"""Connector name of connections fed through `l2c singer target` (no source of their own)."""


def ensure_stdin_job(
    session: Session, tenant: Tenant, connection_name: str, mappings: Sequence[str]
) -> SyncJob:
    """The connection and job that hold xrefs, state and runs of a Singer target feed."""
    compiled = compile_refs(mappings, stored_sources(session, tenant.id, mappings))
    connection = session.scalar(
        select(Connection).where(
            Connection.tenant_id == tenant.id, Connection.name == connection_name
        )
    )
    if connection is None:
        connection = Connection(
            tenant_id=tenant.id, name=connection_name, connector=STDIN_CONNECTOR, config={}
        )
        session.add(connection)
        session.flush()
    elif connection.connector != STDIN_CONNECTOR:
        raise ConfigError(
            f"connection {connection_name!r} is a {connection.connector} connection",
            hint="give `l2c singer target` its own --connection name",
        )
    name = f"singer-target:{connection_name}"
    job = session.scalar(
        select(SyncJob).where(SyncJob.tenant_id == tenant.id, SyncJob.name == name)
    )
    if job is None:
        job = SyncJob(tenant_id=tenant.id, name=name, connection_id=connection.id, mappings=[])
        session.add(job)
    job.mappings = list(mappings)
    job.streams = sorted({m.stream for m in compiled})
    session.flush()
    return job
