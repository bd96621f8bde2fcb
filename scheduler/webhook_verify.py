"""Verifying webhook calls without touching the database: a connection's `Verifier`
(its tenant, decrypted secrets or its connector's receiver, its settings), cached per
process by `VerifierCache`, and `WebhookIngest`, what an API process needs to take pushes.

Verification runs on the raw body bytes with the `standardwebhooks` library; whatever
it raises (it lets `ValueError`, `binascii.Error` and `UnicodeDecodeError` escape on
malformed input) becomes a `WebhookRejected` whose `kind` says malformed (400),
unauthenticated (401) or too large (413) — never a crash.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from connectors.sdk.webhooks import WebhookReceiver
from core.clock import utcnow
from core.logs import get_logger, register_secret
from core.model.tables import Connection
from core.store.engine import read_only_sessions
from core.store.inbox import MAX_EVENT_ID, NewEvent
from scheduler.connections import resolved_config
from scheduler.inbox_writer import InboxWriter
from scheduler.webhooks import (
    TOLERANCE,
    WebhookSettings,
    read_config,
    receiver_factory,
    receives_webhooks,
)

log = get_logger("l2c.webhooks")
MAX_SIGNATURES = 16
Kind = Literal["malformed", "unauthenticated", "too_large"]


class WebhookRejected(Exception):  # noqa: N818 - reads as the outcome it is
    """A call that stores nothing; `kind` decides the status the sender gets."""

    def __init__(self, kind: Kind, message: str, hint: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Verifier:
    """Everything needed to check a call to one connection, without the database."""

    tenant_id: uuid.UUID
    connection_id: uuid.UUID
    settings: WebhookSettings
    secrets: tuple[tuple[Webhook, datetime | None], ...] = ()
    receiver: WebhookReceiver | None = None
    loaded_at: float = field(default_factory=time.monotonic)

    def events(
        self, headers: Mapping[str, str], body: bytes, *, signed: bool = True
    ) -> list[NewEvent]:
        """The events of a genuine call (`signed=False`: the caller already authenticated
        it by API key). Raises WebhookRejected; nothing else escapes."""
        limit = self.settings.max_body_bytes
        if limit is not None and len(body) > limit:
            raise WebhookRejected(
                "too_large",
                f"the body has {len(body)} bytes; this connection accepts at most {limit}",
                "send smaller events, or raise the connection's webhook max_body_bytes",
            )
        if self.receiver is not None and signed:
            return self._from_receiver(headers, body)
        event_id = _event_id(headers.get("webhook-id"))
        if signed:
            self._verify_signature(event_id, headers, body)
        event_type = _standard_body(body)
        return [
            NewEvent(
                self.tenant_id,
                self.connection_id,
                event_id,
                self.settings.stream_of(event_type)[:MAX_EVENT_ID],
                body,
            )
        ]

    def _verify_signature(self, event_id: str, headers: Mapping[str, str], body: bytes) -> None:
        timestamp = headers.get("webhook-timestamp")
        signature = headers.get("webhook-signature")
        if not timestamp or not signature:
            missing = "webhook-timestamp" if not timestamp else "webhook-signature"
            raise WebhookRejected(
                "malformed",
                f"the {missing} header is missing",
                "send webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks)",
            )
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise WebhookRejected(
                "malformed",
                "webhook-timestamp must be whole Unix seconds",
                "send the time of the attempt as an integer, e.g. 1700000000",
            )
        _check_signature_syntax(signature)
        plain = {
            "webhook-id": event_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": signature,
        }
        now = utcnow()
        for webhook, expires_at in self.secrets:
            if expires_at is not None and now >= expires_at:
                continue
            try:
                webhook.verify(body, plain, json_parse=False)
            except WebhookVerificationError as error:
                text = str(error)
                if "too old" in text or "too new" in text:
                    raise WebhookRejected(
                        "unauthenticated",
                        f"webhook-timestamp is more than {TOLERANCE} s from our clock",
                        "sign each attempt with the current time; check the sender's clock",
                    ) from None
                continue
            except UnicodeDecodeError:
                raise _not_utf8() from None
            except Exception:
                raise WebhookRejected(
                    "malformed",
                    "webhook-signature is not a list of `v1,<base64>` signatures",
                    "send space-separated `v1,<base64 HMAC-SHA256>` signatures",
                ) from None
            return
        raise WebhookRejected(
            "unauthenticated",
            "no signature matches this connection's secret",
            "sign `{webhook-id}.{webhook-timestamp}.{body}` with the connection's whsec_ "
            "secret, over the exact bytes sent",
        )

    def _from_receiver(self, headers: Mapping[str, str], body: bytes) -> list[NewEvent]:
        assert self.receiver is not None
        try:
            found = self.receiver.verify(headers, body)
        except Exception as error:
            category = getattr(error, "category", None)
            message = getattr(error, "message", None) or "the call could not be verified"
            hint = getattr(error, "hint", None) or "check the sender's webhook settings"
            if category == "config":
                raise WebhookRejected("unauthenticated", message, hint) from None
            if category != "data":
                log.error(
                    "webhook receiver failed",
                    connection_id=str(self.connection_id),
                    error=repr(error),
                )
            raise WebhookRejected("malformed", message, hint) from None
        events = []
        for event in found:
            if not (isinstance(event.id, str) and 0 < len(event.id) <= MAX_EVENT_ID):
                raise WebhookRejected(
                    "malformed", "an event of this call has no usable id", "see the connector"
                )
            payload = orjson.dumps({"data": dict(event.record)}, default=str)
            stream = str(event.stream)[:MAX_EVENT_ID]
            events.append(NewEvent(self.tenant_id, self.connection_id, event.id, stream, payload))
        return events


def _event_id(value: str | None) -> str:
    if not value:
        raise WebhookRejected(
            "malformed",
            "the webhook-id header is missing",
            "send a unique webhook-id per event, the same on every retry",
        )
    if len(value) > MAX_EVENT_ID or " " in value or not value.isprintable():
        raise WebhookRejected(
            "malformed",
            f"webhook-id must be 1-{MAX_EVENT_ID} printable characters",
            "use ids such as msg_2Kx9… (no spaces or control characters)",
        )
    return value


def _check_signature_syntax(header: str) -> None:
    """What the library would crash on (ValueError) is refused here as malformed."""
    parts = header.split(" ")
    if len(parts) > MAX_SIGNATURES or any(part.count(",") != 1 for part in parts):
        raise WebhookRejected(
            "malformed",
            "webhook-signature is not a list of `v1,<base64>` signatures",
            f"send at most {MAX_SIGNATURES} space-separated `v1,<base64 HMAC-SHA256>` signatures",
        )


def _not_utf8() -> WebhookRejected:
    return WebhookRejected("malformed", "the body is not UTF-8", "send UTF-8 encoded JSON")


def _standard_body(body: bytes) -> str:
    """The event type of a Standard Webhooks body `{"type", "timestamp", "data"}`."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            body.decode()
        except UnicodeDecodeError:
            raise _not_utf8() from None
        raise WebhookRejected(
            "malformed", "the body is not JSON", "send a JSON object {type, timestamp, data}"
        ) from None
    if not isinstance(document, dict):
        raise WebhookRejected(
            "malformed", "the body is not a JSON object", "send {type, timestamp, data}"
        )
    event_type = document.get("type")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= MAX_EVENT_ID:
        raise WebhookRejected(
            "malformed",
            "the body has no `type` (a string of 1-255 characters)",
            'send e.g. {"type": "customers.updated", "timestamp": …, "data": {…}}',
        )
    data = document.get("data")
    records = data if isinstance(data, list) else [data]
    if not all(isinstance(record, dict) for record in records):
        raise WebhookRejected(
            "malformed",
            "`data` must be an object (one record) or a list of objects",
            "put the record's fields in `data`",
        )
    return event_type


def build_verifier(connection: Connection) -> Verifier | None:
    """The verifier of a connection that receives webhooks, else None."""
    config = read_config(connection)
    if not receives_webhooks(connection, config):
        return None
    receiver = None
    factory = receiver_factory(connection)
    if factory is not None:
        receiver = factory(resolved_config(connection))
    now = utcnow()
    live = [s for s in config.secrets if s.valid_at(now)]
    register_secret(*(s.value for s in live))
    return Verifier(
        connection.tenant_id,
        connection.id,
        config.settings,
        tuple((Webhook(s.value), s.expires_at) for s in live),
        receiver,
    )


class VerifierCache:
    """Per-process verifiers by connection id, so a call costs no database read.

    Entries live `ttl` seconds (another process's rotation shows up by then; this
    process's is applied at once via `invalidate`). Unknown ids are remembered briefly
    too, so a flood of calls to a wrong URL does not become a flood of queries. A call
    whose signature fails may reload its entry, at most once a second per connection:
    a sender that switched to a secret made in another process is not turned away.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ttl: float = 30.0,
        negative_ttl: float = 5.0,
        max_entries: int = 10_000,
    ) -> None:
        self._sessions = read_only_sessions(sessions)
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._max = max_entries
        self._entries: dict[uuid.UUID, tuple[float, Verifier | None]] = {}
        self._lock = threading.Lock()

    def peek(self, connection_id: uuid.UUID) -> Verifier | Literal[False] | None:
        """The cached verifier (None: known not to receive), or False on a miss."""
        entry = self._entries.get(connection_id)
        if entry is None:
            return False
        expires, verifier = entry
        if time.monotonic() >= expires:
            return False
        return verifier

    def load(self, connection_id: uuid.UUID) -> Verifier | None:
        """Read the connection and cache its verifier (blocking: call off the event loop)."""
        with self._sessions() as session:
            connection = session.get(Connection, connection_id)
            verifier = build_verifier(connection) if connection is not None else None
        ttl = self._ttl if verifier is not None else self._negative_ttl
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[connection_id] = (time.monotonic() + ttl, verifier)
        return verifier

    def may_reload(self, verifier: Verifier) -> bool:
        return time.monotonic() - verifier.loaded_at >= 1.0

    def invalidate(self, connection_id: uuid.UUID) -> None:
        self._entries.pop(connection_id, None)


class WebhookIngest:
    """What an API process needs to take webhooks: cached verifiers and the inbox's
    group-commit writer. One per app; `close` commits what is queued."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        on_stored: Callable[[set[Any]], None] | None = None,
    ) -> None:
        self.verifiers = VerifierCache(sessions)
        self.writer = InboxWriter(sessions.kw["bind"], on_stored=on_stored)

    def close(self) -> None:
        self.writer.close()
