"""The push endpoint's machinery: `POST /v1/webhooks/{connection_id}`.

It takes no API key: the Standard Webhooks signature (or the connector's own scheme)
authenticates the call. It verifies the raw body, hands the event to the inbox's
group-commit writer and answers `202` only once the event is committed; a redelivery
answers `200` with `duplicate: true` and changes nothing. Unknown connections, other
tenants' connections and connections that take no webhooks all answer the same 404.
Nothing is stored for a call that is refused.

The happy path stays on the event loop: the connection's verifier is cached in the
process and the writer resolves the request's future after its commit, so a request
costs no thread hop and no query of its own. `WebhookFastPath` serves it without
FastAPI's router (api/http/app.py installs it); the route in routers/webhooks.py runs
the same `handle_push` and documents the operation.
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import Histogram
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from api.http.deps import identify
from api.http.problems import problem
from core.logs import get_logger
from core.store.inbox import NewEvent, Stored
from scheduler.inbox_writer import InboxUnavailable
from scheduler.webhook_verify import Verifier, WebhookIngest, WebhookRejected

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
async def lifespan(app: FastAPI) -> Any:
    """Start the inbox writer; at shutdown commit what is queued.

    Also moves everything alive at start-up (the app, its models, SQLAlchemy's and
    pydantic's metadata: some 200,000 objects) out of the cycle collector's reach: a full
    collection otherwise scans them all, stalling the event loop for up to 200 ms every
    few thousand requests (measured here: push p99 184 ms -> 28 ms at full load, and
    +37 % throughput). Undone at shutdown so a process that builds many apps (tests)
    can still collect the old ones.
    """
    ingest_of(app)
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


def ingest_of(app: Any) -> WebhookIngest:
    ingest: WebhookIngest | None = getattr(app.state, "webhook_ingest", None)
    if ingest is None:
        on_stored = getattr(app.state, "on_webhook_stored", None)
        ingest = WebhookIngest(app.state.hub.sessions, on_stored=on_stored)
        app.state.webhook_ingest = ingest
    return ingest


Answer = Response | tuple[int, bytes]
"""A problem response, or (status, JSON receipt) of a stored call."""


async def handle_push(
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
    ingest = ingest_of(scope["app"])
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
            answer = await handle_push(scope, connection_id, headers, read_body)
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


__all__ = ["WebhookFastPath", "handle_push", "ingest_of", "lifespan"]
