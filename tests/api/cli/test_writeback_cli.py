"""`l2c job add --writeback`, `l2c writeback list|retry` and `l2c connection update`
against the fake S/4HANA: the commands the SAP walkthrough (docs/connectors/sap.md) uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.sap.fake import FakeS4, serve_fake
from core.model.entities import entity
from core.model.tables import Connection, Tenant
from core.security.secrets import generate_key
from core.store.direct import create_record
from core.store.engine import make_engine, make_session_factory


@pytest.fixture
def fake_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("L2C_URL_ALLOWLIST", '["127.0.0.1"]')
    monkeypatch.setenv("L2C_SECRET_KEY", generate_key())
    with serve_fake(FakeS4(business_partners=20, products=5, sales_orders=3)) as url:
        yield url


def test_writeback_commands(cli, fake_url: str, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    config = {
        "base_url": fake_url,
        "auth": {"type": "basic", "username": "L2C_COMM", "password": "s3cret-Pa55"},
    }
    added = cli(
        "connection", "add", "s4", "--connector", "sap_odata", "--config", json.dumps(config)
    )
    assert added.exit_code == 0, added.stderr
    checked = cli("connection", "check", "s4")
    assert checked.exit_code == 0, checked.stdout + checked.stderr

    both = cli(
        "job",
        "add",
        "x",
        "--connection",
        "s4",
        "--mapping",
        "sap/bp_accounts",
        "--writeback",
        "sap/outbound/order_to_sales_order",
    )
    assert both.exit_code == 2
    assert "either --mapping" in both.stderr
    wrong = cli(
        "job", "add", "x", "--connection", "s4", "--writeback", "sap/outbound/order_to_orders05"
    )
    assert wrong.exit_code != 0
    assert "sap_idoc connections" in wrong.stderr and "Traceback" not in wrong.stderr

    assert (
        cli("job", "add", "bp", "--connection", "s4", "--mapping", "sap/bp_accounts").exit_code == 0
    )
    assert cli("sync", "run", "bp").exit_code == 0
    out = cli(
        "job",
        "add",
        "out",
        "--connection",
        "s4",
        "--writeback",
        "sap/outbound/order_to_sales_order",
    )
    assert out.exit_code == 0, out.stderr
    assert "write-back job out added" in out.stdout

    sessions = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'hub.db'}"))
    with sessions.begin() as session:
        tenant = session.scalars(select(Tenant)).one()
        create_record(
            session,
            tenant.id,
            entity("order"),
            {
                "number": "HUB-1",
                "status": "confirmed",
                "order_date": date(2026, 11, 2),
                "lines": [{"line_no": 10, "sku": "NO-SUCH-MATERIAL", "quantity": 1, "unit": "H87"}],
            },
        )
    assert cli("sync", "run", "out").exit_code == 0
    failed = cli("writeback", "list", "out", "--status", "failed")
    assert failed.exit_code == 0
    assert "failed" in failed.stdout and "SoldToParty" in failed.stdout
    assert cli("writeback", "list", "out", "--status", "nonsense").exit_code != 0
    retried = cli("writeback", "retry", "out")
    assert retried.exit_code == 0 and "1 item(s) pending again" in retried.stdout

    updated = cli(
        "connection",
        "update",
        "s4",
        "--set",
        "events.username=EVENTMESH",
        "--set",
        "events.password=mesh-Pa55word",
    )
    assert updated.exit_code == 0, updated.stderr
    with sessions.begin() as session:
        stored = session.scalars(select(Connection)).one()
        assert stored.config["events"] == {"username": "EVENTMESH", "password": "********"}
        assert stored.config["auth"]["password"] == "********"  # kept, still masked
    assert cli("connection", "update", "s4").exit_code != 0  # nothing to change
