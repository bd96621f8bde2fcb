"""Injected faults of the fake S/4HANA, in-process and through the HTTP control endpoints."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectors.sap.fake import FakeS4, Fault, serve_fake

USER, PASSWORD = "L2C_COMM", "s3cret-Pa55"
SO = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/"
ORDER = {
    "SalesOrderType": "OR",
    "SoldToParty": "0010100001",
    "PurchaseOrderByCustomer": "fa17fa17fa17fa17fa17fa17fa17fa17",
    "to_Item": {"results": [{"Material": "FG1000002", "RequestedQuantity": "1"}]},
}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeS4, str]]:
    fake = FakeS4(business_partners=5, products=3, sales_orders=2, billing_documents=1)
    with serve_fake(fake) as url:
        yield fake, url


@pytest.fixture
def fake(server: tuple[FakeS4, str]) -> FakeS4:
    server[0].reset()
    return server[0]


@pytest.fixture
def http(server: tuple[FakeS4, str], fake: FakeS4) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server[1], auth=(USER, PASSWORD), headers={"Accept": "application/json"}
    ) as client:
        yield client


def token(http: httpx.Client) -> dict[str, str]:
    return {
        "X-CSRF-Token": http.head(SO, headers={"X-CSRF-Token": "Fetch"}).headers["x-csrf-token"]
    }


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_answers_carry_retry_after_for_the_next_n_calls(
    http: httpx.Client, fake: FakeS4, status: int
) -> None:
    fake.inject(Fault(method="GET", path="A_SalesOrder$", times=2, status=status, retry_after=7))
    for _ in range(2):
        response = http.get(SO + "A_SalesOrder")
        assert response.status_code == status
        assert response.headers["retry-after"] == "7"
        assert response.json()["error"]["message"]["value"]
    assert http.get(SO + "A_SalesOrder").status_code == 200


def test_fault_matches_method_and_path_only(http: httpx.Client, fake: FakeS4) -> None:
    fake.inject(Fault(method="POST", path="A_SalesOrder", status=503))
    assert http.get(SO + "A_SalesOrder").status_code == 200
    assert http.post(SO + "A_SalesOrder", json=ORDER, headers=token(http)).status_code == 503
    assert len(fake.sales_orders) == 2


def test_gateway_error_with_given_code_and_message(http: httpx.Client, fake: FakeS4) -> None:
    fake.inject(
        Fault(path="A_SalesOrder", status=400, code="V1/302", message="Credit limit exceeded")
    )
    error = http.get(SO + "A_SalesOrder").json()["error"]
    assert (error["code"], error["message"]["value"]) == ("V1/302", "Credit limit exceeded")


def test_slow_answer_trips_a_short_client_timeout(http: httpx.Client, fake: FakeS4) -> None:
    fake.inject(Fault(path="A_SalesOrder", delay=1.0))
    with pytest.raises(httpx.ReadTimeout):
        http.get(SO + "A_SalesOrder", timeout=0.2)


def test_lost_response_commits_the_order_then_drops_the_connection(
    http: httpx.Client, fake: FakeS4
) -> None:
    fake.inject(Fault(method="POST", path="A_SalesOrder$", lost_response="drop"))
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(SO + "A_SalesOrder", json=ORDER, headers=token(http))
    assert fake.orders_by_po()[ORDER["PurchaseOrderByCustomer"]] == ["3"]
    found = http.get(
        SO + "A_SalesOrder",
        params={"$filter": f"PurchaseOrderByCustomer eq '{ORDER['PurchaseOrderByCustomer']}'"},
    )
    assert [o["SalesOrder"] for o in found.json()["d"]["results"]] == ["3"]


def test_lost_response_as_504_without_body(http: httpx.Client, fake: FakeS4) -> None:
    fake.inject(Fault(method="POST", path="A_SalesOrder$", lost_response="504"))
    response = http.post(SO + "A_SalesOrder", json=ORDER, headers=token(http))
    assert response.status_code == 504 and response.content == b""
    assert "3" in fake.sales_orders


def test_csrf_expiry_fault_forces_a_refetch(http: httpx.Client, fake: FakeS4) -> None:
    headers = token(http)
    fake.inject(Fault(method="POST", path="A_SalesOrder$", expire_csrf=True))
    refused = http.post(SO + "A_SalesOrder", json=ORDER, headers=headers)
    assert refused.status_code == 403 and refused.headers["x-csrf-token"] == "Required"
    assert http.post(SO + "A_SalesOrder", json=ORDER, headers=token(http)).status_code == 201


def test_control_endpoints_for_a_fake_in_another_process(
    server: tuple[FakeS4, str], fake: FakeS4
) -> None:
    base = server[1]
    added = httpx.post(
        base + "/_fake/faults",
        json=[{"method": "GET", "path": "A_Product", "status": 429, "retry_after": 1}],
    )
    assert added.status_code == 200 and len(added.json()["pending"]) == 1
    product = "/sap/opu/odata/sap/API_PRODUCT_SRV/A_Product"
    assert httpx.get(base + product, auth=(USER, PASSWORD)).status_code == 429
    touched = httpx.post(
        base + "/_fake/touch",
        json={
            "entity_set": "A_SalesOrder",
            "key": "1",
            "changes": {"PurchaseOrderByCustomer": "PO-TOUCHED"},
        },
    )
    assert touched.json()["PurchaseOrderByCustomer"] == "PO-TOUCHED"
    stats = httpx.get(base + "/_fake/stats").json()
    assert stats["counts"]["A_SalesOrder"] == 2
    assert stats["sales_orders_by_po"]["PO-TOUCHED"] == ["1"]
    assert "GET A_Product" not in stats["requests"]  # the fault answered before SAP
    assert httpx.post(base + "/_fake/reset").status_code == 204
    assert "PO-TOUCHED" not in httpx.get(base + "/_fake/stats").json()["sales_orders_by_po"]
    bad = httpx.post(base + "/_fake/faults", json={"nonsense": 1})
    assert bad.status_code == 400


def test_request_counts_show_that_a_write_was_not_repeated(
    http: httpx.Client, fake: FakeS4
) -> None:
    http.post(SO + "A_SalesOrder", json=ORDER, headers=token(http))
    assert fake.stats()["requests"]["POST A_SalesOrder"] == 1
