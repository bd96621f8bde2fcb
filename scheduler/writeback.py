"""Write-back: a job of kind `writeback` writes canonical records into its connection's
system through the connector's writer and one outbound mapping.

A pass (`run_writeback`) collects the entity's changes into the job's queue, then writes
the due items one by one, each outcome in its own transaction (core/store/writeback.py
says why that loses and duplicates nothing). For each record:

* `when` false (or the record deleted) -> skipped;
* payload cannot be made (unknown reference, unmapped code) -> failed, with the reason;
* payload identical to the one last written -> nothing sent;
* writer ok -> the remote id becomes an external ref (under the mapping's `remote_ref`)
  and the system's status the record's `erp_status`, written on behalf of the
  connection so the change is not sent back;
* DataError -> failed (the system refused it; fixed by changing the record or retried);
  TransientError -> retried on the outbox's schedule (Retry-After honoured), then dead;
  ConfigError -> the run fails and the items stay pending for the next run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from connectors.sdk import errors as connector_errors
from connectors.sdk.registry import get_connector
from connectors.sdk.writer import Writer, WriteRequest, WriteResult
from core.clock import utcnow
from core.errors import ConfigError, ConflictError
from core.model.entities import EntitySpec, entity
from core.model.tables import Connection, SyncJob, SyncRun
from core.store import writeback as queue
from core.store.direct import patch_record
from core.store.records import read_records
from core.sync.engine import Counts, RunTarget
from core.sync.runs import add_counts
from mappings.outbound import OutboundMapping, load_outbound, payload_digest
from scheduler.connections import vetted_config
from scheduler.errors import translate
from scheduler.network import connector_network
from scheduler.outbox import next_attempt_at

log = logging.getLogger(__name__)
CHUNK = 100
STATUS_FIELD = "erp_status"


@dataclass
class WritebackCounts:
    """What one pass did; stored on the run as read/inserted/updated/unchanged/skipped/
    quarantined (failed) counts."""

    collected: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    deferred: int = 0

    def as_counts(self) -> Counts:
        return Counts(
            read=self.created + self.updated + self.unchanged + self.skipped + self.failed,
            inserted=self.created,
            updated=self.updated,
            unchanged=self.unchanged,
            skipped=self.skipped,
            quarantined=self.failed,
        )


def outbound_mapping(
    job: SyncJob, connection: Connection, *, files: bool = True
) -> OutboundMapping:
    """The job's one outbound mapping, checked against its connection. `files=False`
    (the API) accepts built-in names only: a tenant must not make the hub read files."""
    refs = list(job.mappings or [])
    if len(refs) != 1:
        raise ConfigError(
            f"write-back job {job.name!r} needs exactly one outbound mapping, not {len(refs)}",
            hint="e.g. sap/outbound/order_to_sales_order",
        )
    mapping = load_outbound(refs[0], files=files)
    if mapping.connector != connection.connector:
        raise ConfigError(
            f"mapping {refs[0]!r} writes to {mapping.connector} connections, and "
            f"{connection.name!r} is a {connection.connector} connection",
            hint="pick an outbound mapping for this connector",
        )
    return mapping


def open_writer(connection: Connection) -> Writer:
    spec = get_connector(connection.connector)
    if spec.writer is None:
        raise ConfigError(
            f"connector {connection.connector!r} cannot write",
            hint="write-back needs a connector with a writer (see `l2c connectors`)",
        )
    try:
        return spec.writer(vetted_config(connection))
    except connector_errors.ConnectorError as error:
        raise translate(error) from error


def run_writeback(
    sessions: sessionmaker[Session],
    target: RunTarget,
    job: SyncJob,
    connection: Connection,
    *,
    on_progress: Callable[[WritebackCounts], None] | None = None,
) -> WritebackCounts:
    """One pass of a write-back job: collect changes, write what is due."""
    mapping = outbound_mapping(job, connection)
    spec = entity(mapping.entity)
    counts = WritebackCounts()
    while True:
        with sessions.begin() as session:
            found = queue.collect(
                session,
                tenant_id=target.tenant_id,
                job_id=target.job_id,
                connection_id=target.connection_id,
                entity=spec.name,
                run_id=target.run_id,
            )
        counts.collected += found
        if found < 50_000:
            break
    with connector_network():
        writer = open_writer(connection)
        try:
            _write_due(sessions, target, mapping, spec, writer, counts, on_progress)
        finally:
            writer.close()
    return counts


def _write_due(
    sessions: sessionmaker[Session],
    target: RunTarget,
    mapping: OutboundMapping,
    spec: EntitySpec,
    writer: Writer,
    counts: WritebackCounts,
    on_progress: Callable[[WritebackCounts], None] | None,
) -> None:
    one = _Writes(sessions, target, mapping, spec, writer, counts)
    handled: list[int] = []
    while True:
        with sessions() as session:
            items = queue.due(
                session, tenant_id=target.tenant_id, job_id=target.job_id, exclude=handled
            )
            if not items:
                return
            ids = [item.record_id for item in items]
            records = read_records(session, target.tenant_id, spec, ids)
            lookup = _XrefCache(session, target, spec, list(records.values()))
            own_ids = queue.remote_ids(
                session,
                tenant_id=target.tenant_id,
                connection_id=target.connection_id,
                entity=spec.name,
                ids=ids,
                object=mapping.remote_ref,
            )
        before = WritebackCounts(**counts.__dict__)
        for item in items:
            handled.append(item.id)
            remote_id = own_ids.get(item.record_id) or item.remote_id
            one.write(item, records.get(item.record_id), lookup, remote_id)
        with sessions.begin() as session:
            run = session.get_one(SyncRun, target.run_id)
            delta = WritebackCounts(
                **{k: getattr(counts, k) - getattr(before, k) for k in counts.__dict__}
            )
            add_counts(run, delta.as_counts())
        if on_progress is not None:
            on_progress(counts)


@dataclass
class _Writes:
    """Writes one item at a time; each outcome is its own transaction."""

    sessions: sessionmaker[Session]
    target: RunTarget
    mapping: OutboundMapping
    spec: EntitySpec
    writer: Writer
    counts: WritebackCounts

    def write(
        self,
        item: queue.Due,
        record: dict[str, Any] | None,
        lookup: _XrefCache,
        remote_id: str | None,
    ) -> None:
        if record is None or not self.mapping.wants(record):
            reason = "the record was deleted" if record is None else "`when` leaves it out"
            with self.sessions.begin() as session:
                queue.skipped(session, item, tenant_id=self.target.tenant_id, reason=reason)
            self.counts.skipped += 1
            return
        try:
            payload = self.mapping.payload(record, lookup)
        except Exception as error:  # a DataError naming the payload field, or a bug
            self._fail(item, error, "data")
            return
        digest = payload_digest(payload)
        if remote_id is not None and digest == item.payload_hash:
            self._written(item, remote_id, None, digest)  # this version is there already
            self.counts.unchanged += 1
            return
        request = WriteRequest(
            object=self.mapping.object,
            payload=payload,
            idempotency_key=item.record_id.hex,
            remote_id=remote_id,
            owned=self.mapping.owns,
        )
        try:
            result = self._send(request)
        except connector_errors.ConfigError as error:
            raise translate(error) from error
        except connector_errors.TransientError as error:
            _defer(self.sessions, item, self.target.tenant_id, error)
            self.counts.deferred += 1
            return
        except Exception as error:  # DataError, or a bug: park the item with the reason
            if not isinstance(error, connector_errors.DataError):
                log.exception("writer of %s failed on %s", self.mapping.connector, item.record_id)
            self._fail(item, error, "bug")
            return
        self._written(item, result.remote_id, result.status, digest)
        if result.created:
            self.counts.created += 1
        else:
            self.counts.updated += 1

    def _send(self, request: WriteRequest) -> WriteResult:
        result = self.writer.upsert(request)
        if request.remote_id is None and not result.created:
            # found by its idempotency key: created by an attempt whose answer was lost,
            # perhaps from an older version of the record; bring what the hub owns up to date
            result = self.writer.upsert(replace(request, remote_id=result.remote_id))
            result = replace(result, created=True)
        return result

    def _written(self, item: queue.Due, remote_id: str, status: str | None, digest: bytes) -> None:
        with self.sessions.begin() as session:
            queue.written(
                session,
                item,
                tenant_id=self.target.tenant_id,
                connection_id=self.target.connection_id,
                entity=self.spec.name,
                object=self.mapping.remote_ref,
                remote_id=remote_id,
                remote_status=status,
                payload_hash=digest,
            )
            _record_status(session, self.target, self.spec, item.record_id, status)

    def _fail(self, item: queue.Due, error: BaseException, category: str) -> None:
        with self.sessions.begin() as session:
            queue.failed(
                session,
                item,
                tenant_id=self.target.tenant_id,
                error=_describe(error),
                category=getattr(error, "category", category),
            )
        self.counts.failed += 1


def _record_status(
    session: Session, target: RunTarget, spec: EntitySpec, record_id: uuid.UUID, status: str | None
) -> None:
    """The system's status of the record, written on behalf of the connection."""
    if status is None or STATUS_FIELD not in spec.fields:
        return
    try:  # refused before anything is written, so the transaction stays usable
        patch_record(
            session,
            target.tenant_id,
            spec,
            record_id,
            {STATUS_FIELD: status},
            connection_id=target.connection_id,
        )
    except ConflictError:  # another connection owns erp_status: keep its value
        log.info("erp_status of %s %s is owned by another connection", spec.name, record_id)


def _defer(
    sessions: sessionmaker[Session], item: queue.Due, tenant: uuid.UUID, error: Exception
) -> None:
    now = utcnow()
    retry_after = getattr(error, "retry_after", None)
    when = next_attempt_at(
        item.attempts + 1,
        now,
        retry_after=timedelta(seconds=retry_after) if retry_after else None,
    )
    with sessions.begin() as session:
        queue.retry_later(
            session,
            item,
            tenant_id=tenant,
            error=_describe(error),
            delay=None if when is None else when - now,
        )


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    hint = getattr(error, "hint", None)
    return f"{message} ({hint})" if hint else message


class _XrefCache:
    """(entity, canonical id) -> external id in the job's connection, prefetched for a
    chunk of records from the ids their reference fields hold (one query per entity)."""

    def __init__(
        self,
        session: Session,
        target: RunTarget,
        spec: EntitySpec,
        records: list[dict[str, Any]],
    ) -> None:
        wanted: dict[str, set[Any]] = {}
        for record in records:
            for field, ref in spec.references.items():
                if record.get(field) is not None:
                    wanted.setdefault(ref, set()).add(record[field])
            for child_field, child in spec.children.items():
                for line in record.get(child_field) or []:
                    for field, ref in child.references.items():
                        if line.get(field) is not None:
                            wanted.setdefault(ref, set()).add(line[field])
        self.found: dict[tuple[str, str], str] = {}
        for name, ids in wanted.items():
            for canonical, external in queue.remote_ids(
                session,
                tenant_id=target.tenant_id,
                connection_id=target.connection_id,
                entity=name,
                ids=sorted(ids, key=str),
            ).items():
                self.found[(name, str(canonical))] = external

    def __call__(self, name: str, canonical: Any) -> str | None:
        return self.found.get((name, str(canonical)))
