"""/v1/quarantine: records a sync refused, with why; correct their payload, replay them
(through the tenant's own mappings too), discard them; tenant isolation, pagination."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import Account, Quarantine
from mappings.catalog import builtin_path
from scheduler.jobs import run_job
from tests.api.http.conftest import Caller

ACCOUNTS = builtin_path("files/demo_accounts").read_text(encoding="utf-8")
WITH_07 = ACCOUNTS.replace('"06": healthcare', '"06": healthcare\n            "07": logistics')


def quarantined_run(
    caller: Caller, sessions: sessionmaker[Session], folder: Path, industries: list[str]
) -> dict[str, str]:
    """A connection, the tenant's own accounts mapping and a job; one run over customers
    with these industry codes (all but 01-06 are quarantined)."""
    folder.mkdir()
    with (folder / "customers.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_code", "company_name", "industry_code", "updated_at"])
        for number, code in enumerate(industries, start=1):
            writer.writerow([f"C{number}", f"公司{number}", code, "2024-05-06 10:00:00"])
    streams = [{"name": "customers", "pattern": "*.csv", "key_properties": ["customer_code"]}]
    connection = caller.client.post(
        "/v1/connections",
        json={
            "name": "erp",
            "connector": "files",
            "config": {"path": str(folder), "streams": streams},
        },
    ).json()
    mapping = caller.client.post("/v1/mappings", json={"name": "crm/accounts", "source": ACCOUNTS})
    job = caller.client.post(
        "/v1/sync-jobs",
        json={"name": "customers", "connection_id": connection["id"], "mappings": ["crm/accounts"]},
    ).json()
    report = run_job(sessions, caller.tenant.slug, "customers")
    assert report.status == "completed_with_errors", report.error
    return {"connection": connection["id"], "job": job["id"], "mapping": mapping.json()["id"]}


def entries(caller: Caller, **params: Any) -> list[dict[str, Any]]:
    response = caller.client.get("/v1/quarantine", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_list_and_get_say_why_with_the_raw_payload(
    alice: Caller, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ids = quarantined_run(alice, sessions, tmp_path / "erp", ["01", "99", "98"])
    listed = entries(alice)
    listed.sort(key=lambda e: e["external_id"])
    assert [e["external_id"] for e in listed] == ["C2", "C3"]
    entry = alice.client.get(f"/v1/quarantine/{listed[0]['id']}").json()
    assert entry["reason"] == "unknown_code" and entry["field"] == "industry"
    assert "'99' is not in the value map" in entry["message"]
    assert entry["payload"]["industry_code"] == "99" and entry["status"] == "open"
    assert entry["mapping"] == "crm/accounts" and entry["job_id"] == ids["job"]
    assert len(entries(alice, job_id=ids["job"], connection_id=ids["connection"])) == 2
    assert len(entries(alice, reason="unknown_code", status="open")) == 2
    assert entries(alice, status="replayed") == [] and entries(alice, reason="other") == []


def test_a_corrected_payload_replays(
    alice: Caller, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    quarantined_run(alice, sessions, tmp_path / "erp", ["99"])
    (entry,) = entries(alice)
    still = alice.client.post("/v1/quarantine/replay", json={"ids": [entry["id"]]}).json()
    assert still["replayed"] == [] and still["still_failing"][0]["id"] == entry["id"]

    fixed = {**entry["payload"], "industry_code": "02"}
    patched = alice.client.patch(f"/v1/quarantine/{entry['id']}", json={"payload": fixed})
    assert patched.status_code == 200 and patched.json()["payload"] == fixed
    replayed = alice.client.post("/v1/quarantine/replay", json={"ids": [entry["id"]]})
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {
        "replayed": [entry["id"]],
        "still_failing": [],
        "not_open": [],
        "more": False,
    }
    assert alice.client.get(f"/v1/quarantine/{entry['id']}").json()["status"] == "replayed"
    with sessions() as session:
        assert session.scalars(select(Account.industry)).all() == ["information_technology"]
    again = alice.client.post("/v1/quarantine/replay", json={"ids": [entry["id"]]}).json()
    assert again["not_open"] == [entry["id"]] and again["replayed"] == []
    closed = alice.client.patch(f"/v1/quarantine/{entry['id']}", json={"payload": fixed})
    assert closed.status_code == 409


def test_a_corrected_tenant_mapping_replays_by_filter(
    alice: Caller, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ids = quarantined_run(alice, sessions, tmp_path / "erp", ["07", "07"])
    patched = alice.client.patch(f"/v1/mappings/{ids['mapping']}", json={"source": WITH_07})
    assert patched.status_code == 200, patched.text
    replayed = alice.client.post("/v1/quarantine/replay", json={"filter": {"job_id": ids["job"]}})
    assert len(replayed.json()["replayed"]) == 2 and replayed.json()["more"] is False
    with sessions() as session:
        assert session.scalars(select(Account.industry)).all() == ["logistics", "logistics"]
    assert entries(alice, status="open") == []


def test_discard_closes_an_open_record(
    alice: Caller, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    quarantined_run(alice, sessions, tmp_path / "erp", ["99"])
    (entry,) = entries(alice)
    discarded = alice.client.post(f"/v1/quarantine/{entry['id']}/discard")
    assert discarded.status_code == 200, discarded.text
    assert discarded.json()["status"] == "discarded" and discarded.json()["resolved_at"]
    assert alice.client.post(f"/v1/quarantine/{entry['id']}/discard").status_code == 409


def test_invalid_requests_name_the_field(
    alice: Caller, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    quarantined_run(alice, sessions, tmp_path / "erp", ["99"])
    (entry,) = entries(alice)
    for body in ({}, {"ids": [entry["id"]], "filter": {}}):  # exactly one of them
        response = alice.client.post("/v1/quarantine/replay", json=body)
        assert response.status_code == 422, response.text
        fields = {e["field"] for e in response.json()["errors"]}
        assert fields >= {"body.ReplayIds.ids", "body.ReplayMatching.filter"} or fields >= {
            "body.ReplayIds.filter",
            "body.ReplayMatching.ids",
        }
    nul = alice.client.patch(f"/v1/quarantine/{entry['id']}", json={"payload": {"a": "\u0000"}})
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "body.payload"
    bad_status = alice.client.get("/v1/quarantine", params={"status": "lost"})
    assert bad_status.status_code == 422
    assert bad_status.json()["errors"][0]["field"] == "query.status"


def test_other_tenants_get_404_and_change_nothing(
    alice: Caller, bob: Caller, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ids = quarantined_run(alice, sessions, tmp_path / "erp", ["99"])
    (entry,) = entries(alice)
    url = f"/v1/quarantine/{entry['id']}"
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"payload": {"industry_code": "02"}}),
        ("POST", f"{url}/discard", None),
        ("POST", "/v1/quarantine/replay", {"ids": [entry["id"]]}),
    ]:
        response = bob.client.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
    by_filter = bob.client.post("/v1/quarantine/replay", json={"filter": {"job_id": ids["job"]}})
    assert by_filter.json()["replayed"] == [] and by_filter.json()["still_failing"] == []
    assert entries(bob) == []
    assert alice.client.get(url).json() == entry
    with sessions() as session:
        stored = session.get_one(Quarantine, uuid.UUID(entry["id"]))
        assert (stored.status, stored.attempts) == ("open", 1)


def test_pages_follow_the_cursor(
    alice: Caller, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    quarantined_run(alice, sessions, tmp_path / "erp", ["91", "92", "93", "94", "95"])
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = alice.client.get("/v1/quarantine", params=params).json()
        seen += [item["external_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ["C1", "C2", "C3", "C4", "C5"] and len(seen) == 5
