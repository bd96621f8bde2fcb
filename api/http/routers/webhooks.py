"""Inbound webhooks: the push endpoint's route (documentation, and the way in for calls
the fast path leaves to the router) and the administration of a connection's webhooks:
settings, signing secrets, received events and their retry. The push machinery itself
is in api/http/webhook_push.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.http import webhook_push as push
from api.http.deps import AdminSession, ReadSession, WriteSession, tenant_of
from api.http.pagination import Cursor, Limit, Page, decode_cursor, page_of
from api.http.problems import PROBLEM_JSON, Problem
from api.http.webhook_push import WebhookFastPath
from core.errors import DataError, NotFoundError
from core.model.tables import Connection, InboxEvent
from scheduler import inbox
from scheduler.webhooks import (
    TOLERANCE,
    WebhookConfig,
    WebhookSettings,
    receives_webhooks,
    rotate_secret,
    update_settings,
    webhook_config,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"], lifespan=push.lifespan)


# ------------------------------------------------------------------ models


class EventReceipt(BaseModel):
    event_id: str = Field(examples=["msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"])
    id: uuid.UUID = Field(description="The inbox row of the event.")
    duplicate: bool = Field(description="True when the inbox already held this event id.")


class WebhookReceipt(BaseModel):
    """What the sender gets once its call is durable."""

    id: uuid.UUID | None = Field(
        description="Inbox id of the (first) event; null for a call that carried no event.",
        examples=["0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"],
    )
    duplicate: bool = Field(
        description="True when every event of the call was already in the inbox (a "
        "redelivery): nothing was stored again."
    )
    events: list[EventReceipt] = Field(
        description="One entry per event (a connector's scheme may carry several)."
    )


class SecretInfo(BaseModel):
    fingerprint: str = Field(examples=["sha256:3f1c9a0b7d2e4f55"])
    created_at: datetime
    expires_at: datetime | None = Field(
        description="When a replaced secret stops being accepted; null for the current one."
    )


class WebhookView(BaseModel):
    """How a connection takes webhooks (secrets appear only as fingerprints)."""

    connection_id: uuid.UUID
    url: str = Field(examples=["/v1/webhooks/0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"])
    receiving: bool = Field(description="Whether the endpoint accepts calls for it now.")
    scheme: Literal["standard_webhooks", "connector", "api_key"]
    settings: WebhookSettings
    secrets: list[SecretInfo]
    tolerance_seconds: int = Field(default=TOLERANCE, examples=[TOLERANCE])


class RotateSecret(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"previous_valid_hours": 24}]}
    )

    previous_valid_hours: int = Field(
        default=24,
        ge=0,
        le=168,
        description="How long the secrets in use now stay valid beside the new one; 0 "
        "revokes them at once (after a leak).",
    )


class NewSecret(BaseModel):
    secret: str = Field(
        description="The new signing secret. Shown once: store it in the sender now.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwN0xhMzV2bXI="],
    )
    fingerprint: str = Field(examples=["sha256:3f1c9a0b7d2e4f55"])
    created_at: datetime
    previous_expire_at: datetime | None = Field(
        description="When the secrets it replaces stop being accepted (null: none remain)."
    )


class InboxEventOut(BaseModel):
    id: uuid.UUID
    event_id: str = Field(examples=["msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"])
    stream: str | None = Field(examples=["customers"])
    status: Literal["pending", "processing", "processed", "failed"]
    attempts: int
    received_at: datetime
    processed_at: datetime | None
    run_id: uuid.UUID | None = Field(description="The sync run that processed the event.")
    error: str | None = Field(description="Why processing failed (kept for a retry).")
    size: int = Field(description="Bytes of the stored body.", examples=[1303])


class InboxEventDetail(InboxEventOut):
    payload: str = Field(description="The body as received (what the signature covered).")


class RetryEvents(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{}, {"ids": ["0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"]}]},
    )

    ids: list[uuid.UUID] | None = Field(
        default=None, max_length=1000, description="Failed events to retry; omit for all."
    )


class Requeued(BaseModel):
    requeued: int = Field(examples=[3], description="Failed events put back to pending.")


# ------------------------------------------------------------------ the push endpoint

_EXAMPLE_BODY = {
    "type": "customers.updated",
    "timestamp": "2024-05-06T06:30:00Z",
    "data": {"customer_code": "C000123", "company_name": "上海华东精密机械有限公司"},
}
_HEADER_DOCS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": False,
        "description": "Unique id of the event, the same on every retry (deduplication key).",
        "schema": {"type": "string", "maxLength": 255},
        "example": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": False,
        "description": f"Unix seconds of the attempt; at most {TOLERANCE} s from our clock.",
        "schema": {"type": "string"},
        "example": "1714976000",
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": False,
        "description": "Space-separated `v1,<base64 HMAC-SHA256>` signatures of "
        "`{webhook-id}.{webhook-timestamp}.{body}` (several during a secret rotation).",
        "schema": {"type": "string"},
        "example": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    },
]


def _problem_doc(description: str) -> dict[str, Any]:
    return {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}


@router.post(
    "/{connection_id}",
    status_code=202,
    response_model=WebhookReceipt,
    summary="Push an event (Standard Webhooks signature, no API key)",
    responses={
        200: {"model": WebhookReceipt, "description": "A redelivery: already in the inbox"},
        400: _problem_doc("Malformed headers or body (not UTF-8 JSON, no `type`, …)"),
        401: _problem_doc("Bad signature, wrong secret, or a timestamp outside ±300 s"),
        403: _problem_doc("API-key mode: the key lacks the `webhook` scope"),
        413: _problem_doc("Body over the limit"),
        503: _problem_doc("The inbox cannot store events now; retry after Retry-After"),
    },
    openapi_extra={
        "parameters": _HEADER_DOCS,
        "requestBody": {
            "required": True,
            "description": "The raw event, verified byte for byte. Standard Webhooks body: "
            "`type` (`<stream>.<action>`), `timestamp`, `data` (one record or a list).",
            "content": {
                "application/json": {
                    "schema": {"type": "object", "additionalProperties": True},
                    "example": _EXAMPLE_BODY,
                }
            },
        },
    },
)
async def receive_webhook(connection_id: uuid.UUID, request: Request) -> Response:
    """Verify the call against the raw body, store the event in the inbox and answer
    only after the commit: 202 for a new event, 200 (`duplicate: true`) for a redelivery.
    A worker then maps it through the connection's sync jobs."""
    answer = await push.handle_push(request.scope, connection_id, request.headers, request.body)
    if isinstance(answer, Response):
        return answer
    status, content = answer
    return Response(content, status, media_type="application/json")


# ------------------------------------------------------------------ administration


def _view(connection: Connection, config: WebhookConfig) -> WebhookView:
    if config.settings.auth == "api_key":
        scheme: Literal["standard_webhooks", "connector", "api_key"] = "api_key"
    elif config.secrets or not receives_webhooks(connection, config):
        scheme = "standard_webhooks"
    else:
        scheme = "connector"
    return WebhookView(
        connection_id=connection.id,
        url=f"/v1/webhooks/{connection.id}",
        receiving=receives_webhooks(connection, config),
        scheme=scheme,
        settings=config.settings,
        secrets=[
            SecretInfo(fingerprint=s.fingerprint, created_at=s.created_at, expires_at=s.expires_at)
            for s in config.secrets
        ],
    )


def _connection(session: Any, connection_id: uuid.UUID) -> Connection:
    connection = session.get(Connection, connection_id)
    if connection is None:
        raise NotFoundError(
            "no such connection in this tenant",
            hint="list them with GET /v1/connections",
        )
    return connection  # type: ignore[no-any-return]


def _forget(request: Request, connection_id: uuid.UUID) -> None:
    ingest = getattr(request.app.state, "webhook_ingest", None)
    if ingest is not None:
        ingest.verifiers.invalidate(connection_id)


@router.get(
    "/{connection_id}",
    response_model=WebhookView,
    summary="How a connection takes webhooks",
)
def get_webhook(connection_id: uuid.UUID, session: ReadSession) -> WebhookView:
    """The push URL, the scheme, the settings and the signing secrets' fingerprints."""
    connection = _connection(session, connection_id)
    return _view(connection, webhook_config(session, tenant_of(session), connection_id))


_BAD_JSON: dict[int | str, dict[str, Any]] = {400: _problem_doc("The body is not valid JSON")}


@router.put(
    "/{connection_id}",
    response_model=WebhookView,
    summary="Change how a connection takes webhooks",
    responses=_BAD_JSON,
)
def put_webhook(
    connection_id: uuid.UUID,
    settings: Annotated[
        WebhookSettings,
        Body(examples=[{"auth": "signature", "streams": {"BusinessPartner.Changed": "customers"}}]),
    ],
    request: Request,
    session: AdminSession,
) -> WebhookView:
    """Set the event-type -> stream map, the auth mode (`signature` or `api_key`) and a
    body limit. Takes effect at once in this process, within 30 s in others."""
    connection = _connection(session, connection_id)
    config = update_settings(session, tenant_of(session), connection_id, settings)
    _forget(request, connection_id)
    return _view(connection, config)


@router.post(
    "/{connection_id}/secret",
    status_code=201,
    response_model=NewSecret,
    summary="Create or rotate the signing secret (shown once)",
    responses=_BAD_JSON,
)
def post_secret(
    connection_id: uuid.UUID,
    request: Request,
    response: Response,
    session: AdminSession,
    body: Annotated[RotateSecret | None, Body()] = None,
) -> NewSecret:
    """A new `whsec_` secret (32 random bytes) for Standard Webhooks. The secrets in use
    stay valid for `previous_valid_hours` (24 by default), so senders switch without
    downtime; during the overlap they may send both signatures."""
    hours = (body or RotateSecret()).previous_valid_hours
    rotated = rotate_secret(
        session, tenant_of(session), connection_id, previous_valid_for=timedelta(hours=hours)
    )
    _forget(request, connection_id)
    current, *previous = rotated.config.secrets
    response.headers["Location"] = f"/v1/webhooks/{connection_id}"
    response.headers["Cache-Control"] = "no-store"
    return NewSecret(
        secret=rotated.secret,
        fingerprint=current.fingerprint,
        created_at=current.created_at,
        previous_expire_at=max((s.expires_at for s in previous if s.expires_at), default=None),
    )


def _event_out(row: InboxEvent, detail: bool = False) -> InboxEventOut:
    fields: dict[str, Any] = {
        "id": row.id,
        "event_id": row.event_id,
        "stream": row.stream,
        "status": row.status,
        "attempts": row.attempts,
        "received_at": row.received_at,
        "processed_at": row.processed_at,
        "run_id": row.run_id,
        "error": row.error,
        "size": len(row.payload),
    }
    if detail:
        return InboxEventDetail(**fields, payload=row.payload.decode("utf-8", "replace"))
    return InboxEventOut(**fields)


@router.get(
    "/{connection_id}/events",
    response_model=Page[InboxEventOut],
    summary="List a connection's received events",
)
def list_webhook_events(
    connection_id: uuid.UUID,
    session: ReadSession,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[
        Literal["pending", "processing", "processed", "failed"] | None,
        Query(description="Only events in this state."),
    ] = None,
) -> Page[InboxEventOut]:
    """Oldest first, with their processing state and, for failures, the reason."""
    _connection(session, connection_id)
    after = decode_cursor(cursor)
    try:
        after_id = uuid.UUID(after) if after is not None else None
    except (ValueError, TypeError, AttributeError):
        raise DataError(
            "the cursor is not one this API issued",
            field="query.cursor",
            code="invalid_cursor",
            hint="pass the next_cursor of the previous page unchanged, or omit it",
        ) from None
    rows = inbox.list_events(session, connection_id, status=status, after=after_id, limit=limit + 1)
    return page_of([_event_out(r) for r in rows], limit, lambda e: str(e.id))


@router.get(
    "/{connection_id}/events/{event_id:uuid}",
    response_model=InboxEventDetail,
    summary="One received event, with its body",
)
def get_webhook_event(
    connection_id: uuid.UUID, event_id: uuid.UUID, session: ReadSession
) -> InboxEventOut:
    """`event_id` is the inbox id (`id` of the receipt), not the sender's webhook-id."""
    row = session.get(InboxEvent, event_id)
    if row is None or row.connection_id != connection_id:
        raise NotFoundError(
            "no such event received by this connection",
            hint="list them with GET /v1/webhooks/{connection_id}/events",
        )
    return _event_out(row, detail=True)


@router.post(
    "/{connection_id}/events/retry",
    response_model=Requeued,
    summary="Retry failed events",
    responses=_BAD_JSON,
)
def retry_webhook_events(
    connection_id: uuid.UUID,
    session: WriteSession,
    body: Annotated[RetryEvents | None, Body()] = None,
) -> Requeued:
    """Put failed events (all, or the given ids) back to pending — after adding the
    mapping or job they lacked. The next inbox pass processes them."""
    _connection(session, connection_id)
    ids = body.ids if body is not None else None
    return Requeued(requeued=inbox.requeue(session, connection_id, ids))


__all__ = ["WebhookFastPath", "router"]
