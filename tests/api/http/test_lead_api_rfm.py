"""RFM through the API: two accounts with orders are scored, segmented and valued by
hand-computed rules; an account without RFM answers 404 with the way out; a rerun with
nothing changed is skipped."""

from __future__ import annotations

from typing import Any

from api.http.routers.record_resources import RESOURCES
from api.http.routers.rfm import RECOMPUTE_EXAMPLE
from tests.api.http.support import Caller

EXAMPLES = {r.entity: r.example for r in RESOURCES}
UNKNOWN = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def account(alice: Caller, name: str) -> str:
    body = {**EXAMPLES["account"], "name": name, "uscc": None}
    created: str = ok(alice.client.post("/v1/accounts", json=body), 201)["id"]
    return created


def order(alice: Caller, account_id: str, number: str, day: str, net: str) -> None:
    body = {
        "number": number,
        "account_id": account_id,
        "order_date": day,
        "status": "confirmed",
        "currency": "CNY",
        "net_amount": net,
    }
    ok(alice.client.post("/v1/orders", json=body), 201)


def test_accounts_with_orders_get_rfm_segments_and_ltv(alice: Caller) -> None:
    client = alice.client
    yunfan, qinghe, idle = (
        account(alice, "云帆科技"),
        account(alice, "青禾贸易"),
        account(alice, "静"),
    )
    order(alice, yunfan, "SO-1", "2025-05-01", "100000.00")
    order(alice, yunfan, "SO-2", "2025-06-01", "150000.00")
    order(alice, qinghe, "SO-3", "2025-01-10", "50000.00")

    report = ok(client.post("/v1/rfm/recompute", json=RECOMPUTE_EXAMPLE))  # as of 2025-06-30
    assert (report["accounts_scored"], report["orders_counted"]) == (2, 2 + 1)
    assert (report["window_start"], report["segment_changes"]) == ("2023-07-02", 2)

    value = ok(client.get(f"/v1/accounts/{yunfan}/rfm"))
    # n = 2: the better account has 1 worse value -> 1 + floor(5 * 1 / 2) = 3 on each
    assert (value["recency_days"], value["frequency"], value["monetary"]) == (
        29,
        2,
        "250000.0000",
    )
    assert (value["r"], value["f"], value["m"], value["cell"]) == (3, 3, 3, "333")
    assert value["segment"] == "need_attention"
    # AOV 125000 × (2 × 365 / 730 = 1 a year) × 3 years
    assert value["ltv"] == "375000.0000" and value["ltv_method"] == "transactional"
    assert [h["to_segment"] for h in value["history"]] == ["need_attention"]
    assert value["history"][0]["from_segment"] is None
    other = ok(client.get(f"/v1/accounts/{qinghe}/rfm"))
    assert (other["recency_days"], other["cell"], other["segment"]) == (171, "111", "hibernating")

    segments = ok(client.get("/v1/rfm/segments"))
    assert segments["as_of"] == "2025-06-30"
    counts = {s["segment"]: (s["accounts"], s["monetary"]) for s in segments["items"]}
    assert len(counts) == 10
    assert counts["need_attention"][0] == 1 and counts["hibernating"][0] == 1
    assert counts["champions"][0] == 0

    missing = problem(client.get(f"/v1/accounts/{idle}/rfm"), 404)
    assert missing["hint"] == "POST /v1/rfm/recompute or wait for the scheduled recomputation"
    problem(client.get(f"/v1/accounts/{UNKNOWN}/rfm"), 404)

    again = ok(client.post("/v1/rfm/recompute", json={"as_of": "2025-06-30"}))
    assert again["skipped"] is True and again["accounts_scored"] == 0


def test_recompute_refuses_an_implausible_date(alice: Caller) -> None:
    refused = problem(alice.client.post("/v1/rfm/recompute", json={"as_of": "0001-01-01"}), 422)
    assert refused["errors"][0]["field"] == "body.as_of"
