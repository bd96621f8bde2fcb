"""Inbound webhooks: `POST /v1/webhooks/{connection_id}` and its administration.

The push endpoint takes no API key: the Standard Webhooks signature (or the connector's
own scheme) authenticates the call. It verifies the raw body, hands the event to the
inbox's group-commit writer and answers `202` only once the event is committed; a
redelivery answers `200` with `duplicate: true` and changes nothing. Unknown
connections, other tenants' connections and connections that take no webhooks all
answer the same 404. Nothing is stored for a call that is refused.

The happy path stays on the event loop: the connection's verifier is cached in the
process and the writer resolves the request's future after its commit, so a request
costs no thread hop and no query of its own.
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import Histogram
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from api.http.deps import AdminSession, ReadSession, WriteSession, identify, tenant_of
from api.http.pagination import Cursor, Limit, Page, decode_cursor, page_of
from api.http.problems import PROBLEM_JSON, Problem, problem
from core.errors import DataError, NotFoundError
from core.logs import get_logger
from core.model.tables import Connection, InboxEvent
from core.store.inbox import NewEvent, Stored
from scheduler import inbox
from scheduler.inbox_writer import InboxUnavailable
from scheduler.webhooks import (
    TOLERANCE,
    Verifier,
    WebhookConfig,
    WebhookIngest,
    WebhookRejected,
    WebhookSettings,
    receives_webhooks,
    rotate_secret,
    update_settings,
    webhook_config,
)

log = get_logger("l2c.webhooks")
INGEST_SECONDS = Histogram(
    "l2c_webhook_ingest_seconds",
    "Time from a webhook call's arrival to its answer (accepted: after the commit)",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
OUTCOMES = ("accepted", "duplicate", "rejected", "not_found", "unavailable")
_observe = {outcome: INGEST_SECONDS.labels(outcome).observe for outcome in OUTCOMES}
_STATUS = {"malformed": 400, "unauthenticated": 401, "too_large": 413}
RETRY_AFTER = "5"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> Any:
    """Start the inbox writer; at shutdown commit what is queued.

    Also moves everything alive at start-up (the app, its models, SQLAlchemy's and
    pydantic's metadata: some 200,000 objects) out of the cycle collector's reach: a full
    collection otherwise scans them all, stalling the event loop for up to 200 ms every
    few thousand requests (measured here: push p99 184 ms -> 28 ms at full load, and
    +37 % throughput). Undone at shutdown so a process that builds many apps (tests)
    can still collect the old ones.
    """
    _ingest_of(app)
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        ingest = getattr(app.state, "webhook_ingest", None)
        if ingest is not None:
            app.state.webhook_ingest = None
            await run_in_threadpool(ingest.close)


router = APIRouter(prefix="/webhooks", tags=["webhooks"], lifespan=_lifespan)


def _ingest_of(app: Any) -> WebhookIngest:
    ingest: WebhookIngest | None = getattr(app.state, "webhook_ingest", None)
    if ingest is None:
        on_stored = getattr(app.state, "on_webhook_stored", None)
        ingest = WebhookIngest(app.state.hub.sessions, on_stored=on_stored)
        app.state.webhook_ingest = ingest
    return ingest


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
    answer = await _receive(request.scope, connection_id, request.headers, request.body)
    if isinstance(answer, Response):
        return answer
    status, content = answer
    return Response(content, status, media_type="application/json")


Answer = Response | tuple[int, bytes]
"""A problem response, or (status, JSON receipt) of a stored call."""


async def _receive(
    scope: Scope,
    connection_id: uuid.UUID,
    headers: Mapping[str, str],
    read_body: Callable[[], Awaitable[bytes]],
) -> Answer:
    """The push endpoint itself, shared by the route and WebhookFastPath."""
    started = time.perf_counter()
    answer, outcome = await _ingest(scope, connection_id, headers, read_body)
    _observe[outcome](time.perf_counter() - started)
    return answer


async def _ingest(
    scope: Scope,
    connection_id: uuid.UUID,
    headers: Mapping[str, str],
    read_body: Callable[[], Awaitable[bytes]],
) -> tuple[Answer, str]:
    ingest = _ingest_of(scope["app"])
    verifiers = ingest.verifiers
    cached = verifiers.peek(connection_id)
    if cached is not False:
        verifier = cached
    else:
        try:
            verifier = await run_in_threadpool(verifiers.load, connection_id)
        except Exception as error:  # an undecryptable secret, the database down, …
            log.error(
                "webhook verifier unavailable", connection_id=str(connection_id), error=repr(error)
            )
            message = "the connection's settings cannot be read now"
            return _unavailable(Request(scope), message), "unavailable"
    if verifier is None:
        return _not_found(Request(scope)), "not_found"
    body = await read_body()
    signed = verifier.settings.auth == "signature"
    if not signed:
        refused = await _check_key(Request(scope), verifier)
        if refused is not None:
            return refused
    try:
        try:
            events = verifier.events(headers, body, signed=signed)
        except WebhookRejected as rejected:
            if rejected.kind != "unauthenticated" or not verifiers.may_reload(verifier):
                raise
            fresh = await run_in_threadpool(verifiers.load, connection_id)  # a new secret?
            if fresh is None:
                return _not_found(Request(scope)), "not_found"
            events = fresh.events(headers, body, signed=signed)
    except WebhookRejected as rejected:
        status = _STATUS[rejected.kind]
        refusal = problem(Request(scope), status, rejected.message, hint=rejected.hint)
        return refusal, "rejected"
    if not events:
        return (200, _NO_EVENTS), "duplicate"
    try:
        stored = await ingest.writer.store(events)
    except InboxUnavailable as error:
        return _unavailable(Request(scope), error.message), "unavailable"
    return _stored_answer(events, stored)


def _stored_answer(events: list[NewEvent], stored: list[Stored]) -> tuple[Answer, str]:
    """202 with the receipt when something new was stored, 200 for a redelivery."""
    if len(stored) == 1:  # the common case, without the general receipt's loops
        first = stored[0]
        receipt = {"event_id": events[0].event_id, "id": first.id, "duplicate": first.duplicate}
        content = orjson.dumps({"id": first.id, "duplicate": first.duplicate, "events": [receipt]})
        duplicate = first.duplicate
    else:
        duplicate = all(s.duplicate for s in stored)
        receipts = [
            {"event_id": e.event_id, "id": s.id, "duplicate": s.duplicate}
            for e, s in zip(events, stored, strict=True)
        ]
        content = orjson.dumps({"id": stored[0].id, "duplicate": duplicate, "events": receipts})
    return (200 if duplicate else 202, content), ("duplicate" if duplicate else "accepted")


_NO_EVENTS = orjson.dumps({"id": None, "duplicate": False, "events": []})


async def _check_key(request: Request, verifier: Verifier) -> tuple[Response, str] | None:
    """API-key mode: a key of the connection's tenant with the `webhook` scope."""
    principal = await run_in_threadpool(identify, request)
    if principal is None:
        response = problem(
            request,
            401,
            "this connection takes webhooks with an API key: none valid was sent",
            hint="send `Authorization: Bearer l2c_…` with a key of the `webhook` scope",
            headers={"WWW-Authenticate": "Bearer"},
        )
        return response, "rejected"
    if principal.tenant_id != verifier.tenant_id:
        return _not_found(request), "not_found"
    if not principal.allows("webhook"):
        response = problem(
            request,
            403,
            "this API key lacks the 'webhook' scope",
            hint="create a key with `l2c apikey create --scope webhook`",
        )
        return response, "rejected"
    return None


def _not_found(request: Request) -> Response:
    return problem(
        request,
        404,
        "no connection takes webhooks at this URL",
        kind="not_found",
        hint="check the connection id; an admin enables webhooks with "
        "POST /v1/webhooks/{connection_id}/secret",
    )


def _unavailable(request: Request, detail: str) -> Response:
    return problem(
        request,
        503,
        detail,
        hint="retry later: nothing was stored",
        headers={"Retry-After": RETRY_AFTER},
    )


class _Route:
    """What the request-log middleware reads from `scope["route"]`."""

    path = "/v1/webhooks/{connection_id}"


_PREFIX = "/v1/webhooks/"
_PUSH_PATH_LENGTH = len(_PREFIX) + 36


class WebhookFastPath:
    """ASGI middleware that answers `POST /v1/webhooks/{uuid}` itself, with the very
    handler of the route above, skipping the router, the dependency machinery and
    Starlette's request and response objects.

    With the API's ~50 operations, FastAPI's route matching and request set-up cost
    several times what verifying and storing an event costs (measured: 525 µs of CPU per
    push through the router, 130 µs through this path); the push endpoint is the one
    whose rate matters (issue 3's benchmark). Everything else passes through, and so do
    pushes with an `Idempotency-Key` (the route's own handling applies to them).
    Install it inside the body-limit and request-context middleware, so limits, request
    ids and metrics apply as for any route.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if len(path) == _PUSH_PATH_LENGTH and path.startswith(_PREFIX):
                try:
                    connection_id = uuid.UUID(path[len(_PREFIX) :])
                except ValueError:
                    connection_id = None
                headers = Headers(scope=scope)
                if connection_id is not None and "idempotency-key" not in headers:
                    scope["route"] = _Route
                    await self._answer(scope, receive, send, connection_id, headers)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(
        scope: Scope, receive: Receive, send: Send, connection_id: uuid.UUID, headers: Headers
    ) -> None:
        async def read_body() -> bytes:
            chunks = []
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    return b"".join(chunks)

        try:
            answer = await _receive(scope, connection_id, headers, read_body)
        except ClientDisconnect:
            return  # the sender is gone: no one to answer (a redelivery finds what was stored)
        if isinstance(answer, Response):
            await answer(scope, receive, send)
            return
        status, content = answer
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})


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
