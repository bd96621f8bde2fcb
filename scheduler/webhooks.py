"""Inbound webhooks: who may push to a connection, its settings and its signing
secrets (generated here, kept encrypted with the connection's other secrets).

A connection receives pushes when its connector has a webhook receiver (the system's
own signature scheme, its secret among the connection's settings), when it has a
Standard Webhooks secret (`whsec_…`, made by `rotate_secret`), or when its settings
take API keys instead. How a call is checked: scheduler/webhook_verify.py.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from connectors.sdk.registry import get_connector
from core.clock import utcnow
from core.errors import ConfigError, NotFoundError
from core.logs import get_logger, register_secret
from core.model.tables import Connection
from scheduler.connections import secret_document, store_secret_document

log = get_logger("l2c.webhooks")
TOLERANCE = 300
"""Seconds a `webhook-timestamp` may differ from our clock, either way (the library's)."""
ROTATION_OVERLAP = timedelta(hours=24)
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


class WebhookSettings(BaseModel):
    """How a connection takes pushes (kept with its secrets, so one update is atomic)."""

    model_config = ConfigDict(extra="forbid")

    auth: Literal["signature", "api_key"] = Field(
        default="signature",
        description="`signature`: Standard Webhooks (or the connector's own scheme). "
        "`api_key`: for senders that cannot sign, a key of this tenant with the `webhook` "
        "scope in `Authorization: Bearer …`, and a unique `webhook-id` per event.",
    )
    streams: dict[str, str] = Field(
        default_factory=dict,
        max_length=500,
        description="Event `type` -> source stream. Unlisted types use the type before its "
        "last `.` (`customers.updated` -> `customers`).",
        examples=[{"BusinessPartner.Changed": "customers"}],
    )
    max_body_bytes: int | None = Field(
        default=None,
        ge=256,
        le=26_214_400,
        description="Largest body accepted for this connection (the API-wide limit, "
        "L2C_MAX_BODY_BYTES, still applies first).",
        examples=[65536],
    )

    def stream_of(self, event_type: str) -> str:
        mapped = self.streams.get(event_type)
        if mapped:
            return mapped
        head, dot, _ = event_type.rpartition(".")
        return head if dot and head else event_type


# ------------------------------------------------------------------ stored secrets


@dataclass(frozen=True, slots=True)
class SigningSecret:
    value: str
    created_at: datetime
    expires_at: datetime | None

    @property
    def fingerprint(self) -> str:
        """Shown instead of the secret: enough to tell two secrets apart."""
        return "sha256:" + hashlib.sha256(self.value.encode()).hexdigest()[:16]

    def valid_at(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    settings: WebhookSettings
    secrets: tuple[SigningSecret, ...]
    """Newest first."""


def read_config(connection: Connection) -> WebhookConfig:
    part = secret_document(connection).get("webhook") or {}
    stored = [
        SigningSecret(
            s["value"],
            datetime.fromisoformat(s["created_at"]),
            datetime.fromisoformat(s["expires_at"]) if s.get("expires_at") else None,
        )
        for s in part.get("secrets", [])
    ]
    return WebhookConfig(WebhookSettings.model_validate(part.get("settings", {})), tuple(stored))


def _write_config(connection: Connection, config: WebhookConfig) -> None:
    document = secret_document(connection)
    document["webhook"] = {
        "settings": config.settings.model_dump(),
        "secrets": [
            {
                "value": s.value,
                "created_at": s.created_at.isoformat(),
                "expires_at": s.expires_at.isoformat() if s.expires_at else None,
            }
            for s in config.secrets
        ],
    }
    store_secret_document(connection, document)


def _owned(session: Session, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> Connection:
    connection = session.get(Connection, connection_id)
    if connection is None or connection.tenant_id != tenant_id:
        raise NotFoundError(
            "no such connection in this tenant",
            hint="list them with GET /v1/connections",
        )
    return connection


def new_secret() -> str:
    """32 random bytes as `whsec_<base64>` (Standard Webhooks asks for 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True, slots=True)
class Rotated:
    secret: str
    """The new secret: shown once, never again."""
    config: WebhookConfig


def rotate_secret(
    session: Session,
    tenant_id: uuid.UUID,
    connection_id: uuid.UUID,
    *,
    previous_valid_for: timedelta = ROTATION_OVERLAP,
) -> Rotated:
    """Give the connection a new signing secret; the current ones stay valid for
    `previous_valid_for` (zero revokes them now, e.g. after a leak)."""
    connection = _owned(session, tenant_id, connection_id)
    if receiver_factory(connection) is not None:
        raise ConfigError(
            f"connector {connection.connector!r} verifies pushes with its own scheme",
            hint="its signing secret is one of the connection's settings: update the connection",
        )
    now = utcnow()
    config = read_config(connection)
    cutoff = now + previous_valid_for
    kept = tuple(
        SigningSecret(s.value, s.created_at, min(s.expires_at or cutoff, cutoff))
        for s in config.secrets
        if s.valid_at(now) and previous_valid_for > timedelta(0)
    )
    value = new_secret()
    register_secret(value)
    rotated = WebhookConfig(config.settings, (SigningSecret(value, now, None), *kept[:3]))
    _write_config(connection, rotated)
    session.flush()
    return Rotated(value, rotated)


def webhook_config(
    session: Session, tenant_id: uuid.UUID, connection_id: uuid.UUID
) -> WebhookConfig:
    return read_config(_owned(session, tenant_id, connection_id))


def update_settings(
    session: Session, tenant_id: uuid.UUID, connection_id: uuid.UUID, settings: WebhookSettings
) -> WebhookConfig:
    connection = _owned(session, tenant_id, connection_id)
    config = WebhookConfig(settings, read_config(connection).secrets)
    _write_config(connection, config)
    session.flush()
    return config


def receives_webhooks(connection: Connection, config: WebhookConfig) -> bool:
    """Whether the endpoint answers for this connection at all (else 404)."""
    if config.settings.auth == "api_key":
        return True
    if receiver_factory(connection) is not None:
        return True
    now = utcnow()
    return any(s.valid_at(now) for s in config.secrets)


def receiver_factory(connection: Connection) -> Any:
    try:
        spec = get_connector(connection.connector)
    except Exception:  # an uninstalled connector receives nothing
        return None
    return getattr(spec, "webhook_receiver", None)


def fetcher_factory(connection: Connection) -> Any:
    """The connector's re-reader of key-only events, if it has one."""
    try:
        spec = get_connector(connection.connector)
    except Exception:  # an uninstalled connector fetches nothing
        return None
    return getattr(spec, "fetcher", None)
