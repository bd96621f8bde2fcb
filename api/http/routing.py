"""The route class of every /v1 router: POSTs honour an `Idempotency-Key`.

Like Stripe: the first response to a key is stored for 72 h and a repeat gets it back
(with `Idempotent-Replayed: true`); the same key with a different request is refused
(422), and a repeat while the first is still running gets 409. Requests that fail
authentication or validation, and server errors, are not stored, so they can be retried.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTask, BackgroundTasks

from api.http.deps import hub, identify
from api.http.problems import problem
from core.clock import utcnow
from core.model.tables import IdempotentRequest
from core.security.apikeys import Principal

KEEP = timedelta(hours=72)
STALE = timedelta(minutes=2)
"""A first request this old that never finished is taken over by its repeat."""
HEADER = "idempotency-key"
NOT_STORED = frozenset({401, 403, 409, 413, 422, 429})

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class HubRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if "POST" not in self.methods:
            return handler

        async def idempotent(request: Request) -> Response:
            key = request.headers.get(HEADER)
            if key is None:
                return await handler(request)
            if not 1 <= len(key) <= 255 or not key.isprintable():
                return problem(
                    request,
                    400,
                    "the Idempotency-Key header must be 1-255 printable characters",
                    hint="send a fresh UUID per logical request",
                )
            principal = await run_in_threadpool(identify, request)
            if principal is None:
                return await handler(request)  # answers 401
            body = await request.body()
            fingerprint = hashlib.sha256(
                b"\0".join([request.method.encode(), str(request.url.path).encode(), body])
            ).digest()
            earlier = await run_in_threadpool(_claim, request, principal, key, fingerprint)
            if earlier is not None:
                return earlier
            try:
                response = await handler(request)
            except BaseException:
                await run_in_threadpool(_forget, request, principal, key)
                raise
            # Stored once the response is on its way: the request's own transaction has
            # committed by then (a failed commit leaves the key to the STALE takeover).
            remember = BackgroundTask(_remember, request, principal, key, response)
            if response.background is None:
                response.background = remember
            else:
                tasks = BackgroundTasks([response.background, remember])
                response.background = tasks
            return response

        return idempotent


def _claim(request: Request, principal: Principal, key: str, fingerprint: bytes) -> Response | None:
    """Register the key, or return what a repeat must get instead of running again."""
    sessions = hub(request).sessions
    now = utcnow()
    with sessions.begin() as session:
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
                return problem(
                    request,
                    409,
                    "a request with this Idempotency-Key is in progress",
                    kind="conflict",
                    hint="retry after it has finished",
                )
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
            return problem(
                request,
                409,
                "a request with this Idempotency-Key is in progress",
                kind="conflict",
                hint="retry after it has finished",
            )
        headers = dict(held.headers or {})
        headers["Idempotent-Replayed"] = "true"
        return Response(held.body, held.status_code, headers=headers)


def _remember(request: Request, principal: Principal, key: str, response: Response) -> None:
    body = getattr(response, "body", None)
    if response.status_code >= 500 or response.status_code in NOT_STORED or body is None:
        _forget(request, principal, key)
        return
    with hub(request).sessions.begin() as session:
        held = session.get(IdempotentRequest, (principal.tenant_id, key))
        if held is not None:
            held.status_code = response.status_code
            held.body = bytes(body)
            held.headers = {
                k: v for k, v in response.headers.items() if k in {"content-type", "location"}
            }


def _forget(request: Request, principal: Principal, key: str) -> None:
    with hub(request).sessions.begin() as session:
        session.execute(
            delete(IdempotentRequest).where(
                IdempotentRequest.tenant_id == principal.tenant_id,
                IdempotentRequest.key == key,
                IdempotentRequest.status_code.is_(None),
            )
        )


__all__ = ["HubRoute"]
