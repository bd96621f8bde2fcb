"""Order write-back into SAP killed with SIGKILL at random instants, at least ten times:
the fake S/4HANA then holds exactly one sales order per canonical order.

The fake runs in its own process (it outlives every kill) and answers each sales-order
POST slowly, and some of them with a lost response (the order is created, the answer
never arrives), so kills land before, during and after SAP commits a write. The
write-back process is `l2c sync run <write-back job>`, the same code a worker runs.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from cli import L2C, l2c, l2c_env
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.model.entities import entity
from core.model.tables import Connection, ExternalRef, SyncRun, Tenant, WritebackItem, table_of
from core.store.bulk import bulk_writer
from core.store.direct import create_record
from core.store.engine import make_engine

ORDERS = 30
KILLS = 10
USER, PASSWORD = "L2C_COMM", "s3cret-Pa55"


@pytest.fixture
def fake_sap(tmp_path: Path) -> Iterator[str]:
    ready = tmp_path / "fake.url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connectors.sap.fake",
            "--port",
            "0",
            "--business-partners",
            "40",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() or not ready.read_text().strip():
            assert process.poll() is None, "the fake S/4HANA exited"
            assert time.monotonic() < deadline, "the fake S/4HANA did not start"
            time.sleep(0.1)
        yield ready.read_text().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _odata(base: str, service: str, query: str) -> list[dict]:
    response = httpx.get(
        f"{base}/sap/opu/odata/sap/{service}/{query}",
        auth=(USER, PASSWORD),
        headers={"Accept": "application/json"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["d"]["results"]


def _seed(engine: Engine, base: str) -> list[str]:
    """Accounts SAP knows (xrefs as the inbound sync makes) and confirmed orders of
    real customers and materials; returns the orders' idempotency keys."""
    customers = [c["Customer"] for c in _odata(base, "API_BUSINESS_PARTNER", "A_Customer?$top=5")]
    materials = [p["Product"] for p in _odata(base, "API_PRODUCT_SRV", "A_Product?$top=5")]
    keys = []
    with Session(engine) as session, session.begin():
        tenant = session.scalars(select(Tenant)).one()
        connection = session.scalars(select(Connection).where(Connection.name == "s4")).one()
        accounts = []
        for number in customers:
            account = create_record(
                session, tenant.id, entity("account"), {"name": f"客户{number}"}
            )
            accounts.append(account["id"])
            bulk_writer(session).upsert(
                table_of(ExternalRef),
                ["connection_id", "entity", "object", "external_id"],
                ["tenant_id", "entity_id", "content_hash"],
                [
                    (
                        connection.id,
                        "account",
                        "business_partners",
                        number,
                        tenant.id,
                        account["id"],
                        bytes(16),
                    )
                ],
            )
        rng = random.Random(5)
        for index in range(ORDERS):
            order = create_record(
                session,
                tenant.id,
                entity("order"),
                {
                    "number": f"SO-{index:04d}",
                    "account_id": rng.choice(accounts),
                    "order_date": date(2026, 11, 1 + index % 25),
                    "status": "confirmed",
                    "currency": "CNY",
                    "lines": [
                        {
                            "line_no": 10 * (n + 1),
                            "sku": rng.choice(materials),
                            "quantity": Decimal(rng.randrange(1, 9)),
                            "unit": "H87",
                        }
                        for n in range(rng.randrange(1, 4))
                    ],
                },
            )
            keys.append(order["id"].hex)
    return keys


def _count_runs(engine: Engine) -> int:
    with engine.connect() as db:
        return db.scalar(select(func.count()).select_from(SyncRun)) or 0


@pytest.mark.slow
@pytest.mark.postgres
def test_killed_writeback_leaves_one_sales_order_per_order(
    own_postgres_url: str, fake_sap: str, tmp_path: Path
) -> None:
    env = l2c_env(own_postgres_url, tmp_path / "data")
    env["L2C_URL_ALLOWLIST"] = '["127.0.0.1"]'
    env["L2C_SECRET_KEY"] = Fernet.generate_key().decode()
    l2c("init", env=env)
    config = {
        "base_url": fake_sap,
        "auth": {"type": "basic", "username": USER, "password": PASSWORD},
        "timeout_seconds": 5,
    }
    l2c(
        "connection",
        "add",
        "s4",
        "--connector",
        "sap_odata",
        "--config",
        json.dumps(config),
        env=env,
    )
    l2c(
        "job",
        "add",
        "orders-out",
        "--connection",
        "s4",
        "--writeback",
        "sap/outbound/order_to_sales_order",
        env=env,
    )
    engine = make_engine(own_postgres_url)
    keys = _seed(engine, fake_sap)
    # the first 60 POSTs take 0.25 s each; every fourth creates the order and loses the
    # answer (faults are consumed in order, one per matching request)
    faults = [
        {"method": "POST", "path": "A_SalesOrder$", "delay": 0.25, "times": 1}
        | ({"lost_response": "504"} if n % 4 == 3 else {})
        for n in range(60)
    ]
    httpx.post(f"{fake_sap}/_fake/faults", json=faults, timeout=10).raise_for_status()

    rng = random.Random(13)
    kills = 0
    while kills < KILLS:
        runs_before = _count_runs(engine)
        process = subprocess.Popen(
            [L2C, "sync", "run", "orders-out"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while _count_runs(engine) == runs_before and process.poll() is None:
            time.sleep(0.02)  # strike once the run has started, not during imports
        time.sleep(rng.uniform(0.05, 0.6))
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    assert kills >= KILLS, f"the write-back finished after {kills} kills; add orders"

    for _ in range(5):  # lost answers wait for their retry time: run until all are written
        l2c("sync", "run", "orders-out", env=env)
        with engine.connect() as db:
            waiting = db.scalar(
                select(func.count())
                .select_from(WritebackItem)
                .where(WritebackItem.status != "written")
            )
            if not waiting:
                break
            db.execute(WritebackItem.__table__.update().values(next_attempt_at=func.now()))
            db.commit()

    stats = httpx.get(f"{fake_sap}/_fake/stats", timeout=10).json()
    by_po = stats["sales_orders_by_po"]
    with engine.connect() as db:
        items = db.execute(select(WritebackItem.status, WritebackItem.last_error)).all()
        refs = (
            db.execute(select(ExternalRef.external_id).where(ExternalRef.object == "sales_orders"))
            .scalars()
            .all()
        )
        runs = dict(db.execute(select(SyncRun.status, func.count()).group_by(SyncRun.status)).all())
    engine.dispose()

    assert {key: len(by_po.get(key, [])) for key in keys} == dict.fromkeys(keys, 1)
    assert sorted(status for status, _ in items) == ["written"] * ORDERS, items
    assert sorted(refs) == sorted(by_po[key][0] for key in keys)  # SAP numbers kept
    assert runs.get("abandoned", 0) >= KILLS - 1, runs
