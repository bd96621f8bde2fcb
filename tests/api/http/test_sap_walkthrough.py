"""docs/connectors/sap.md end to end through the REST API, against the fake S/4HANA:
add an sap_odata connection, check and discover it, sync business partners, products
and sales orders, write a confirmed order back once, read it back without a twin, and
take an SAP business event that carries keys only."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from connectors.sap.fake import FakeS4, serve_fake
from scheduler.inbox import process_pending
from scheduler.jobs import run_job
from tests.api.http.support import Caller

USER, PASSWORD = "L2C_COMM", "s3cret-Pa55"
EVENTS_USER, EVENTS_PASSWORD = "EVENTMESH", "mesh-Pa55word"


@pytest.fixture
def fake() -> Iterator[tuple[FakeS4, str]]:
    system = FakeS4(business_partners=60, products=20, sales_orders=30, billing_documents=20)
    with serve_fake(system) as url:
        yield system, url


def _run(sessions: sessionmaker[Session], caller: Caller, job: str) -> None:
    report = run_job(sessions, caller.tenant.slug, job)
    assert report.status in ("completed", "completed_with_errors"), report.error


def test_sap_walkthrough(
    alice: Caller, sessions: sessionmaker[Session], fake: tuple[FakeS4, str]
) -> None:
    system, url = fake
    api = alice.client
    config = {
        "base_url": url,
        "sap_client": "100",
        "auth": {"type": "basic", "username": USER, "password": PASSWORD},
    }
    created = api.post(
        "/v1/connections", json={"name": "s4", "connector": "sap_odata", "config": config}
    )
    assert created.status_code == 201, created.text
    connection = created.json()
    assert connection["config"]["auth"]["password"] == "********"
    check = api.post(f"/v1/connections/{connection['id']}/check").json()
    assert check["ok"] is True, check
    streams = api.post(f"/v1/connections/{connection['id']}/discover").json()
    assert {s["name"] for s in streams["streams"]} == {
        "business_partners",
        "products",
        "sales_orders",
        "billing_documents",
    }

    for name, mappings in (
        ("s4-master", ["sap/bp_accounts", "sap/bp_contacts", "sap/products"]),
        ("s4-orders", ["sap/sales_orders", "sap/billing_documents"]),
    ):
        job = api.post(
            "/v1/sync-jobs",
            json={
                "name": name,
                "connection_id": connection["id"],
                "mappings": mappings,
                "schedule": "*/15 * * * *",
            },
        )
        assert job.status_code == 201, job.text
        _run(sessions, alice, name)

    accounts = api.get("/v1/accounts", params={"limit": 200}).json()["items"]
    assert len(accounts) > 20
    known = [a for a in accounts if any(r["connection"] == "s4" for r in a["external_refs"])]
    customer = next(a for a in known if a["province"])
    assert customer["uscc"] is None or len(customer["uscc"]) == 18
    products = api.get("/v1/products", params={"limit": 5}).json()["items"]
    assert products
    orders_before = api.get("/v1/orders", params={"limit": 200}).json()["items"]
    assert orders_before and all(o["account_id"] for o in orders_before)

    # a won deal's order, confirmed in the hub
    order = api.post(
        "/v1/orders",
        json={
            "number": "HUB-2026-0001",
            "account_id": customer["id"],
            "order_date": "2026-11-20",
            "status": "confirmed",
            "currency": "CNY",
            "lines": [{"line_no": 10, "sku": products[0]["sku"], "quantity": "2", "unit": "H87"}],
        },
    )
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    out = api.post(
        "/v1/sync-jobs",
        json={
            "name": "s4-orders-out",
            "connection_id": connection["id"],
            "kind": "writeback",
            "mappings": ["sap/outbound/order_to_sales_order"],
        },
    )
    assert out.status_code == 201, out.text
    _run(sessions, alice, "s4-orders-out")
    _run(sessions, alice, "s4-orders-out")  # nothing new: nothing sent

    key = uuid.UUID(order_id).hex
    assert len(system.orders_by_po().get(key, [])) == 1
    number = system.orders_by_po()[key][0]
    items = api.get(f"/v1/sync-jobs/{out.json()['id']}/writeback").json()["items"]
    assert [(i["status"], i["remote_id"]) for i in items] == [("written", number)]
    assert 'l2c_writeback_items{status="written"} 1.0' in api.get("/metrics").text
    written = api.get(f"/v1/orders/{order_id}").json()
    assert written["erp_status"] is not None
    assert {"object": "sales_orders", "external_id": number} in [
        {"object": r["object"], "external_id": r["external_id"]} for r in written["external_refs"]
    ]

    # the next sales-order sync reads SAP's copy back into the same canonical order
    _run(sessions, alice, "s4-orders")
    same = api.get("/v1/orders", params={"number": "HUB-2026-0001"}).json()["items"]
    assert [o["id"] for o in same] == [order_id]
    assert len(system.orders_by_po()[key]) == 1

    # SAP Event Mesh pushes a key-only event; the hub re-reads the partner through OData
    patched = api.patch(
        f"/v1/connections/{connection['id']}",
        json={"config": {"events": {"username": EVENTS_USER, "password": EVENTS_PASSWORD}}},
    )
    assert patched.status_code == 200, patched.text
    partner = next(
        r["external_id"] for r in customer["external_refs"] if r["object"] == "business_partners"
    )
    system.touch(
        "A_BusinessPartner",
        partner,
        OrganizationBPName1="华东精密机械（集团）",
        OrganizationBPName2="有限公司",
    )
    event = {
        "specversion": "1.0",
        "type": "sap.s4.beh.businesspartner.v1.BusinessPartner.Changed.v1",
        "source": "/default/sap.s4.beh/S4H",
        "id": str(uuid.uuid4()),
        "time": "2026-11-26T08:00:00Z",
        "datacontenttype": "application/json",
        "data": {"BusinessPartner": partner},
    }
    basic = base64.b64encode(f"{EVENTS_USER}:{EVENTS_PASSWORD}".encode()).decode()
    refused = api.post(
        f"/v1/webhooks/{connection['id']}",
        json=event,
        headers={"Authorization": "Basic " + base64.b64encode(b"x:y").decode()},
    )
    assert refused.status_code == 401
    pushed = api.post(
        f"/v1/webhooks/{connection['id']}",
        json=event,
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/cloudevents+json"},
    )
    assert pushed.status_code == 202, pushed.text
    report = process_pending(sessions)
    assert (report.processed, report.failed) == (1, 0)
    renamed = api.get(f"/v1/accounts/{customer['id']}").json()
    assert renamed["name"] == "华东精密机械（集团）有限公司"
