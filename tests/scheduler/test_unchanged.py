"""Unchanged records are recognised before mapping; editing the mapping re-evaluates them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from core.model.tables import Account, Connection, RecordChange, SyncJob
from core.sync.engine import Counts, RunTarget, SyncSink
from core.sync.runs import finish_run, start_run
from mappings.loader import load_text

DEMO = Path(__file__).parents[2] / "mappings" / "files" / "demo_accounts.yaml"


class Counting:
    """Wraps a mapping and counts how often it really maps a record."""

    def __init__(self, mapping: Any) -> None:
        self.inner, self.calls = mapping, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def map(self, record: Mapping[str, Any]) -> Any:
        self.calls += 1
        return self.inner.map(record)


def records() -> list[dict[str, str]]:
    return [
        {
            "customer_code": f"C{i}",
            "company_name": f"测试{i}有限公司",
            "industry_code": "01",
            "city": "上海市",
            "credit_limit": "1,000.00",
            "updated_at": "2024-05-06 10:00:00",
        }
        for i in range(50)
    ]


def sync(sessions, tenant, connection, job, mapper) -> Counts:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        run = start_run(session, session.get_one(SyncJob, job.id))
    sink = SyncSink(
        sessions,
        RunTarget(tenant.id, connection.id, job.id, run.id),
        {"customers": [mapper]},
        batch_size=20,
    )
    for record in records():
        sink.record("customers", record)
    sink.close()
    with sessions.begin() as session:
        finish_run(session, run.id)
    return sink.counts


def test_an_unchanged_record_is_not_mapped_again(
    sessions, tenant, connection: Connection, job
) -> None:
    text = DEMO.read_text(encoding="utf-8")
    first = sync(sessions, tenant, connection, job, Counting(load_text(text)))
    assert first.inserted == 50

    again = Counting(load_text(text))
    counts = sync(sessions, tenant, connection, job, again)
    assert (counts.unchanged, counts.updated, again.calls) == (50, 0, 0)

    edited = Counting(
        load_text(text.replace("lifecycle: {const: customer}", "lifecycle: {const: partner}"))
    )
    counts = sync(sessions, tenant, connection, job, edited)
    assert (edited.calls, counts.updated) == (50, 50)
    with sessions.begin() as session:
        assert set(session.scalars(select(Account.lifecycle))) == {"partner"}
        updates = session.scalar(select(func.count()).where(RecordChange.op == "update"))
    assert updates == 50
