"""What endpoints depend on: the hub's resources, the caller, and a tenant-scoped
transaction.

An endpoint asks for `ReadSession`, `WriteSession` or `AdminSession`: that checks the
API key and its scope, opens one transaction for the request and binds it to the key's
tenant (core.store.scoping), so no endpoint can forget tenant scoping.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.security.apikeys import Principal, authenticate
from core.settings import CoreSettings
from core.store.scoping import scope_to_tenant, scoped_tenant

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer l2c_…` API key")
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The API key, as an alternative header"
)


@dataclass
class Hub:
    """Process-wide resources, created once per app (app.state.hub)."""

    settings: CoreSettings
    engine: Engine
    sessions: sessionmaker[Session]


def hub(request: Request) -> Hub:
    value: Hub = request.app.state.hub
    return value


def identify(request: Request) -> Principal | None:
    """The principal of the request's key, or None; for code outside dependencies."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    text = token if scheme.lower() == "bearer" else request.headers.get("x-api-key")
    if not text:
        return None
    with hub(request).sessions() as session:
        principal = authenticate(session, text.strip())
    if principal is not None:
        request.state.principal = principal
    return principal


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    header_key: Annotated[str | None, Security(api_key_header)],
) -> Principal:
    """The principal of the request's API key (401 when missing or not valid)."""
    if credentials is None and not header_key:
        raise HTTPException(
            401,
            "an API key is required: send `Authorization: Bearer l2c_…`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = identify(request)
    if principal is None:
        raise HTTPException(
            401,
            "the API key is not valid (unknown, revoked or expired)",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return principal


def scoped_principal(scope: str) -> Callable[..., Principal]:
    """The caller, when its key has `scope` (403 otherwise). Endpoints that run long work
    outside the request transaction depend on this directly and open short ones."""

    def dependency(principal: Annotated[Principal, Depends(caller)]) -> Principal:
        if not principal.allows(scope):
            raise HTTPException(403, f"this API key lacks the {scope!r} scope")
        return principal

    dependency.__name__ = f"{scope}_principal"
    return dependency


def _session(scope: str) -> Callable[..., Iterator[Session]]:
    allowed = Depends(scoped_principal(scope))  # a default: annotations are strings here

    def dependency(request: Request, principal: Principal = allowed) -> Iterator[Session]:
        with hub(request).sessions.begin() as session:
            yield scope_to_tenant(session, principal.tenant_id)

    dependency.__name__ = f"{scope}_session"
    return dependency


ReadSession = Annotated[Session, Depends(_session("read"), scope="function")]
WriteSession = Annotated[Session, Depends(_session("write"), scope="function")]
AdminSession = Annotated[Session, Depends(_session("admin"), scope="function")]


def tenant_of(session: Session) -> uuid.UUID:
    """The tenant a request session is bound to."""
    tenant_id = scoped_tenant(session)
    assert tenant_id is not None, "request sessions are always tenant-scoped"
    return tenant_id
