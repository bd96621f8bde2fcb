"""Two reps claim the same lead through the API at the same instant, on PostgreSQL
(where requests really run in parallel): the tenant's write lock makes one wait, so
exactly one gets the lead and the other a 409."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http.routers.lead_pools import POOL_IN_EXAMPLE
from api.http.routers.record_resources import RESOURCES
from tests.api.http.support import Caller

LEAD_EXAMPLE = next(r.example for r in RESOURCES if r.entity == "lead")


def _post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_simultaneous_claims_give_the_lead_to_exactly_one_rep(app: FastAPI, alice: Caller) -> None:
    client = alice.client
    reps = [
        _post(client, "/v1/users", {"email": f"rep{n}@yunfan.example.cn", "name": f"Rep {n}"})
        for n in range(2)
    ]
    pool = _post(client, "/v1/lead-pools", POOL_IN_EXAMPLE)
    for rep in reps:
        _post(client, f"/v1/lead-pools/{pool['id']}/members", {"user_id": rep["id"]})
    lead = _post(client, "/v1/leads", LEAD_EXAMPLE)["id"]
    _post(client, f"/v1/lead-pools/{pool['id']}/deposit", {"lead_ids": [lead]})

    start = threading.Barrier(2)
    answers: dict[str, tuple[int, dict[str, Any]]] = {}

    def claim(rep: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {alice.key}", "X-Acting-User": rep["id"]}
        own = TestClient(app, headers=headers)  # a client per rep; alice's runs the lifespan
        start.wait()
        response = own.post(f"/v1/leads/{lead}/claim", json={})
        answers[rep["id"]] = (response.status_code, response.json())

    threads = [threading.Thread(target=claim, args=(rep,)) for rep in reps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(status for status, _ in answers.values())
    assert statuses == [200, 409], answers
    winner = next(rep for rep, (status, _) in answers.items() if status == 200)
    loser = next(body for status, body in answers.values() if status == 409)
    assert "already owned" in loser["detail"]
    story = client.get(f"/v1/leads/{lead}/ownership").json()
    assert story["assignment"]["owner_id"] == winner
    assert [e["action"] for e in story["history"]] == ["claim", "deposit"]
