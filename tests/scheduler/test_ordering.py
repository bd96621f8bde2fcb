"""Duplicated and shuffled input gives the same store as the same versions in order."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import Account, Connection, ExternalRef, SyncJob, Tenant
from core.sync.engine import RunTarget, SyncSink
from core.sync.runs import finish_run, start_run
from mappings.catalog import load_mapping

T0 = datetime(2024, 5, 1, 9, 0)


def versions(customers: int, per_customer: int, seed: int) -> list[dict[str, str]]:
    """Each customer changes city and credit limit over time (Beijing-time stamps)."""
    rng = random.Random(seed)
    out = []
    for c in range(customers):
        for v in range(per_customer):
            stamp = T0 + timedelta(days=v, minutes=c)
            out.append(
                {
                    "customer_code": f"C{c:04d}",
                    "company_name": f"测试{c}有限公司",
                    "industry_code": "01",
                    "city": rng.choice(["上海市", "北京市", "深圳市"]),
                    "credit_limit": f"{rng.randrange(1, 10**6):,}.00",
                    "currency": "CNY",
                    "updated_at": stamp.strftime("%Y-%m-%d %H:%M:%S"),
                }
            )
    return out


def load(
    sessions: sessionmaker[Session], tenant: Tenant, records: list[dict[str, str]], batch: int
) -> dict:
    with sessions.begin() as session:
        connection = Connection(
            tenant_id=tenant.id, name=f"erp{batch}", connector="files", config={}
        )
        session.add(connection)
        session.flush()
        job = SyncJob(
            tenant_id=tenant.id, name=f"job{batch}", connection_id=connection.id, mappings=[]
        )
        session.add(job)
        session.flush()
        run = start_run(session, job)
        target = RunTarget(tenant.id, connection.id, job.id, run.id)
    sink = SyncSink(
        sessions, target, {"customers": [load_mapping("files/demo_accounts")]}, batch_size=batch
    )
    for record in records:
        sink.record("customers", record)
    sink.close()
    with sessions.begin() as session:
        finish_run(session, target.run_id)
        rows = session.execute(
            select(ExternalRef.external_id, Account.city, Account.credit_limit, Account.source_ts)
            .join(Account, Account.id == ExternalRef.entity_id)
            .where(ExternalRef.connection_id == target.connection_id)
        ).all()
    return {ext: (city, Decimal(credit), ts) for ext, city, credit, ts in rows}


@pytest.mark.parametrize("seed", [1, 2])
def test_shuffled_and_duplicated_input_ends_like_ordered_input(sessions, tenant, seed: int) -> None:
    ordered = versions(customers=60, per_customer=4, seed=seed)
    rng = random.Random(seed)
    shuffled = ordered + rng.sample(ordered, len(ordered) // 2)  # half of them twice
    rng.shuffle(shuffled)

    in_order = load(sessions, tenant, ordered, batch=1000)
    messy = load(sessions, tenant, shuffled, batch=37)  # versions cross batches

    assert len(in_order) == 60
    assert messy == in_order
    newest = {r["customer_code"]: r for r in ordered}  # the last version of each
    for code, (city, credit, _) in in_order.items():
        assert city == newest[code]["city"]
        assert credit == Decimal(newest[code]["credit_limit"].replace(",", ""))
