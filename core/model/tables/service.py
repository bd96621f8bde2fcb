"""Entities of the service surface: API keys, idempotent requests, stored mappings,
the webhook inbox, subscriptions and their outbox."""

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
from core.model.tables.base import Base, BulkTenantMixin, IdMixin, TenantMixin, TimestampMixin


class ApiKey(IdMixin, TenantMixin, Base):
    """A tenant's API key: the public `prefix` finds the row, only a hash of the secret
    is kept (the full key is shown once, at creation)."""

    __tablename__ = "api_key"

    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class IdempotentRequest(TenantMixin, Base):
    """The first response to a POST carrying an `Idempotency-Key`; a repeat gets it back."""

    __tablename__ = "idempotent_request"
    __table_args__ = (Index(None, "created_at"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32))
    """Hash of method, path and body: the same key with another request is refused."""
    status_code: Mapped[int | None]
    """None while the first request is still being answered."""
    headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MappingDocument(IdMixin, TenantMixin, TimestampMixin, Base):
    """A tenant's own mapping (YAML text), used by name like a built-in one."""

    __tablename__ = "mapping_document"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)


class InboxEvent(IdMixin, TenantMixin, Base):
    """A verified webhook event, stored raw before the sender gets its 202.

    Unique per (connection, event id): a redelivery finds the row and has no second
    effect. A worker maps pending events through the same path as a sync.
    """

    __tablename__ = "inbox_event"
    __table_args__ = (
        UniqueConstraint("connection_id", "event_id"),
        Index(None, "status", "received_at"),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connection.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(255))
    stream: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    """The raw body as received (what the signature covers)."""
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    processed_at: Mapped[datetime | None]
    run_id: Mapped[uuid.UUID | None]
    error: Mapped[str | None] = mapped_column(Text)


class Subscription(IdMixin, TenantMixin, TimestampMixin, Base):
    """An outbound webhook endpoint: which changes it wants and where they go.

    `connection_id` ties the endpoint to a connected system, so changes that came from
    that system are never sent back to it (loop prevention).
    """

    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), Index(None, "tenant_id", "enabled"))

    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    """The `whsec_` signing secret, encrypted with L2C_SECRET_KEY."""
    entities: Mapped[list[Any] | None] = mapped_column(JSON)
    """Canonical entities to send; None sends all."""
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connection.id", ondelete="CASCADE")
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    failing_since: Mapped[datetime | None]


class OutboxMessage(BulkTenantMixin, Base):
    """One change to deliver to one subscription, written in the change's transaction.

    The payload is built from the change-log row at delivery time, so the outbox row
    stays small. Exhausted retries leave it `dead` (a dead letter) until replayed. The
    `webhook-id` is derived from `id`, so it stays the same across retries and replays.
    Written per change like the change log, hence no foreign key on the tenant.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        Index(None, "tenant_id", "status", "id"),
        Index(None, "subscription_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscription.id", ondelete="CASCADE")
    )
    change_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
