"""The lead-management API end to end, as a manager and two reps use it: users, a pool
with rules and members, deposit, claim (and the refusals), return with a reason and the
cooldown, assignment, the audit, bulk-assign, touchpoints, routing and settings. The
request bodies are the operations' documented examples, with real ids put in."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from api.http.routers.lead_ownership import (
    ASSIGN_EXAMPLE,
    BULK_ASSIGN_EXAMPLE,
    CLAIM_EXAMPLE,
    RETURN_EXAMPLE,
)
from api.http.routers.lead_pools import (
    DEPOSIT_EXAMPLE,
    MEMBER_IN_EXAMPLE,
    POOL_IN_EXAMPLE,
    POOL_PATCH_EXAMPLE,
)
from api.http.routers.record_resources import RESOURCES
from api.http.routers.routing import LADDER_EXAMPLE, RUN_EXAMPLE, SIMULATE_EXAMPLE
from api.http.routers.sales_settings import PUT_EXAMPLES
from api.http.routers.touchpoints import RECORD_EXAMPLE, TOUCHPOINT_EXAMPLE
from api.http.routers.users import USER_IN_EXAMPLE, USER_PATCH_EXAMPLE
from tests.api.http.support import Caller

LEAD_EXAMPLE = next(r.example for r in RESOURCES if r.entity == "lead")


def as_user(user: dict[str, Any]) -> dict[str, str]:
    return {"X-Acting-User": user["id"]}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def team(alice: Caller) -> dict[str, dict[str, Any]]:
    """A manager and two reps."""
    client = alice.client
    people = {
        "manager": {"email": "wang.min@yunfan.example.cn", "name": "王敏", "role": "manager"},
        "li": {**USER_IN_EXAMPLE, "email": "li.na@yunfan.example.cn", "name": "李娜"},
        "zhang": {**USER_IN_EXAMPLE, "email": "zhang.wei@yunfan.example.cn", "name": "张伟"},
    }
    return {key: ok(client.post("/v1/users", json=body), 201) for key, body in people.items()}


def make_leads(alice: Caller, *provinces: str) -> list[str]:
    ids = []
    for n, province in enumerate(provinces):
        body = {**LEAD_EXAMPLE, "email": f"lead{n}.{province}@qinghe.example.cn"}
        body["province"] = province
        ids.append(ok(alice.client.post("/v1/leads", json=body), 201)["id"])
    return ids


def test_users_are_unique_by_email_and_can_be_changed(alice: Caller) -> None:
    client = alice.client
    user = ok(client.post("/v1/users", json=USER_IN_EXAMPLE), 201)
    assert user["role"] == "rep" and user["active"] is True
    same = {**USER_IN_EXAMPLE, "email": USER_IN_EXAMPLE["email"].upper()}
    clash = problem(client.post("/v1/users", json=same), 409)
    assert clash["errors"][0]["field"] == "body.email"
    assert ok(client.patch(f"/v1/users/{user['id']}", json=USER_PATCH_EXAMPLE))["role"] == "manager"
    found = ok(client.get("/v1/users", params={"email": same["email"]}))["items"]
    assert [u["id"] for u in found] == [user["id"]]
    problem(client.get("/v1/users/0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"), 404)


def test_pool_claim_return_assign_and_the_audit(
    alice: Caller, team: dict[str, dict[str, Any]]
) -> None:
    client = alice.client
    manager, li, zhang = team["manager"], team["li"], team["zhang"]
    pool = ok(client.post("/v1/lead-pools", json=POOL_IN_EXAMPLE), 201)
    assert pool["rules"]["cooldown_days"] == 7 and pool["unowned"] == 0
    for rep in (li, zhang):
        member = {**MEMBER_IN_EXAMPLE, "user_id": rep["id"]}
        ok(client.post(f"/v1/lead-pools/{pool['id']}/members", json=member), 201)
    members = ok(client.get(f"/v1/lead-pools/{pool['id']}/members"))["items"]
    assert {m["user_id"] for m in members} == {li["id"], zhang["id"]}

    leads = make_leads(alice, "浙江省", "浙江省", "江苏省")
    deposit = {**DEPOSIT_EXAMPLE, "lead_ids": leads}
    path = f"/v1/lead-pools/{pool['id']}/deposit"
    problem(client.post(path, json=deposit, headers=as_user(li)), 403)  # reps do not deposit
    assert ok(client.post(path, json=deposit, headers=as_user(manager)))["deposited"] == 3
    assert ok(client.get(f"/v1/lead-pools/{pool['id']}"))["unowned"] == 3

    first = leads[0]
    claimed = ok(client.post(f"/v1/leads/{first}/claim", json={}, headers=as_user(li)))
    assert claimed["owner_id"] == li["id"]
    # the follow-up deadline (7 days) comes before the conversion deadline (30 days)
    assert when(claimed["recycle_at"]) == when(claimed["owned_since"]) + timedelta(days=7)
    assert when(claimed["remind_at"]) == when(claimed["owned_since"]) + timedelta(days=5)
    taken = {**CLAIM_EXAMPLE, "user_id": zhang["id"]}
    refused = problem(client.post(f"/v1/leads/{first}/claim", json=taken), 409)
    assert "already owned" in refused["detail"]

    returned = ok(
        client.post(f"/v1/leads/{first}/return", json=RETURN_EXAMPLE, headers=as_user(li))
    )
    assert returned["owner_id"] is None and returned["recycle_at"] is None
    cooldown = problem(client.post(f"/v1/leads/{first}/claim", json={"user_id": li["id"]}), 409)
    assert "cooldown 7 days" in cooldown["detail"]
    assert cooldown["errors"][0]["field"] == "body.user_id"
    bad_reason = {**RETURN_EXAMPLE, "reason_code": "bored"}
    problem(client.post(f"/v1/leads/{leads[1]}/return", json=bad_reason), 409)  # no owner

    assign = {**ASSIGN_EXAMPLE, "user_id": zhang["id"]}
    problem(client.post(f"/v1/leads/{first}/assign", json=assign, headers=as_user(li)), 403)
    assigned = ok(client.post(f"/v1/leads/{first}/assign", json=assign, headers=as_user(manager)))
    assert assigned["owner_id"] == zhang["id"]

    story = ok(client.get(f"/v1/leads/{first}/ownership"))
    assert story["assignment"]["owner_id"] == zhang["id"]
    steps = [(e["action"], e["actor"], e["to_owner"]) for e in reversed(story["history"])]
    assert steps == [
        ("deposit", manager["id"], None),
        ("claim", li["id"], li["id"]),
        ("return", li["id"], None),
        ("assign", manager["id"], zhang["id"]),
    ]
    assert {e["via"] for e in story["history"]} == {"api"}
    assert story["history"][1]["reason_code"] == "no_budget"

    bulk = {**BULK_ASSIGN_EXAMPLE, "lead_ids": leads, "user_id": li["id"], "pool_id": pool["id"]}
    moved = ok(client.post("/v1/leads/bulk-assign", json=bulk, headers=as_user(manager)))
    assert [a["owner_id"] for a in moved["items"]] == [li["id"]] * 3
    assert ok(client.get(f"/v1/leads/{first}/ownership"))["history"][0]["action"] == "transfer"
    owned = ok(client.get(f"/v1/lead-pools/{pool['id']}/leads", params={"owned": "true"}))
    assert sorted(a["lead_id"] for a in owned["items"]) == sorted(leads)
    unknown = {**bulk, "lead_ids": [leads[0], "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"]}
    problem(client.post("/v1/leads/bulk-assign", json=unknown), 404)


def test_claim_by_a_non_member_is_forbidden(alice: Caller, team: dict[str, dict[str, Any]]) -> None:
    client = alice.client
    pool = ok(client.post("/v1/lead-pools", json=POOL_IN_EXAMPLE), 201)
    (lead,) = make_leads(alice, "浙江省")
    ok(client.post(f"/v1/lead-pools/{pool['id']}/deposit", json={"lead_ids": [lead]}))
    refused = problem(
        client.post(f"/v1/leads/{lead}/claim", json={"user_id": team["li"]["id"]}), 403
    )
    assert "not a member" in refused["detail"]
    problem(client.post(f"/v1/leads/{lead}/claim", json={}), 422)  # nobody named


def test_touchpoints_are_stored_once_and_followups_move_the_deadline(
    alice: Caller, team: dict[str, dict[str, Any]]
) -> None:
    client = alice.client
    pool = ok(client.post("/v1/lead-pools", json=POOL_IN_EXAMPLE), 201)
    (lead,) = make_leads(alice, "浙江省")
    ok(client.post(f"/v1/lead-pools/{pool['id']}/deposit", json={"lead_ids": [lead]}))
    owned = ok(client.post(f"/v1/leads/{lead}/assign", json={"user_id": team["li"]["id"]}))

    webinar = {"items": [{**RECORD_EXAMPLE["items"][0], "lead_id": lead}]}
    assert ok(client.post("/v1/touchpoints", json=webinar))["inserted"] == 1
    again = ok(client.post("/v1/touchpoints", json=webinar))
    assert (again["inserted"], again["duplicates"]) == (0, 1)

    called = when(owned["owned_since"]) + timedelta(minutes=1)
    call = {
        **TOUCHPOINT_EXAMPLE,
        "email": LEAD_EXAMPLE["email"].replace("li.na", "lead0.浙江省"),
        "type": "call",
        "occurred_at": called.isoformat(),
        "external_id": "call-1",
    }
    del call["lead_id"]
    assert ok(client.post("/v1/touchpoints", json={"items": [call]}))["followups"] == 1
    after = ok(client.get(f"/v1/leads/{lead}/ownership"))["assignment"]
    assert when(after["followup_due"]) == called + timedelta(days=7)
    assert when(after["recycle_at"]) == called + timedelta(days=7)

    listed = ok(client.get(f"/v1/leads/{lead}/touchpoints", params={"limit": 1}))
    assert [t["type"] for t in listed["items"]] == ["call"]
    rest = ok(client.get(f"/v1/leads/{lead}/touchpoints", params={"cursor": listed["next_cursor"]}))
    assert [t["type"] for t in rest["items"]] == ["webinar"] and rest["next_cursor"] is None
    unknown = {"items": [{**call, "email": "nobody@example.cn", "external_id": "x"}]}
    bad = problem(client.post("/v1/touchpoints", json=unknown), 422)
    assert bad["errors"][0]["field"] == "body.items.0.email"


def test_routing_simulates_without_writing_and_runs_once(
    alice: Caller, team: dict[str, dict[str, Any]]
) -> None:
    client = alice.client
    ok(client.post("/v1/lead-pools", json=POOL_IN_EXAMPLE), 201)  # 华东, the team's overflow
    ok(client.post("/v1/lead-pools", json={"name": "General"}), 201)
    teams = [{**PUT_EXAMPLES["teams"]["value"][0], "members": []}]
    teams[0]["members"] = [{"user_id": team["li"]["id"], "capacity": 50}]
    ok(client.put("/v1/sales-settings/teams", json=teams))
    assert ok(client.put("/v1/sales-settings/routing", json=LADDER_EXAMPLE))["version"] == 1
    zhejiang, jiangsu = make_leads(alice, "浙江省", "江苏省")

    draft = {**SIMULATE_EXAMPLE, "teams": teams}
    simulated = ok(client.post("/v1/routing/simulate", json=draft))
    assert simulated["ladder_version"] == -1  # a draft ladder
    outcome = {o["lead_id"]: (o["rule"], o["owner"], o["pool"]) for o in simulated["outcomes"]}
    assert outcome == {
        zhejiang: ("east china", team["li"]["id"], None),
        jiangsu: ("everything else", None, "General"),
    }
    assert ok(client.get(f"/v1/leads/{zhejiang}/ownership"))["history"] == []

    ran = ok(client.post("/v1/routing/run", json=RUN_EXAMPLE))
    assert ran["ladder_version"] == 1 and ran["routed"] == 2 and ran["catch_all"] == 1
    story = ok(client.get(f"/v1/leads/{zhejiang}/ownership"))
    assert story["assignment"]["owner_id"] == team["li"]["id"]
    assert [(e["action"], e["via"]) for e in story["history"]] == [("route", "routing")]
    assert ok(client.post("/v1/routing/run", json={}))["routed"] == 0


def test_settings_validation_names_the_path(alice: Caller) -> None:
    client = alice.client
    grades = ok(client.get("/v1/sales-settings/grades"))
    assert grades["version"] == 0 and grades["read_only"] is False
    put = ok(client.put("/v1/sales-settings/grades", json=PUT_EXAMPLES["grades"]["value"]))
    assert put["version"] == 1 and put["document"]["attribute_a"] == 75
    wrong = {"rules": [{"name": "all", "target": {"kind": "queue", "id": "x"}}]}
    refused = problem(client.put("/v1/sales-settings/routing", json=wrong), 422)
    assert refused["errors"][0]["field"] == "body.rules.0.target.kind"
    no_catch_all = {
        "rules": [
            {
                "name": "zj",
                "conditions": [{"op": "eq", "attribute": "province", "value": "浙江省"}],
                "target": {"kind": "pool", "id": "x"},
            }
        ]
    }
    refused = problem(client.put("/v1/sales-settings/routing", json=no_catch_all), 422)
    assert "catch-all" in refused["detail"] and refused["errors"][0]["field"] == "body"
    for name, example in PUT_EXAMPLES.items():
        assert ok(client.put(f"/v1/sales-settings/{name}", json=example["value"]))["version"] >= 1
    problem(client.put("/v1/sales-settings/routing_state", json={"last_assigned": {}}), 409)
    problem(client.get("/v1/sales-settings/nonsense"), 404)
    names = [s["name"] for s in ok(client.get("/v1/sales-settings"))["items"]]
    assert "routing" in names and "teams" in names


def test_another_tenants_leads_pools_and_users_answer_404(
    alice: Caller, bob: Caller, team: dict[str, dict[str, Any]]
) -> None:
    pool = ok(alice.client.post("/v1/lead-pools", json=POOL_IN_EXAMPLE), 201)
    (lead,) = make_leads(alice, "浙江省")
    ok(alice.client.post(f"/v1/lead-pools/{pool['id']}/deposit", json={"lead_ids": [lead]}))
    rep = ok(bob.client.post("/v1/users", json=USER_IN_EXAMPLE), 201)  # same e-mail: fine
    client = bob.client
    problem(client.post(f"/v1/leads/{lead}/claim", json={"user_id": rep["id"]}), 404)
    problem(client.get(f"/v1/leads/{lead}/ownership"), 404)
    problem(client.get(f"/v1/lead-pools/{pool['id']}"), 404)
    problem(client.get(f"/v1/users/{team['li']['id']}"), 404)
    problem(client.post("/v1/routing/run", json={"lead_ids": [lead]}), 404)
    # alice cannot act as bob's user, nor give her lead to him
    header = problem(
        alice.client.post(f"/v1/leads/{lead}/claim", json={}, headers=as_user(rep)), 422
    )
    assert header["errors"][0]["field"] == "header.x-acting-user"
    given = problem(alice.client.post(f"/v1/leads/{lead}/assign", json={"user_id": rep["id"]}), 422)
    assert given["errors"][0]["field"] == "body.user_id"
    assert ok(alice.client.get(f"/v1/leads/{lead}/ownership"))["assignment"]["owner_id"] is None


def test_pools_are_changed_by_their_admins_and_members_removed(
    alice: Caller, team: dict[str, dict[str, Any]]
) -> None:
    client = alice.client
    pool = ok(client.post("/v1/lead-pools", json=POOL_IN_EXAMPLE), 201)
    path = f"/v1/lead-pools/{pool['id']}"
    problem(client.patch(path, json=POOL_PATCH_EXAMPLE, headers=as_user(team["li"])), 403)
    patched = ok(client.patch(path, json=POOL_PATCH_EXAMPLE, headers=as_user(team["manager"])))
    assert patched["description"] == POOL_PATCH_EXAMPLE["description"]
    bad = {"rules": {**POOL_IN_EXAMPLE["rules"], "cooldown_days": -1}}
    assert problem(client.patch(path, json=bad), 422)["errors"][0]["field"] == (
        "body.rules.cooldown_days"
    )
    clash = problem(client.post("/v1/lead-pools", json=POOL_IN_EXAMPLE), 409)
    assert clash["errors"][0]["field"] == "body.name"
    ok(client.post(f"{path}/members", json={**MEMBER_IN_EXAMPLE, "user_id": team["li"]["id"]}), 201)
    gone = client.delete(f"{path}/members", params={"user_id": team["li"]["id"]})
    assert gone.status_code == 204
    problem(client.delete(f"{path}/members", params={"user_id": team["li"]["id"]}), 404)
    problem(client.delete(f"{path}/members"), 422)


def test_every_lead_operation_is_documented_with_examples(alice: Caller) -> None:
    spec = ok(alice.client.get("/openapi.json"))
    mine = {"users", "lead-pools", "lead-ownership", "touchpoints", "routing", "sales-settings"}
    checked = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not mine & set(operation.get("tags", ())):
                continue
            assert operation.get("summary"), f"{method} {path} has no summary"
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                ref = body["schema"].get("$ref", "")
                named = spec["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
                assert body.get("examples") or named.get("examples"), f"{method} {path}"
            checked += 1
    assert checked == 25
