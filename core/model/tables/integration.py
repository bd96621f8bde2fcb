"""Integration entities: connections, jobs, runs, state, external refs, change log,
quarantine."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.model.tables.base import (
    Base,
    BulkTenantMixin,
    IdMixin,
    JsonDoc,
    TenantMixin,
    TimestampMixin,
)


class Connection(IdMixin, TenantMixin, TimestampMixin, Base):
    """A configured instance of a connector. Secret settings are kept encrypted apart."""

    __tablename__ = "connection"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(64))
    connector: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    secrets: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(32), default="unchecked")


class SyncJob(IdMixin, TenantMixin, TimestampMixin, Base):
    """What to sync: a connection's streams through mappings, optionally on a schedule."""

    __tablename__ = "sync_job"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(64))
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connection.id", ondelete="CASCADE"), index=True
    )
    mappings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    streams: Mapped[list[Any] | None] = mapped_column(JSON)
    schedule: Mapped[str | None] = mapped_column(String(64))
    """A five-field cron expression (UTC); None means on demand only."""
    enabled: Mapped[bool] = mapped_column(default=True)
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    """When the beat queues the next scheduled run; recomputed when the schedule changes."""
    kind: Mapped[str] = mapped_column(String(16), default="sync", server_default="sync")
    """`sync` reads the connection into the store; `writeback` writes canonical records
    into the connection's system through its writer and one outbound mapping."""


class SyncRun(IdMixin, TenantMixin, Base):
    """One execution of a job. Counts are committed with each batch, so they always
    agree with what is in the store."""

    __tablename__ = "sync_run"
    __table_args__ = (Index(None, "job_id", "started_at"), Index(None, "tenant_id", "started_at"))

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_job.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(32), default="queued")
    trigger: Mapped[str] = mapped_column(String(32), default="manual")
    worker: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    read_count: Mapped[int] = mapped_column(default=0)
    inserted_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    unchanged_count: Mapped[int] = mapped_column(default=0)
    skipped_count: Mapped[int] = mapped_column(default=0)
    quarantined_count: Mapped[int] = mapped_column(default=0)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    error_category: Mapped[str | None] = mapped_column(String(32))


class StreamState(TenantMixin, Base):
    """The last committed Singer bookmark of one stream of a job ('' = tap-level keys)."""

    __tablename__ = "stream_state"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sync_job.id", ondelete="CASCADE"), primary_key=True
    )
    stream: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    run_id: Mapped[uuid.UUID | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ExternalRef(BulkTenantMixin, Base):
    """Cross-reference: (connection, entity, source object, external id) <-> canonical id.

    One source record may feed several entities (an SAP business partner is an account
    and a contact), hence the entity in the key. `content_hash` is the hash of what the
    source last said, so an unchanged record costs a lookup and no write; `source_ts` is
    that version's source timestamp, so an older version is recognised as stale.
    """

    __tablename__ = "external_ref"
    __table_args__ = (Index(None, "entity_id"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connection.id", ondelete="CASCADE"), primary_key=True
    )
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    object: Mapped[str] = mapped_column(String(128), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    entity_id: Mapped[uuid.UUID]
    content_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    source_ts: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecordChange(BulkTenantMixin, Base):
    """Append-only change log: one row per real change of a canonical record.

    `seq` orders changes per tenant in commit order (writers serialise on a per-tenant
    lock while they append), so it is a safe incremental cursor for readers. Readers
    scan the primary key from their bookmark; a (tenant, entity, seq) index would cost
    every bulk load a third index.

    `changes` is `{field: [old, new]}` for an update and `{}` for an insert: the values a
    record was created with are its current values with the later diffs undone, so the
    log does not store them twice (and a bulk load writes a few bytes per record).
    """

    __tablename__ = "record_change"
    __table_args__ = (Index(None, "entity_id"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID]
    op: Mapped[str] = mapped_column(String(8))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    connection_id: Mapped[uuid.UUID | None]
    run_id: Mapped[uuid.UUID | None]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class Quarantine(IdMixin, TenantMixin, Base):
    """A record that could not be stored, with why and its raw payload, until it is
    fixed and replayed or discarded."""

    __tablename__ = "quarantine"
    __table_args__ = (
        Index(None, "tenant_id", "status", "created_at"),
        Index(None, "connection_id", "payload_hash"),
        Index(None, "run_id"),
    )

    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connection.id", ondelete="CASCADE")
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sync_job.id", ondelete="SET NULL"))
    run_id: Mapped[uuid.UUID | None]
    stream: Mapped[str] = mapped_column(String(255))
    mapping: Mapped[str | None] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(String(64))
    field: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    """A record re-read after a crash is recognised and not quarantined twice."""
    status: Mapped[str] = mapped_column(String(16), default="open")
    attempts: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class WritebackItem(BulkTenantMixin, Base):
    """One canonical record a write-back job must write (or has written) to its system.

    A pass first turns new change-log rows into items (one per record, so ten edits
    before a pass make one write), then claims due items and calls the writer. An item
    is `pending` until written, `written` once the system holds this version, `failed`
    when the system refused it (its message in `last_error`; a later change of the
    record or a retry makes it pending again), `skipped` when the mapping's `when`
    left it out, `dead` when retries ran out. The remote id the system gave is kept
    here and as an external ref, so the next write of the record is an update.
    """

    __tablename__ = "writeback_item"
    __table_args__ = (
        UniqueConstraint("job_id", "record_id"),
        Index(None, "job_id", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_job.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    change_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    """The newest change of the record this item stands for."""
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    remote_id: Mapped[str | None] = mapped_column(String(255))
    remote_status: Mapped[str | None] = mapped_column(String(64))
    payload_hash: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    """Digest of the payload last written: an unchanged payload is not sent again."""
    last_error: Mapped[str | None] = mapped_column(Text)
    error_category: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    written_at: Mapped[datetime | None]
