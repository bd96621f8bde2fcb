"""The FastAPI application: `create_app()` is what uvicorn, `l2c serve` and tests run."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import import_module
from typing import Any

from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY

from api.http import problems
from api.http.deps import Hub
from api.http.idempotency import Idempotency
from api.http.middleware import BodyLimit, RequestContext
from api.http.routers import health
from api.http.routers.health import StoreCollector
from api.http.webhook_push import WebhookFastPath
from core.logs import configure_logging
from core.settings import CoreSettings, get_settings
from core.store.engine import make_engine, make_session_factory
from scheduler.lead_metrics import LeadCollector

V1_ROUTERS = (
    "connectors",
    "connections",
    "mappings",
    "sync_jobs",
    "runs",
    "quarantine",
    "records",
    "subscriptions",
    "dead_letters",
    "webhooks",
    # lead management (issue 5)
    "users",
    "lead_pools",
    "lead_ownership",
    "touchpoints",
    "routing",
    "sales_settings",
    "lead_scores",
    "lead_conversion",
    "rfm",
)
"""Modules of api.http.routers that define `router` (an APIRouter) for /v1."""

DESCRIPTION = """
L2C Hub's REST API. Authenticate with an API key (`l2c apikey create`) as
`Authorization: Bearer l2c_…`. Every object belongs to the key's tenant; other tenants'
ids answer 404. Errors are RFC 9457 `application/problem+json` naming the field and the
fix. POSTs accept an `Idempotency-Key` header; lists use cursor pagination
(`limit` ≤ 200, `cursor` = the previous page's `next_cursor`).
"""


def v1_router() -> APIRouter:
    """Every /v1 router that exists, each with the shared route class and error docs."""
    root = APIRouter(prefix="/v1", responses=problems.PROBLEM_RESPONSES)
    for name in V1_ROUTERS:
        try:
            module = import_module(f"api.http.routers.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"api.http.routers.{name}":
                raise
            continue
        root.include_router(module.router)
    return root


def create_app(
    settings: CoreSettings | None = None,
    *,
    broker_probe: Callable[[], Any] | None = None,
    configure_logs: bool = True,
) -> FastAPI:
    settings = settings or get_settings()
    if configure_logs:
        configure_logging(settings, quiet=("uvicorn.access",))
    engine = make_engine(settings.resolved_database_url())
    state = Hub(settings, engine, make_session_factory(engine))
    collectors = (StoreCollector(state.sessions), LeadCollector(state.sessions))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for collector in collectors:
            with contextlib.suppress(ValueError):  # already registered: a nested lifespan
                REGISTRY.register(collector)
        try:
            yield
        finally:
            for collector in collectors:
                with contextlib.suppress(KeyError):
                    REGISTRY.unregister(collector)
            engine.dispose()

    app = FastAPI(
        title="L2C Hub",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "health", "description": "Liveness, readiness, metrics"},
        ],
    )
    app.state.hub = state
    app.state.broker_probe = broker_probe
    problems.install(app)
    app.include_router(health.router)
    app.include_router(v1_router())
    # innermost: signed pushes skip the router (its matching is most of their cost)
    app.add_middleware(WebhookFastPath)
    app.add_middleware(Idempotency)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)
    return app
