"""POSTs honour an `Idempotency-Key` header, for every endpoint, in one middleware.

Like Stripe: the first response to a key is stored for 72 h and a repeat gets it back
(with `Idempotent-Replayed: true`) instead of running again; the same key with a
different request is refused (422), and a repeat while the first is still running gets
409. Requests that fail authentication or validation, and server errors, are not
stored, so they can be retried. A response marked `Cache-Control: no-store` (it shows a
secret once) is kept encrypted. Keys are per tenant.

The response is stored after the whole request has run, so after its transaction has
committed: a stored answer always describes committed work.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.deps import hub, identify
from api.http.problems import problem
from core.clock import utcnow
from core.model.tables import IdempotentRequest
from core.security.apikeys import Principal
from core.security.secrets import SecretBox

KEEP = timedelta(hours=72)
STALE = timedelta(minutes=2)
"""A first request this old that never finished is taken over by its repeat."""
HEADER = b"idempotency-key"
NOT_STORED = frozenset({401, 403, 409, 413, 422, 429})
KEPT_HEADERS = frozenset({"content-type", "location", "cache-control"})
SEALED = "x-l2c-sealed"
"""Marks a stored body that is encrypted."""


class Idempotency:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key_bytes = dict(scope.get("headers", ())).get(HEADER)
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or key_bytes is None
            or not scope["path"].startswith("/v1/")
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        key = key_bytes.decode("latin-1")
        if not 1 <= len(key) <= 255 or not key.isprintable():
            bad = problem(
                request,
                400,
                "the Idempotency-Key header must be 1-255 printable characters",
                hint="send a fresh UUID per logical request",
            )
            await bad(scope, receive, send)
            return
        principal = await run_in_threadpool(identify, request)
        if principal is None:
            await self.app(scope, receive, send)  # answers 401
            return
        body = await request.body()
        fingerprint = hashlib.sha256(
            b"\0".join([scope["method"].encode(), scope["path"].encode(), body])
        ).digest()
        earlier = await run_in_threadpool(_claim, request, principal, key, fingerprint)
        if earlier is not None:
            await earlier(scope, receive, send)
            return

        sent_body = False

        async def replay_body() -> Message:
            nonlocal sent_body
            if sent_body:
                return await receive()
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}

        status, headers, chunks = 500, [], []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            await run_in_threadpool(_forget, request, principal, key)
            raise
        await run_in_threadpool(
            _remember, request, principal, key, status, headers, b"".join(chunks)
        )


def _claim(request: Request, principal: Principal, key: str, fingerprint: bytes) -> Response | None:
    """Register the key, or return what a repeat must get instead of running again."""
    now = utcnow()
    with hub(request).sessions.begin() as session:
        held = session.get(IdempotentRequest, (principal.tenant_id, key), with_for_update=True)
        if held is not None and now - held.created_at > KEEP:
            session.delete(held)
            session.flush()
            held = None
        if held is None:
            session.add(
                IdempotentRequest(tenant_id=principal.tenant_id, key=key, fingerprint=fingerprint)
            )
            try:
                session.flush()
            except IntegrityError:  # a concurrent first request won the insert
                return _in_progress(request)
            return None
        if held.fingerprint != fingerprint:
            return problem(
                request,
                422,
                "this Idempotency-Key was used for a different request",
                kind="idempotency",
                hint="use a new key for a new request",
            )
        if held.status_code is None:
            if now - held.created_at > STALE:
                held.created_at = now
                return None
            return _in_progress(request)
        return _replayed(request, held)


def _in_progress(request: Request) -> Response:
    return problem(
        request,
        409,
        "a request with this Idempotency-Key is in progress",
        kind="conflict",
        hint="retry after it has finished",
    )


def _remember(
    request: Request,
    principal: Principal,
    key: str,
    status: int,
    raw_headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    if status >= 500 or status in NOT_STORED:
        _forget(request, principal, key)
        return
    headers = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in raw_headers
        if name.decode("latin-1").lower() in KEPT_HEADERS
    }
    if "no-store" in headers.get("cache-control", ""):
        body = _box(request).encrypt({"body": body.decode()})
        headers[SEALED] = "1"
    with hub(request).sessions.begin() as session:
        held = session.get(IdempotentRequest, (principal.tenant_id, key))
        if held is not None:
            held.status_code, held.body, held.headers = status, body, headers


def _forget(request: Request, principal: Principal, key: str) -> None:
    with hub(request).sessions.begin() as session:
        session.execute(
            delete(IdempotentRequest).where(
                IdempotentRequest.tenant_id == principal.tenant_id,
                IdempotentRequest.key == key,
                IdempotentRequest.status_code.is_(None),
            )
        )


def _box(request: Request) -> SecretBox:
    return SecretBox(hub(request).settings.secret_key)


def _replayed(request: Request, held: IdempotentRequest) -> Response:
    headers = dict(held.headers or {})
    body = held.body or b""
    if headers.pop(SEALED, None):
        body = str(_box(request).decrypt(body)["body"]).encode()
    headers["Idempotent-Replayed"] = "true"
    return Response(body, held.status_code or 200, headers=headers)
