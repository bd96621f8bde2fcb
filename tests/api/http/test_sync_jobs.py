"""/v1/sync-jobs: define jobs (mappings compiled, cron schedule planned), trigger runs,
reset bookmarks; tenant isolation and pagination."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import Account, Contact, StreamState, SyncRun
from core.store.state import save_state
from scheduler.jobs import run_job
from tests.api.http.conftest import Caller

DEMO = Path(str(resources.files("api.cli") / "demo_data"))
STREAMS = [
    {"name": "customers", "pattern": "customers*.csv", "key_properties": ["customer_code"]},
    {"name": "contacts", "pattern": "contacts.csv", "key_properties": ["contact_id"]},
]
MAPPINGS = ["files/demo_accounts", "files/demo_contacts"]


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """Tasks handed to the broker (after commit), instead of a real broker."""
    sent: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(
        "scheduler.queue.publish", lambda task, *args, **_: sent.append((task.name, args))
    )
    return sent


def make_connection(caller: Caller, folder: Path, name: str = "erp") -> str:
    body = {"name": name, "connector": "files", "config": {"path": str(folder), "streams": STREAMS}}
    response = caller.client.post("/v1/connections", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def make_job(caller: Caller, connection_id: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "nightly", "connection_id": connection_id, "mappings": MAPPINGS, **fields}
    response = caller.client.post("/v1/sync-jobs", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_create_plans_the_schedule(alice: Caller, tmp_path: Path) -> None:
    job = make_job(alice, make_connection(alice, tmp_path), schedule="0 2 * * *")
    assert job["streams"] == ["contacts", "customers"] and job["enabled"] is True
    next_run = datetime.fromisoformat(job["next_run_at"])
    assert next_run > datetime.now(UTC) and (next_run.hour, next_run.minute) == (2, 0)
    assert alice.client.get(f"/v1/sync-jobs/{job['id']}").json() == job
    assert [j["id"] for j in alice.client.get("/v1/sync-jobs").json()["items"]] == [job["id"]]


def test_patch_changes_schedule_mappings_and_streams(alice: Caller, tmp_path: Path) -> None:
    job = make_job(alice, make_connection(alice, tmp_path), schedule="0 2 * * *")
    url = f"/v1/sync-jobs/{job['id']}"
    every = alice.client.patch(url, json={"schedule": "*/15 * * * *"}).json()
    assert every["schedule"] == "*/15 * * * *"
    assert datetime.fromisoformat(every["next_run_at"]).minute % 15 == 0
    paused = alice.client.patch(url, json={"enabled": False}).json()
    assert paused["enabled"] is False and paused["schedule"] == "*/15 * * * *"
    on_demand = alice.client.patch(url, json={"schedule": None}).json()
    assert on_demand["schedule"] is None and on_demand["next_run_at"] is None
    narrowed = alice.client.patch(url, json={"streams": ["customers"]}).json()
    assert narrowed["streams"] == ["customers"] and narrowed["mappings"] == MAPPINGS
    remapped = alice.client.patch(url, json={"mappings": ["files/demo_orders"]}).json()
    assert remapped["streams"] == ["orders"]


INVALID = [
    ({"schedule": "every day"}, "body.schedule"),
    ({"schedule": "0 0 31 2 *"}, "body.schedule"),
    ({"mappings": ["files/nope"]}, "body.mappings[0]"),
    ({"mappings": ["files/demo_accounts", "files/demo_accounts"]}, "body.mappings[1]"),
    ({"mappings": [str(Path(__file__))]}, "body.mappings[0]"),  # no server files
    ({"mappings": []}, "body.mappings"),
    ({"streams": ["orders"]}, "body.streams[0]"),
    ({"next_run_at": "2030-01-01T00:00:00Z"}, "body.next_run_at"),
]


def test_invalid_jobs_name_the_field(alice: Caller, tmp_path: Path) -> None:
    connection_id = make_connection(alice, tmp_path)
    for change, field in INVALID:
        body = {"name": "nightly", "connection_id": connection_id, "mappings": MAPPINGS, **change}
        response = alice.client.post("/v1/sync-jobs", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field, change
    assert alice.client.get("/v1/sync-jobs").json()["items"] == []


def test_names_are_unique_and_connections_must_be_the_tenants(
    alice: Caller, bob: Caller, tmp_path: Path
) -> None:
    connection_id = make_connection(alice, tmp_path)
    make_job(alice, connection_id)
    duplicate = alice.client.post(
        "/v1/sync-jobs",
        json={"name": "nightly", "connection_id": connection_id, "mappings": MAPPINGS},
    )
    assert duplicate.status_code == 409
    foreign = bob.client.post(
        "/v1/sync-jobs", json={"name": "x", "connection_id": connection_id, "mappings": MAPPINGS}
    )
    assert foreign.status_code == 404


def test_trigger_queues_one_run_at_a_time(
    alice: Caller, tmp_path: Path, published: list[tuple[str, tuple[Any, ...]]]
) -> None:
    job = make_job(alice, make_connection(alice, tmp_path))
    queued = alice.client.post(f"/v1/sync-jobs/{job['id']}/runs")
    assert queued.status_code == 202, queued.text
    run = queued.json()
    assert queued.headers["location"] == f"/v1/runs/{run['id']}"
    assert run["status"] == "queued" and run["trigger"] == "api" and run["job_id"] == job["id"]
    assert published == [("l2c.run_sync", (run["id"],))]  # after the commit
    assert alice.client.get(queued.headers["location"]).json() == run
    again = alice.client.post(f"/v1/sync-jobs/{job['id']}/runs")
    assert again.status_code == 409 and run["id"] in again.json()["detail"]
    assert len(published) == 1


def test_streams_narrow_what_a_run_reads(
    alice: Caller, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    for name in ("customers.csv", "contacts.csv"):
        shutil.copy(DEMO / name, tmp_path / name)
    make_job(alice, make_connection(alice, tmp_path), streams=["customers"])
    report = run_job(sessions, "alice", "nightly")
    assert report.status in ("completed", "completed_with_errors"), report.error
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Account)) > 0
        assert session.scalar(select(func.count()).select_from(Contact)) == 0


def test_reset_forgets_bookmarks_but_not_during_a_run(
    alice: Caller, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    job = make_job(alice, make_connection(alice, tmp_path))
    job_id = uuid.UUID(job["id"])
    with sessions.begin() as session:
        state = {"bookmarks": {"customers": {"a": 1}, "contacts": {"b": 2}}}
        save_state(session, tenant_id=alice.tenant.id, job_id=job_id, run_id=None, state=state)
    one = alice.client.post(f"/v1/sync-jobs/{job['id']}/reset", json={"stream": "contacts"})
    assert one.status_code == 200 and one.json() == {"removed": 1}
    assert alice.client.post(f"/v1/sync-jobs/{job['id']}/reset").json() == {"removed": 1}
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(StreamState)) == 0
        session.add(SyncRun(tenant_id=alice.tenant.id, job_id=job_id, status="running"))
    busy = alice.client.post(f"/v1/sync-jobs/{job['id']}/reset")
    assert busy.status_code == 409 and "running run" in busy.json()["detail"]
    assert alice.client.delete(f"/v1/sync-jobs/{job['id']}").status_code == 409


def test_delete_removes_the_job_and_its_runs(
    alice: Caller, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    job = make_job(alice, make_connection(alice, tmp_path))
    with sessions.begin() as session:
        session.add(
            SyncRun(tenant_id=alice.tenant.id, job_id=uuid.UUID(job["id"]), status="completed")
        )
    assert alice.client.delete(f"/v1/sync-jobs/{job['id']}").status_code == 204
    assert alice.client.get(f"/v1/sync-jobs/{job['id']}").status_code == 404
    assert alice.client.get("/v1/runs").json()["items"] == []


def test_other_tenants_get_404_and_trigger_nothing(
    alice: Caller,
    bob: Caller,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    published: list[tuple[str, tuple[Any, ...]]],
) -> None:
    job = make_job(alice, make_connection(alice, tmp_path), schedule="0 2 * * *")
    url = f"/v1/sync-jobs/{job['id']}"
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"schedule": None}),
        ("DELETE", url, None),
        ("POST", f"{url}/runs", None),
        ("POST", f"{url}/reset", {}),
    ]:
        response = bob.client.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
    assert alice.client.get(url).json() == job
    assert bob.client.get("/v1/sync-jobs").json()["items"] == []
    assert published == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 0


def test_pages_follow_the_cursor(alice: Caller, tmp_path: Path) -> None:
    connection_id = make_connection(alice, tmp_path)
    ids = [make_job(alice, connection_id, name=f"j{i}")["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = alice.client.get("/v1/sync-jobs", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    other = alice.client.get("/v1/sync-jobs", params={"connection_id": str(uuid.uuid4())})
    assert other.json()["items"] == []
