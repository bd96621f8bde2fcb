"""Canonical records over HTTP: list/get/create/patch and upsert by external id, with
the sync's rules (xref, change log, ownership, out-of-order) and tenant isolation."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.http.routers.record_resources import RESOURCES
from core.model.tables import Account, Connection, RecordChange, Tenant
from tests.api.http.support import Caller, make_caller

HUAWEI = "914403001922038216"


def connection_of(sessions: sessionmaker[Session], tenant: Tenant, name: str) -> uuid.UUID:
    with sessions.begin() as session:
        connection = Connection(tenant_id=tenant.id, name=name, connector="files", config={})
        session.add(connection)
        session.flush()
        return connection.id


def change_count(sessions: sessionmaker[Session], entity_id: str) -> int:
    with sessions() as session:
        return session.scalar(
            select(func.count())
            .select_from(RecordChange)
            .where(RecordChange.entity_id == uuid.UUID(entity_id))
        )


def same(shown: Any, sent: Any) -> bool:
    """Equal as sent, or as the same decimal number (shown at the column's scale)."""
    if shown == sent:
        return True
    try:
        return Decimal(shown) == Decimal(sent)
    except (TypeError, ArithmeticError):
        return False


def created(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/v1/{path}", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# ---------------------------------------------------------------------------- CRUD
def test_every_entity_round_trips_its_documented_example(alice: Caller) -> None:
    client = alice.client
    for resource in RESOURCES:
        response = client.post(f"/v1/{resource.path}", json=resource.example)
        assert response.status_code == 201, (resource.path, response.text)
        record = response.json()
        assert response.headers["location"] == f"/v1/{resource.path}/{record['id']}"
        for name, value in resource.example.items():
            if name != "lines":
                assert same(record[name], value), (resource.path, name)
        fetched = client.get(response.headers["location"])
        assert fetched.status_code == 200 and fetched.json() == record
        listed = client.get(f"/v1/{resource.path}").json()
        assert [item["id"] for item in listed["items"]] == [record["id"]]
        patched = client.patch(f"/v1/{resource.path}/{record['id']}", json=resource.patch_example)
        assert patched.status_code == 200, (resource.path, patched.text)
        assert patched.json()["updated_at"] >= record["updated_at"]
        assert record["created_at"].endswith("Z")
    # Decimals are exact text at the store's scale, the same on every database.
    for sent, shown in (("1234567.8901", "1234567.8901"), ("5.1", "5.1000"), (12, "12.0000")):
        account = created(client, "accounts", {"name": "Acme", "credit_limit": sent})
        assert account["credit_limit"] == shown


def test_order_lines_are_shown_in_order_and_replaced_by_patch(alice: Caller) -> None:
    product = created(alice.client, "products", {"sku": "P-1", "name": "Router"})
    order = created(
        alice.client,
        "orders",
        {
            "number": "SO-1",
            "lines": [
                {"line_no": 2, "sku": "B", "quantity": "1"},
                {"line_no": 1, "product_id": product["id"], "quantity": "2.5"},
            ],
        },
    )
    assert [(line["line_no"], line["product_id"]) for line in order["lines"]] == [
        (1, product["id"]),
        (2, None),
    ]
    assert order["lines"][0]["quantity"] == "2.500000"
    response = alice.client.patch(
        f"/v1/orders/{order['id']}", json={"lines": [{"line_no": 1, "sku": "C"}]}
    )
    assert [line["sku"] for line in response.json()["lines"]] == ["C"]
    assert alice.client.get(f"/v1/orders/{order['id']}").json()["lines"] == response.json()["lines"]


def test_lists_filter_by_their_fields(alice: Caller) -> None:
    client = alice.client
    huawei = created(
        client, "accounts", {"name": "华为技术有限公司", "uscc": HUAWEI, "province": "广东省"}
    )
    acme = created(client, "accounts", {"name": "Acme 100%_Tools", "province": "上海市"})

    def ids(path: str, **params: Any) -> list[str]:
        response = client.get(f"/v1/{path}", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids("accounts", name_prefix="华为") == [huawei["id"]]
    assert ids("accounts", name_contains="100%_t") == [acme["id"]]
    assert ids("accounts", name_contains="%") == [acme["id"]]  # wildcards are literal
    assert ids("accounts", uscc=HUAWEI) == [huawei["id"]]
    assert ids("accounts", province="上海市") == [acme["id"]]
    assert ids("accounts", province="上海市", name_prefix="华为") == []
    assert ids("accounts", updated_since=acme["updated_at"]) == [acme["id"]]

    for number, account, date in (
        ("SO-1", huawei, "2025-01-10"),
        ("SO-2", huawei, "2025-02-10"),
        ("SO-3", acme, "2025-03-10"),
    ):
        created(
            client,
            "orders",
            {"number": number, "account_id": account["id"], "order_date": date, "status": "draft"},
        )
    numbers = lambda **p: [  # noqa: E731
        client.get(f"/v1/orders/{i}").json()["number"] for i in ids("orders", **p)
    ]
    assert numbers(account_id=huawei["id"]) == ["SO-1", "SO-2"]
    assert numbers(order_date_from="2025-02-01", order_date_to="2025-03-10") == ["SO-2", "SO-3"]
    assert numbers(status="draft", account_id=acme["id"]) == ["SO-3"]

    contact = created(
        client, "contacts", {"name": "张伟", "account_id": acme["id"], "email": "Z@X.CN"}
    )
    assert ids("contacts", account_id=acme["id"]) == [contact["id"]]
    assert ids("contacts", email="z@x.cn") == [contact["id"]]


def test_bad_filters_are_problems_naming_the_parameter(alice: Caller) -> None:
    for query, field in (
        ({"status": "shipped"}, "query.status"),
        ({"order_date_from": "yesterday"}, "query.order_date_from"),
        ({"updated_since": "2025-01-01T00:00:00"}, "query.updated_since"),
        ({"limit": 500}, "query.limit"),
        ({"stauts": "draft"}, "query.stauts"),
        ({"cursor": "not-ours"}, "query.cursor"),
        ([("status", "draft"), ("status", "confirmed")], "query.status"),
    ):
        response = alice.client.get("/v1/orders", params=query)
        assert response.status_code == 422, (query, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], response.json()


def test_lists_page_through_every_record_once(alice: Caller) -> None:
    made = [created(alice.client, "leads", {"name": f"Lead {i}"})["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = alice.client.get("/v1/leads", params=params).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made and pages == 3


# ---------------------------------------------------------------------------- validation
MASS_ASSIGNMENT = (
    {"id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"},
    {"tenant_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"},
    {"source_ts": "2025-01-01T00:00:00Z"},
    {"field_owners": {"name": "x"}},
    {"field_ts": {"name": "2025-01-01T00:00:00Z"}},
    {"created_at": "2025-01-01T00:00:00Z"},
)


def test_mass_assignment_is_refused_everywhere(
    alice: Caller, sessions: sessionmaker[Session]
) -> None:
    account = created(alice.client, "accounts", {"name": "Acme"})
    erp = connection_of(sessions, alice.tenant, "erp")
    for extra in MASS_ASSIGNMENT:
        (field,) = extra
        for method, url in (
            ("POST", "/v1/accounts"),
            ("PATCH", f"/v1/accounts/{account['id']}"),
            ("PUT", f"/v1/accounts/external/{erp}/C-1"),
        ):
            response = alice.client.request(method, url, json={"name": "Evil", **extra})
            assert response.status_code == 422, (method, response.text)
            assert [e["field"] for e in response.json()["errors"]] == [f"body.{field}"]
    assert alice.client.get(f"/v1/accounts/{account['id']}").json()["name"] == "Acme"
    assert len(alice.client.get("/v1/accounts").json()["items"]) == 1


def test_invalid_values_are_problems_with_the_fix(alice: Caller) -> None:
    response = alice.client.post("/v1/accounts", json={"name": "Acme", "uscc": HUAWEI[:-1] + "7"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "body.uscc" and "should be '6'" in error["message"]

    account = created(alice.client, "accounts", {"name": "Acme"})
    for body, field in (
        ({"name": None}, "body.name"),
        ({"name": "x\x00y"}, "body.name"),
        ({"credit_limit": "1e400"}, "body.credit_limit"),
        ({"parent_id": str(uuid.uuid4())}, "body.parent_id"),
        ({"parent_id": account["id"]}, "body.parent_id"),
    ):
        response = alice.client.patch(f"/v1/accounts/{account['id']}", json=body)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert field in [e["field"] for e in problem["errors"]], problem
    response = alice.client.post("/v1/payments", json={"reference": "P-1", "currency": "CNY"})
    assert [e["field"] for e in response.json()["errors"]] == ["body.amount"]
    response = alice.client.post(
        "/v1/payments", json={"reference": "P-1", "currency": "CNY", "amount": 0.1}
    )
    [error] = response.json()["errors"]
    assert error["field"] == "body.amount" and "as strings" in error["message"]


def test_unsupported_methods_name_every_method_of_the_path(alice: Caller) -> None:
    for method, url, allow in (
        ("DELETE", "/v1/accounts", "GET, POST"),
        ("OPTIONS", f"/v1/accounts/{uuid.uuid4()}", "GET, PATCH"),
        ("GET", f"/v1/accounts/external/{uuid.uuid4()}/C-1", "PUT"),
    ):
        response = alice.client.request(method, url)
        assert response.status_code == 405 and response.headers["allow"] == allow


def test_writes_need_the_write_scope(app, sessions: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    reader = make_caller(app, sessions, "alice", scopes=("read",))
    writer = make_caller(app, sessions, "alice", scopes=("write",))
    erp = connection_of(sessions, reader.tenant, "erp")
    with reader.client, writer.client:
        account = created(writer.client, "accounts", {"name": "Acme"})
        assert reader.client.get(f"/v1/accounts/{account['id']}").status_code == 200
        assert reader.client.get("/v1/accounts").status_code == 200
        for method, url in (
            ("POST", "/v1/accounts"),
            ("PATCH", f"/v1/accounts/{account['id']}"),
            ("PUT", f"/v1/accounts/external/{erp}/C-1"),
        ):
            response = reader.client.request(method, url, json={"name": "x"})
            assert response.status_code == 403, method
        put = writer.client.put(f"/v1/accounts/external/{erp}/C-1", json={"name": "x"})
        assert put.status_code == 201


# ---------------------------------------------------------------------------- upsert
def test_upsert_inserts_then_updates_then_leaves_unchanged(
    alice: Caller, sessions: sessionmaker[Session]
) -> None:
    erp = connection_of(sessions, alice.tenant, "erp")
    url = f"/v1/accounts/external/{erp}/KNA1/0000100042"
    nameless = alice.client.put(url, json={"city": "深圳"})
    assert nameless.status_code == 422 and nameless.json()["errors"][0]["field"] == "body.name"
    first = alice.client.put(url, json={"name": "Acme", "city": "深圳"})
    assert first.status_code == 201 and first.json()["outcome"] == "inserted"
    record = first.json()
    assert first.headers["location"] == f"/v1/accounts/{record['id']}"
    [ref] = record["external_refs"]
    assert (ref["connection"], ref["object"], ref["external_id"]) == (
        "erp",
        "account",
        "KNA1/0000100042",
    )
    second = alice.client.put(url, json={"name": "Acme", "city": "广州"})
    assert second.status_code == 200 and second.json()["outcome"] == "updated"
    assert second.json()["city"] == "广州" and second.json()["id"] == record["id"]
    third = alice.client.put(url, json={"name": "Acme", "city": "广州"})
    assert third.status_code == 200 and third.json()["outcome"] == "unchanged"
    assert change_count(sessions, record["id"]) == 2
    got = alice.client.get(f"/v1/accounts/{record['id']}").json()
    assert got["external_refs"] == third.json()["external_refs"]


def test_the_same_external_id_from_two_connections_is_two_records_unless_matched(
    alice: Caller, sessions: sessionmaker[Session]
) -> None:
    erp = connection_of(sessions, alice.tenant, "erp")
    crm = connection_of(sessions, alice.tenant, "crm")
    a = alice.client.put(f"/v1/accounts/external/{erp}/42", json={"name": "Acme", "uscc": HUAWEI})
    b = alice.client.put(f"/v1/accounts/external/{crm}/42", json={"name": "Acme"})
    assert a.json()["id"] != b.json()["id"]
    matched = alice.client.put(
        f"/v1/accounts/external/{crm}/7",
        params={"match": "uscc"},
        json={"name": "Acme Ltd", "uscc": HUAWEI},
    )
    assert matched.status_code == 200, matched.text
    assert matched.json()["id"] == a.json()["id"]
    refs = {(r["connection"], r["external_id"]) for r in matched.json()["external_refs"]}
    assert refs == {("erp", "42"), ("crm", "7")}


def test_upsert_keeps_fields_another_connection_owns(
    alice: Caller, sessions: sessionmaker[Session]
) -> None:
    erp = connection_of(sessions, alice.tenant, "erp")
    crm = connection_of(sessions, alice.tenant, "crm")
    owner = alice.client.put(
        f"/v1/accounts/external/{erp}/42",
        params={"owns": ["credit_limit"]},
        json={"name": "Acme", "credit_limit": "100.00"},
    )
    record_id = owner.json()["id"]
    link = alice.client.put(
        f"/v1/accounts/external/{crm}/A-1",
        params={"match": "name"},
        json={"name": "ACME", "credit_limit": "999.00", "city": "深圳"},
    )
    assert link.json()["id"] == record_id
    assert (link.json()["credit_limit"], link.json()["city"]) == ("100.0000", "深圳")
    patch = alice.client.patch(f"/v1/accounts/{record_id}", json={"credit_limit": "1.00"})
    assert patch.status_code == 409 and "erp" in patch.json()["detail"]
    bad = alice.client.put(f"/v1/accounts/external/{erp}/42", params={"owns": ["nope"]}, json={})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.owns.0"


def test_older_data_never_overwrites_newer_data(
    alice: Caller, sessions: sessionmaker[Session]
) -> None:
    erp = connection_of(sessions, alice.tenant, "erp")
    url = f"/v1/leads/external/{erp}/L-1"
    newer = alice.client.put(
        url,
        params={"source_ts": "2025-06-02T10:00:00+08:00"},
        json={"name": "李娜", "status": "working"},
    )
    assert newer.status_code == 201
    older = alice.client.put(
        url, params={"source_ts": "2025-06-01T10:00:00Z"}, json={"name": "李娜", "status": "new"}
    )
    assert older.status_code == 200 and older.json()["outcome"] == "unchanged"
    assert older.json()["status"] == "working"
    assert older.json()["external_refs"][0]["source_ts"] == "2025-06-02T02:00:00Z"
    naive = alice.client.put(url, params={"source_ts": "2025-06-03T10:00:00"}, json={})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "query.source_ts"
    # An API edit is as of its time: a later upsert of data older than it keeps it.
    url = f"/v1/opportunities/external/{erp}/OPP-1"
    first = alice.client.put(
        url,
        params={"source_ts": "2025-06-01T00:00:00Z"},
        json={"name": "Deal", "stage": "proposal"},
    )
    record_id = first.json()["id"]
    alice.client.patch(f"/v1/opportunities/{record_id}", json={"stage": "negotiation"})
    later = alice.client.put(
        url,
        params={"source_ts": "2025-06-02T00:00:00Z"},
        json={"name": "Deal v2", "stage": "proposal"},
    )
    assert later.json()["outcome"] == "updated"
    assert (later.json()["name"], later.json()["stage"]) == ("Deal v2", "negotiation")


def test_references_can_be_external_ids_of_the_same_connection(
    alice: Caller, sessions: sessionmaker[Session]
) -> None:
    erp = connection_of(sessions, alice.tenant, "erp")
    crm = connection_of(sessions, alice.tenant, "crm")
    account = alice.client.put(f"/v1/accounts/external/{erp}/C-1", json={"name": "Acme"}).json()
    product = alice.client.put(
        f"/v1/products/external/{erp}/MAT-9", json={"sku": "MAT-9", "name": "Router"}
    ).json()
    order = alice.client.put(
        f"/v1/orders/external/{erp}/SO-1",
        json={
            "number": "SO-1",
            "account_external_id": "C-1",
            "lines": [{"line_no": 1, "product_external_id": "MAT-9", "quantity": "1"}],
        },
    )
    assert order.status_code == 201, order.text
    assert order.json()["account_id"] == account["id"]
    assert order.json()["lines"][0]["product_id"] == product["id"]
    unknown = alice.client.put(
        f"/v1/contacts/external/{crm}/P-1", json={"name": "张伟", "account_external_id": "C-1"}
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "body.account_external_id"
    both = alice.client.put(
        f"/v1/contacts/external/{erp}/P-1",
        json={"name": "张伟", "account_id": account["id"], "account_external_id": "C-1"},
    )
    assert both.status_code == 422


# ---------------------------------------------------------------------------- tenancy
def test_another_tenant_gets_404_and_changes_nothing(
    alice: Caller, bob: Caller, sessions: sessionmaker[Session]
) -> None:
    erp = connection_of(sessions, alice.tenant, "erp")
    mine = alice.client.put(f"/v1/accounts/external/{erp}/C-1", json={"name": "Acme"}).json()
    before = alice.client.get(f"/v1/accounts/{mine['id']}").json()
    assert bob.client.get(f"/v1/accounts/{mine['id']}").status_code == 404
    assert bob.client.patch(f"/v1/accounts/{mine['id']}", json={"name": "x"}).status_code == 404
    put = bob.client.put(f"/v1/accounts/external/{erp}/C-1", json={"name": "Hijacked"})
    assert put.status_code == 404
    stolen_ref = bob.client.post("/v1/contacts", json={"name": "x", "account_id": mine["id"]})
    assert stolen_ref.status_code == 422
    assert alice.client.get(f"/v1/accounts/{mine['id']}").json() == before
    created(bob.client, "accounts", {"name": "Bob's"})
    for caller, other in ((bob, mine["id"]), (alice, None)):
        items = caller.client.get("/v1/accounts").json()["items"]
        assert len(items) == 1 and items[0]["id"] != other
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 2
