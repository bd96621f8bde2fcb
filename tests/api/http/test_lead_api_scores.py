"""Scores through the API: a lead with touchpoints is scored and explained part by part
(ICP rules with their points, behaviour points per event type, PLS, and ML withheld
with its reason below the minimum sample); a lead never scored answers 404 with the way
out; training and batch rescoring report what they did."""

from __future__ import annotations

from typing import Any

from api.http.routers.lead_scores import RESCORE_EXAMPLE
from api.http.routers.record_resources import RESOURCES
from tests.api.http.support import Caller

LEAD_EXAMPLE = next(r.example for r in RESOURCES if r.entity == "lead")
UNKNOWN = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"
# No decay, so the points are exact whenever the test runs.
BEHAVIOUR = {
    "rules": {
        "webinar": {"points": "10"},
        "email_open": {"points": "1", "group": "email"},
    },
    "group_caps": {"email": "30"},
}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def lead(alice: Caller, n: int, **values: Any) -> str:
    body = {**LEAD_EXAMPLE, "email": f"lead{n}@qinghe{n}.example.cn", **values}
    created: str = ok(alice.client.post("/v1/leads", json=body), 201)["id"]
    return created


def test_a_scored_lead_is_explained_part_by_part(alice: Caller) -> None:
    client = alice.client
    ok(client.put("/v1/sales-settings/behaviour", json=BEHAVIOUR))
    for n, status in enumerate(("converted", "disqualified", "disqualified"), start=1):
        lead(alice, n, status=status)
    trained = ok(client.post("/v1/scoring/train"))
    assert (trained["sample_size"], trained["positives"]) == (3, 1)
    assert trained["ml_trained"] is False
    assert trained["ml_reason"] == "3 closed leads, need 200"

    lead_id = lead(alice, 0, status="working")
    events = [
        {"lead_id": lead_id, "type": "webinar", "occurred_at": f"2025-06-0{d}T09:30:00Z"}
        for d in (2, 3)
    ] + [
        {"lead_id": lead_id, "type": "email_open", "occurred_at": f"2025-06-0{d}T08:00:00Z"}
        for d in (1, 2, 3)
    ]
    assert ok(client.post("/v1/touchpoints", json={"items": events}))["inserted"] == 5

    problem(client.get(f"/v1/leads/{lead_id}/score"), 404)  # not scored yet
    scored = ok(client.post(f"/v1/leads/{lead_id}/score"))
    assert ok(client.get(f"/v1/leads/{lead_id}/score")) == scored

    # company 10 + e-mail 10 + target industry (Retail) 30 of 20+10+10+10+30+20 = 100
    attribute = scored["attribute"]
    assert (attribute["points"], attribute["max_points"]) == (50, 100)
    assert attribute["percent"] == "50.00"
    earned = {r["label"]: r["points"] for r in attribute["rules"] if r["matched"]}
    assert earned == {"company named": 10, "reachable by e-mail": 10, "target industry": 30}
    unmatched = {r["label"] for r in attribute["rules"] if not r["matched"]}
    assert {"registered company (USCC)", "reachable by mobile", "competitor"} <= unmatched
    # 2 webinars × 10 + 3 opens × 1, no decay, under the e-mail cap of 30
    assert scored["behaviour"]["by_type"] == {"webinar": "20.00", "email_open": "3.00"}
    assert scored["behaviour"]["points"] == "23.00"
    assert scored["stored"]["behaviour_points"] == "23.00"
    assert scored["stored"]["attribute_percent"] == "50.00"
    # default grades: 50 % is B (>= 45, < 75); 23 points is 2 (>= 20, < 50)
    assert scored["grade"] == "B2"
    assert scored["pls"]["status"] == "working"
    assert scored["pls"]["probability"] is not None
    assert scored["versions"]["pls_model"] == str(trained["pls_model_id"])
    assert scored["versions"]["behaviour"] == 1
    assert scored["ml"] == {
        "available": False,
        "reason": "3 closed leads, need 200",
        "probability": None,
        "top_factors": [],
    }
    assert scored["stored"]["ml_probability"] is None
    assert scored["changed_since"] == []


def test_a_lead_never_scored_answers_404_with_the_way_out(alice: Caller) -> None:
    lead_id = lead(alice, 0)
    missing = problem(alice.client.get(f"/v1/leads/{lead_id}/score"), 404)
    assert missing["hint"] == (
        f"POST /v1/leads/{lead_id}/score or wait for the scheduled rescoring"
    )
    unknown = problem(alice.client.get(f"/v1/leads/{UNKNOWN}/score"), 404)
    assert UNKNOWN in unknown["detail"]
    problem(alice.client.post(f"/v1/leads/{UNKNOWN}/score"), 404)


def test_rescoring_reports_grades_and_refuses_other_tenants_leads(
    alice: Caller, bob: Caller
) -> None:
    first, second = lead(alice, 0), lead(alice, 1, status="converted")
    body = {**RESCORE_EXAMPLE, "lead_ids": [first]}
    report = ok(alice.client.post("/v1/scoring/rescore", json=body))
    # 50 % and no touchpoints: B3
    assert report == {
        "scored": 1,
        "converted": 0,
        "disqualified": 0,
        "grades": {"B3": 1},
        "ml_reason": "no model trained yet",
    }
    everything = ok(alice.client.post("/v1/scoring/rescore", json={}))
    assert (everything["scored"], everything["converted"]) == (2, 1)
    converted = ok(alice.client.get(f"/v1/leads/{second}/score"))
    # a converted lead is Odoo's won stage: 100 % in the explanation as in the stored score
    assert converted["pls"]["probability"] == 100.0
    assert converted["stored"]["pls_probability"] == "100.00"
    problem(bob.client.post("/v1/scoring/rescore", json={"lead_ids": [first]}), 404)
    problem(bob.client.get(f"/v1/leads/{first}/score"), 404)
