"""Conversion, duplicates and merge through the API: a lead converts onto the account
that has its USCC and gets a new contact and opportunity; converting twice is 409; a
duplicate is found, scanned and merged with its provenance kept, and the survivor is
rescored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.http.routers.lead_conversion import CONVERT_EXAMPLE, MERGE_EXAMPLE
from api.http.routers.record_resources import RESOURCES
from core.model.tables import LeadMerge
from tests.api.http.support import Caller

EXAMPLES = {r.entity: r.example for r in RESOURCES}
UNKNOWN = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"
USCC = EXAMPLES["account"]["uscc"]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def touch(alice: Caller, lead_id: str, *kinds: str) -> None:
    """Events of the last hours (scored with little decay whenever the test runs)."""
    now = datetime.now(UTC)
    items = [
        {
            "lead_id": lead_id,
            "type": kind,
            "occurred_at": (now - timedelta(hours=n + 1)).isoformat(),
        }
        for n, kind in enumerate(kinds)
    ]
    ok(alice.client.post("/v1/touchpoints", json={"items": items}))


def test_convert_attaches_to_the_account_with_the_uscc_and_refuses_a_second_time(
    alice: Caller,
) -> None:
    client = alice.client
    account = ok(client.post("/v1/accounts", json=EXAMPLES["account"]), 201)
    lead = ok(client.post("/v1/leads", json={**EXAMPLES["lead"], "uscc": USCC}), 201)
    touch(alice, lead["id"], "webinar", "download")

    done = ok(client.post(f"/v1/leads/{lead['id']}/convert", json=CONVERT_EXAMPLE))
    assert done["account_id"] == account["id"]
    assert (done["account_match"], done["account_created"]) == ("uscc", False)
    assert (done["contact_match"], done["contact_created"]) == ("created", True)
    assert done["touchpoints_moved"] == 2

    contact = ok(client.get(f"/v1/contacts/{done['contact_id']}"))
    assert (contact["account_id"], contact["email"]) == (account["id"], lead["email"])
    deal = ok(client.get(f"/v1/opportunities/{done['opportunity_id']}"))
    assert deal["account_id"] == account["id"]
    assert (deal["name"], deal["status"]) == ("青禾 2025 门店网络改造", "open")
    assert deal["amount"].startswith("380000.00")
    assert ok(client.get(f"/v1/leads/{lead['id']}"))["status"] == "converted"
    score = ok(client.get(f"/v1/leads/{lead['id']}/score"))
    assert score["stored"]["pls_probability"] == "100.00"
    events = ok(client.get(f"/v1/leads/{lead['id']}/touchpoints"))["items"]
    assert {(e["account_id"], e["opportunity_id"]) for e in events} == {
        (account["id"], done["opportunity_id"])
    }

    again = problem(client.post(f"/v1/leads/{lead['id']}/convert", json={}), 409)
    assert account["id"] in again["detail"] and done["opportunity_id"] in again["detail"]


def test_convert_names_the_field_of_a_bad_reference(alice: Caller) -> None:
    client = alice.client
    lead = ok(client.post("/v1/leads", json=EXAMPLES["lead"]), 201)
    refused = problem(
        client.post(f"/v1/leads/{lead['id']}/convert", json={"account_id": UNKNOWN}), 422
    )
    assert refused["errors"][0]["field"] == "body.account_id"
    extra = {"opportunity": {"status": "won"}}
    problem(client.post(f"/v1/leads/{lead['id']}/convert", json=extra), 422)
    problem(client.post(f"/v1/leads/{UNKNOWN}/convert", json={}), 404)
    # nothing was converted by the refusals
    assert ok(client.get(f"/v1/leads/{lead['id']}"))["status"] == "new"


def test_a_duplicate_is_found_scanned_and_merged_with_its_provenance(
    alice: Caller, sessions: sessionmaker[Session]
) -> None:
    client = alice.client
    survivor = ok(client.post("/v1/leads", json=EXAMPLES["lead"]), 201)
    twin_body = {**EXAMPLES["lead"], "name": "Li Na", "phone": "+86 571 8888 6666"}
    twin = ok(client.post("/v1/leads", json=twin_body), 201)
    touch(alice, twin["id"], "webinar")

    found = ok(client.get(f"/v1/leads/{survivor['id']}/duplicates"))["items"]
    assert [(m["entity"], m["id"]) for m in found] == [("lead", twin["id"])]
    assert {r["signal"] for r in found[0]["reasons"]} >= {"email"}
    groups = ok(client.get("/v1/duplicates", params={"min_score": 70}))["items"]
    assert [[m["id"] for m in g["members"]] for g in groups] == [[survivor["id"], twin["id"]]]

    body = {**MERGE_EXAMPLE, "merged_id": twin["id"]}
    merged = ok(client.post(f"/v1/leads/{survivor['id']}/merge", json=body))
    assert merged["fields_taken"] == {"phone": "+86 571 8888 6666"}
    assert merged["survivor"]["phone"] == "+86 571 8888 6666"
    assert merged["survivor"]["name"] == "李娜"  # kept: not empty on the survivor
    assert merged["touchpoints_moved"] == 1
    assert merged["grade"] is not None
    problem(client.get(f"/v1/leads/{twin['id']}"), 404)
    score = ok(client.get(f"/v1/leads/{survivor['id']}/score"))
    assert set(score["behaviour"]["by_type"]) == {"webinar"}
    with sessions() as session:
        kept = session.scalars(select(LeadMerge)).one()
    assert str(kept.merged_id) == twin["id"] and str(kept.survivor_id) == survivor["id"]
    assert kept.snapshot["record"]["name"] == "Li Na"
    assert kept.snapshot["touchpoint_ids"] == [
        e["id"] for e in ok(client.get(f"/v1/leads/{survivor['id']}/touchpoints"))["items"]
    ]
    assert ok(client.get("/v1/duplicates"))["items"] == []

    itself = problem(
        client.post(f"/v1/leads/{survivor['id']}/merge", json={"merged_id": survivor["id"]}),
        409,
    )
    assert itself["errors"][0]["field"] == "body.merged_id"
    problem(client.post(f"/v1/leads/{survivor['id']}/merge", json={"merged_id": UNKNOWN}), 404)
