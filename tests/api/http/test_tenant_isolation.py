"""The tenant-isolation (BOLA) matrix, driven by the app's own OpenAPI.

Tenant A owns one object of every kind. For every operation whose path names an object
(every path parameter), tenant B's admin key calls it with A's ids and a schema-valid
body (the operation's documented example): every call must answer 404, and afterwards
A's data must be byte-for-byte what it was. Lists called by B must not contain any of
A's ids. A new endpoint is covered as soon as it is in the schema.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from decimal import Decimal
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import (
    Account,
    Base,
    Connection,
    Contact,
    ExternalRef,
    InboxEvent,
    Invoice,
    Lead,
    LeadPool,
    MappingDocument,
    Opportunity,
    Order,
    OrderLine,
    OutboxMessage,
    Payment,
    Product,
    Quarantine,
    RecordChange,
    Subscription,
    SyncJob,
    SyncRun,
    Tenant,
    User,
)
from tests.api.http.support import Caller, make_caller

CANARIES = ("华为技术有限公司", "SKU-1", "SO-1", "INV-1", "PAY-1", "example.com/h", "李四")
"""Values only tenant A's objects hold (ids may be echoed: the caller sent them)."""
SKIP_TABLES = {"api_key", "idempotent_request", "tenant"}
"""Keys record their last use; idempotency rows belong to the caller's own tenant."""


def build_world(sessions: sessionmaker[Session], tenant: Tenant) -> dict[str, Any]:
    """One object of every kind for `tenant`; returns ids by resource name."""
    t = tenant.id
    with sessions.begin() as s:
        conn = Connection(tenant_id=t, name="erp", connector="files", config={"path": "/tmp"})
        s.add(conn)
        s.flush()
        account = Account(tenant_id=t, name="华为技术有限公司")
        product = Product(tenant_id=t, sku="SKU-1", name="Router")
        s.add_all([account, product])
        s.flush()
        contact = Contact(tenant_id=t, name="张三", account_id=account.id)
        lead = Lead(tenant_id=t, name="李四")
        opp = Opportunity(tenant_id=t, name="Core network", account_id=account.id)
        order = Order(tenant_id=t, number="SO-1", account_id=account.id)
        invoice = Invoice(tenant_id=t, number="INV-1", account_id=account.id)
        payment = Payment(tenant_id=t, reference="PAY-1", amount=Decimal("10"), currency="CNY")
        s.add_all([contact, lead, opp, order, invoice, payment])
        s.flush()
        s.add(OrderLine(tenant_id=t, order_id=order.id, line_no=1))
        s.add(
            ExternalRef(
                tenant_id=t,
                connection_id=conn.id,
                entity="account",
                object="customers",
                external_id="C-1",
                entity_id=account.id,
                content_hash=b"\0" * 16,
            )
        )
        mapping = MappingDocument(tenant_id=t, name="mine", source="name: mine\n")
        job = SyncJob(tenant_id=t, name="job", connection_id=conn.id, mappings=["mine"])
        s.add_all([mapping, job])
        s.flush()
        run = SyncRun(tenant_id=t, job_id=job.id, status="completed")
        quarantined = Quarantine(
            tenant_id=t,
            connection_id=conn.id,
            job_id=job.id,
            stream="customers",
            reason="invalid",
            message="bad",
            payload={"id": "C-2"},
            payload_hash=b"\1" * 16,
        )
        sub = Subscription(tenant_id=t, name="hook", url="https://example.com/h", secret=b"x")
        user = User(tenant_id=t, email="rep@a.example.cn", name="李四")
        pool = LeadPool(tenant_id=t, name="East", rules={})
        s.add_all([run, quarantined, sub, user, pool])
        s.flush()
        change = RecordChange(
            tenant_id=t, entity="account", entity_id=account.id, op="insert", changes={}
        )
        s.add(change)
        s.flush()
        dead = OutboxMessage(
            tenant_id=t, subscription_id=sub.id, change_seq=change.seq, status="dead"
        )
        event = InboxEvent(tenant_id=t, connection_id=conn.id, event_id="evt-1", payload=b"{}")
        s.add_all([dead, event])
        s.flush()
        return {
            "connections": conn.id,
            "accounts": account.id,
            "contacts": contact.id,
            "leads": lead.id,
            "opportunities": opp.id,
            "products": product.id,
            "orders": order.id,
            "invoices": invoice.id,
            "payments": payment.id,
            "mappings": mapping.name,
            "mapping_id": mapping.id,
            "sync-jobs": job.id,
            "runs": run.id,
            "quarantine": quarantined.id,
            "subscriptions": sub.id,
            "users": user.id,
            "lead-pools": pool.id,
            "dead-letters": dead.id,
            "webhooks": conn.id,
            "events": event.id,
            "connectors": "files",
            "external_id": "C-1",
        }


def snapshot(sessions: sessionmaker[Session], tenant_id: uuid.UUID) -> str:
    """A digest of every row of the tenant, in every table."""
    digest = hashlib.sha256()
    with sessions() as s:
        for table in Base.metadata.sorted_tables:
            if table.name in SKIP_TABLES or "tenant_id" not in table.c:
                continue
            rows = s.execute(
                select(table).where(table.c.tenant_id == tenant_id).order_by(*table.primary_key)
            ).all()
            digest.update(table.name.encode())
            digest.update(orjson.dumps([tuple(map(str, r)) for r in rows]))
    return digest.hexdigest()


def value_for(param: str, path: str, world: dict[str, Any]) -> Any:
    resource = path.split("/")[2]
    if param in ("connection_id",):
        return world["connections"]
    if param == "external_id":
        return world["external_id"]
    if param in ("name", "connector") and resource == "connectors":
        return world["connectors"]
    if resource == "mappings":
        return world["mappings"] if param == "name" else world["mapping_id"]
    if resource == "webhooks" and param != "connection_id":
        return world["events"]
    return world[resource]


def example_body(operation: dict[str, Any], spec: dict[str, Any]) -> Any:
    content = operation.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    if media is None:
        return None
    if "example" in media:
        return media["example"]
    for example in media.get("examples", {}).values():
        return example.get("value")
    schema = media.get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "examples" in schema:
        return schema["examples"][0]
    if "example" in schema:
        return schema["example"]
    return {}


PARAM = re.compile(r"{([^}]+)}")


@pytest.fixture
def world(app: FastAPI, sessions: sessionmaker[Session]) -> tuple[Caller, Caller, dict[str, Any]]:
    alice = make_caller(app, sessions, "alice")
    bob = make_caller(app, sessions, "bob")
    return alice, bob, build_world(sessions, alice.tenant)


def test_other_tenants_ids_answer_404_and_change_nothing(
    world: tuple[Caller, Caller, dict[str, Any]], sessions: sessionmaker[Session]
) -> None:
    alice, bob, objects = world
    before = snapshot(sessions, alice.tenant.id)
    with bob.client as client:
        spec = client.get("/openapi.json").json()
        tried = []
        for path, item in spec["paths"].items():
            params = PARAM.findall(path)
            if not params or path.startswith(("/v1/connectors", "/v1/sales-settings")):
                continue  # the connector catalog is global; settings are each tenant's own
            for method, operation in item.items():
                if method not in {"get", "post", "put", "patch", "delete"}:
                    continue
                url = path
                for param in params:
                    url = url.replace("{" + param + "}", str(value_for(param, path, objects)))
                body = example_body(operation, spec)
                kwargs = {"json": body} if body is not None else {}
                response = client.request(method.upper(), url, **kwargs)
                tried.append(f"{method.upper()} {path}")
                assert response.status_code == 404, (
                    f"{method.upper()} {url} with another tenant's key answered "
                    f"{response.status_code}: {response.text[:300]}"
                )
                leaked = [c for c in CANARIES if c in response.text]
                assert not leaked, f"{method.upper()} {url} shows tenant A's data {leaked}"
    assert len(tried) >= 20, tried
    assert snapshot(sessions, alice.tenant.id) == before


def test_lists_never_show_other_tenants_objects(
    world: tuple[Caller, Caller, dict[str, Any]],
) -> None:
    _, bob, objects = world
    ids = {str(v) for v in objects.values() if isinstance(v, uuid.UUID)}
    with bob.client as client:
        spec = client.get("/openapi.json").json()
        listed = 0
        for path, item in spec["paths"].items():
            if PARAM.search(path) or "get" not in item or not path.startswith("/v1/"):
                continue
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:300])
            leaked = [i for i in ids if i in response.text]
            assert not leaked, f"GET {path} shows tenant A's ids {leaked}"
            listed += 1
    assert listed >= 10
