"""The sync engine: consumes Singer messages and commits them to the store in batches.

Each flush is ONE transaction holding the batch's records, external refs, change-log
rows, quarantined records, the run's counters and the newest Singer STATE whose
preceding records are all in this or an earlier flush. A run killed at any instant
therefore resumes from a state that matches the store: records after it are read
again and, being unchanged, cost no write — nothing lost, nothing duplicated.

Batches are prepared (mapped, validated, hashed) on the caller's thread and committed,
in order, by one writer thread: while the database works on batch N, Python prepares
batch N+1 — on two cores that is the difference between waiting and working.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.model.entities import entity
from core.model.tables import SyncRun
from core.store.engine import read_only_sessions
from core.store.maintenance import Growth, analyze
from core.store.quarantine import Source, quarantine_records
from core.store.state import save_state
from core.store.tables import table_for
from core.store.upsert import WriteContext, upsert_batch
from core.store.xref import load_hashes
from core.sync.pipeline import Known, Prepared, prepare, resolve
from core.sync.ports import Mapper
from core.sync.runs import add_counts

PROBE_EVERY = 8


@dataclass(slots=True)
class Counts:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    quarantined: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True, slots=True)
class RunTarget:
    """Whom a run writes for."""

    tenant_id: uuid.UUID
    connection_id: uuid.UUID
    job_id: uuid.UUID
    run_id: uuid.UUID


@dataclass(slots=True)
class _Batch:
    records: dict[str, list[dict[str, Any]]]
    prepared: list[tuple[str, Mapper, Prepared]]
    state: dict[str, Any] | None


class _Writer:
    """One background thread committing batches in order; its first error is raised on
    the caller's thread at the next submit or at close (no batch after it is written)."""

    def __init__(self, commit: Callable[[_Batch], None]) -> None:
        self._commit = commit
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="l2c-sync-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._commit(batch)
                except BaseException as error:
                    self._error = error
            self._queue.task_done()
        self._queue.task_done()

    def wait(self) -> None:
        """Block until every submitted batch is committed."""
        self._queue.join()
        self._raise()

    def submit(self, batch: _Batch) -> None:
        self._raise()
        self._queue.put(batch)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


@dataclass
class SyncSink:
    """Receives SCHEMA / RECORD / STATE from any driver (in-process tap, subprocess, stdin).

    `mappers` maps a stream to the mappings that consume it, in dependency order (an
    account mapping before the contact mapping that refers to accounts).
    """

    sessions: sessionmaker[Session]
    target: RunTarget
    mappers: Mapping[str, Sequence[Mapper]]
    batch_size: int = 5000
    max_interval: float = 5.0
    """Commit at the next STATE after this many seconds, even with a small batch."""
    on_flush: Callable[[Counts], None] | None = None
    on_state_committed: Callable[[dict[str, Any]], None] | None = None
    counts: Counts = field(default_factory=Counts)
    unmapped: dict[str, int] = field(default_factory=dict)
    _buffer: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _buffered: int = 0
    _state: dict[str, Any] | None = None
    _state_dirty: bool = False
    _last_flush: float = field(default_factory=time.monotonic)
    _growth: Growth = field(default_factory=Growth)
    _writer: _Writer | None = None
    _readers: sessionmaker[Session] | None = None
    _misses: dict[str, int] = field(default_factory=dict)
    """Per mapping: consecutive batches in which the store knew none of the records."""

    # -- messages ---------------------------------------------------------------------
    def schema(self, stream: str, schema: dict[str, Any], key_properties: Sequence[str]) -> None:
        """Mappings define what a record must hold; a stream's SCHEMA adds nothing to it."""

    def record(self, stream: str, record: dict[str, Any]) -> None:
        buffer = self._buffer.get(stream)
        if buffer is None:
            if stream not in self.mappers:
                self.unmapped[stream] = self.unmapped.get(stream, 0) + 1
                return
            buffer = self._buffer[stream] = []
        buffer.append(record)
        self._buffered += 1
        if self._buffered >= self.batch_size:
            self.flush()

    def state(self, value: dict[str, Any]) -> None:
        self._state = value
        self._state_dirty = True
        if time.monotonic() - self._last_flush >= self.max_interval:
            self.flush()

    def wait(self) -> None:
        """Block until what has been flushed so far is committed."""
        if self._writer is not None:
            self._writer.wait()

    def close(self) -> None:
        """Commit what is left, with the final state, and wait for the writer."""
        try:
            self.flush()
        finally:
            if self._writer is not None:
                self._writer.close()

    # -- committing -------------------------------------------------------------------
    def flush(self) -> None:
        if not self._buffered and not self._state_dirty:
            return
        records, self._buffer, self._buffered = self._buffer, {}, 0
        prepared = [
            (stream, mapper, prepare(mapper, rows, self._known(mapper)))
            for stream, rows in records.items()
            for mapper in self.mappers[stream]
        ]
        batch = _Batch(records, prepared, self._state if self._state_dirty else None)
        self._state_dirty = False
        self._last_flush = time.monotonic()
        if self._writer is None:
            self._writer = _Writer(self._commit)
        self._writer.submit(batch)

    def _known(self, mapper: Mapper) -> Known | None:
        """What the store holds for a batch, read beside the writer: records whose hash
        matches are skipped before mapping. Only a shortcut — the writer decides again
        inside its transaction (the batch before may still be in flight). During a first
        load the store knows nothing, so after a batch without a single hit the lookup is
        tried again only every PROBE_EVERY batches."""
        misses = self._misses.get(mapper.name, 0)
        if misses and misses % PROBE_EVERY:
            self._misses[mapper.name] = misses + 1
            return None
        if self._readers is None:
            self._readers = read_only_sessions(self.sessions)
        readers, connection_id = self._readers, self.target.connection_id

        def known(external_ids: Sequence[str]) -> Mapping[str, bytes]:
            with readers() as session:
                found = load_hashes(
                    session, connection_id, mapper.entity, mapper.object, external_ids
                )
            self._misses[mapper.name] = 0 if found else misses + 1
            return found

        return known

    def _commit(self, batch: _Batch) -> None:
        counts = Counts(read=sum(len(rows) for rows in batch.records.values()))
        with self.sessions.begin() as session:
            for stream, mapper, prepared in batch.prepared:
                counts.add(self._apply(session, stream, mapper, batch.records[stream], prepared))
            if batch.state is not None:
                save_state(
                    session,
                    tenant_id=self.target.tenant_id,
                    job_id=self.target.job_id,
                    run_id=self.target.run_id,
                    state=batch.state,
                )
            run = session.get_one(SyncRun, self.target.run_id)
            add_counts(run, counts)
            if self.unmapped:
                run.progress = {"unmapped_streams": dict(self.unmapped)}
        self.counts.add(counts)
        analyze(self.sessions.kw["bind"], self._growth.due())
        if self.on_flush:
            self.on_flush(self.counts)
        if batch.state is not None and self.on_state_committed:
            self.on_state_committed(batch.state)

    def _apply(
        self,
        session: Session,
        stream: str,
        mapper: Mapper,
        records: list[dict[str, Any]],
        prepared: Prepared,
    ) -> Counts:
        target = self.target
        spec = entity(mapper.entity)
        items, unresolved = resolve(session, target.connection_id, spec, prepared)
        context = WriteContext(target.tenant_id, target.connection_id, target.run_id, utcnow())
        outcome = upsert_batch(
            session,
            context,
            spec=spec,
            object_=mapper.object,
            items=items,
            owns=mapper.owns,
            match=mapper.match,
        )
        if outcome.inserted:
            self._growth.add(table_for(spec).name, outcome.inserted)
            self._growth.add("external_ref", outcome.inserted)
        external_ids = {i.position: i.external_id for i in items}
        rejects = [(records[p], e, x) for p, e, x in (*prepared.rejected, *unresolved)]
        rejects += [(records[p], e, external_ids.get(p)) for p, e in outcome.rejected]
        source = Source(target.tenant_id, target.connection_id, target.job_id, target.run_id)
        quarantine_records(session, source, stream=stream, mapping=mapper.name, entries=rejects)
        return Counts(
            read=0,
            inserted=outcome.inserted,
            updated=outcome.updated,
            unchanged=outcome.unchanged + prepared.unchanged,
            skipped=prepared.skipped,
            quarantined=len(rejects),
        )
