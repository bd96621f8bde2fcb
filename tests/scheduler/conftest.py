"""Scheduler fixtures: what gets published (instead of a broker), and a real CSV job."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import SyncJob, Tenant

MAPPING = Path(__file__).parents[1] / "fixtures" / "mappings" / "crash_accounts.yaml"
KOMBU_NOLOAD = "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
"""kombu's SQL transport models use it (SQLAlchemy 2.1 deprecates it; harmless here)."""


@dataclass
class Broker:
    """Stands in for the Celery app of `scheduler.celery_app.current()`."""

    sent: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)
    on_send: Callable[[str, tuple[Any, ...]], None] | None = None
    fail: bool = False
    conf: Any = field(default_factory=lambda: SimpleNamespace(broker_url="memory://"))

    def send_task(self, name: str, args: tuple[Any, ...] = (), **options: Any) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        if self.on_send is not None:
            self.on_send(name, args)
        self.sent.append((name, args, options))

    def names(self) -> list[str]:
        return [name for name, _, _ in self.sent]


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Broker:
    fake = Broker()
    monkeypatch.setattr("scheduler.celery_app.current", lambda: fake)
    return fake


def write_accounts(folder: Path, rows: int, *, start: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "accounts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "name", "city", "credit", "updated_at"])
        for i in range(start, start + rows):
            writer.writerow(
                [f"K{i:06d}", f"公司{i}", "上海", f"{i}.50", "2026-01-01T00:00:00+00:00"]
            )


def add_csv_job(
    session: Session, tenant: Tenant, folder: Path, *, name: str = "accounts", **config: Any
) -> SyncJob:
    """A files connection over `folder`/accounts.csv and a job mapping it to accounts."""
    from scheduler.connections import add_connection
    from scheduler.jobs import add_job

    connection = add_connection(
        session,
        session.get_one(Tenant, tenant.id),
        name=f"{name}-src",
        connector="files",
        config={
            "path": str(folder),
            "streams": [
                {"name": "accounts", "pattern": "accounts.csv", "key_properties": ["code"]}
            ],
            **config,
        },
    )
    return add_job(
        session,
        session.get_one(Tenant, tenant.id),
        name=name,
        connection=connection,
        mappings=[str(MAPPING)],
    )


@pytest.fixture
def csv_job(sessions: sessionmaker[Session], tenant: Tenant, tmp_path: Path) -> SyncJob:
    write_accounts(tmp_path / "src", 25)
    with sessions.begin() as session:
        return add_csv_job(session, tenant, tmp_path / "src")
