"""Liveness, readiness and Prometheus metrics (no API key: they reveal no tenant data)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from api.http.deps import hub
from core.clock import utcnow
from core.model.tables import InboxEvent, OutboxMessage, SyncRun, WritebackItem

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(examples=["ok"], description="`ok` when every check passed.")
    checks: dict[str, str] = Field(examples=[{"database": "ok", "broker": "ok"}])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: the database and the broker answer",
    responses={503: {"model": Readiness, "description": "A dependency is down"}},
)
def readyz(request: Request, response: Response) -> Readiness:
    state = hub(request)
    checks = {"database": _check_database(state.sessions), "broker": _check_broker(request)}
    ok = all(v == "ok" for v in checks.values())
    if not ok:
        response.status_code = 503
    return Readiness(status="ok" if ok else "unavailable", checks=checks)


def _check_database(sessions: sessionmaker[Session]) -> str:
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as error:  # readiness reports, never raises
        return f"error: {type(error).__name__}"
    return "ok"


def _check_broker(request: Request) -> str:
    probe = getattr(request.app.state, "broker_probe", None)
    if probe is None:
        return "ok"
    try:
        probe()
    except Exception as error:  # readiness reports, never raises
        return f"error: {type(error).__name__}"
    return "ok"


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class StoreCollector(Collector):
    """Figures read from the database at scrape time, so every API replica reports the
    same truth whichever process did the work (runs, records, inbox, outbox)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def describe(self) -> list[Any]:
        return []  # collected lazily: registering must not touch the database

    def collect(self) -> Iterator[Any]:
        runs = GaugeMetricFamily("l2c_sync_runs", "Sync runs by status", labels=["status"])
        records = CounterMetricFamily(
            "l2c_sync_records", "Records handled by sync runs, by outcome", labels=["outcome"]
        )
        inbox = GaugeMetricFamily("l2c_inbox_pending", "Webhook events not yet processed")
        outbox = GaugeMetricFamily(
            "l2c_outbox_messages", "Outbound messages by status", labels=["status"]
        )
        lag = GaugeMetricFamily(
            "l2c_outbox_lag_seconds", "Age of the oldest undelivered outbound message"
        )
        writeback = GaugeMetricFamily(
            "l2c_writeback_items",
            "Records of write-back jobs by status (failed: refused by the system)",
            labels=["status"],
        )
        try:
            with self.sessions() as session:
                for status, count in session.execute(
                    select(SyncRun.status, func.count()).group_by(SyncRun.status)
                ):
                    runs.add_metric([status], count)
                sums = session.execute(
                    select(
                        func.coalesce(func.sum(SyncRun.inserted_count), 0),
                        func.coalesce(func.sum(SyncRun.updated_count), 0),
                        func.coalesce(func.sum(SyncRun.unchanged_count), 0),
                        func.coalesce(func.sum(SyncRun.skipped_count), 0),
                        func.coalesce(func.sum(SyncRun.quarantined_count), 0),
                    )
                ).one()
                for outcome, value in zip(
                    ("inserted", "updated", "unchanged", "skipped", "quarantined"),
                    sums,
                    strict=True,
                ):
                    records.add_metric([outcome], int(value))
                inbox.add_metric(
                    [],
                    session.scalar(
                        select(func.count())
                        .select_from(InboxEvent)
                        .where(InboxEvent.status == "pending")
                    )
                    or 0,
                )
                for status, count in session.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                ):
                    outbox.add_metric([status], count)
                oldest = session.scalar(
                    select(func.min(OutboxMessage.created_at)).where(
                        OutboxMessage.status == "pending"
                    )
                )
                lag.add_metric([], (utcnow() - oldest).total_seconds() if oldest else 0.0)
                for status, count in session.execute(
                    select(WritebackItem.status, func.count()).group_by(WritebackItem.status)
                ):
                    writeback.add_metric([status], count)
        except Exception:  # a scrape must not fail because the database blinked
            return
        yield from (runs, records, inbox, outbox, lag, writeback)
