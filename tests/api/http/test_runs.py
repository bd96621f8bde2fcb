"""/v1/runs: runs newest first with filters and pages; one run's status, counts, error."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.model.tables import Connection, SyncJob, SyncRun
from tests.api.http.conftest import Caller


@pytest.fixture
def runs(alice: Caller, sessions: sessionmaker[Session]) -> dict[str, Any]:
    """Two jobs of alice's; five runs of the first (oldest first), one of the second."""
    tenant_id = alice.tenant.id
    with sessions.begin() as session:
        connection = Connection(tenant_id=tenant_id, name="erp", connector="files", config={})
        session.add(connection)
        session.flush()
        first = SyncJob(tenant_id=tenant_id, name="a", connection_id=connection.id, mappings=[])
        second = SyncJob(tenant_id=tenant_id, name="b", connection_id=connection.id, mappings=[])
        session.add_all([first, second])
        session.flush()
        start = utcnow() - timedelta(hours=1)
        made = []
        for number, status in enumerate(
            ["completed", "failed", "completed", "completed", "running"]
        ):
            run = SyncRun(
                id=uuid.UUID(int=(number + 1) << 80 | 0x7 << 76 | 1 << 63),
                tenant_id=tenant_id,
                job_id=first.id,
                status=status,
                trigger="schedule",
                started_at=start + timedelta(minutes=number),
                read_count=10 * number,
                quarantined_count=number,
            )
            made.append(run)
        made[1].error, made[1].error_category = "folder /x does not exist", "config"
        made[1].finished_at = start + timedelta(minutes=2)
        other = SyncRun(
            id=uuid.UUID(int=9 << 80 | 0x7 << 76 | 1 << 63),
            tenant_id=tenant_id,
            job_id=second.id,
            status="completed",
        )
        session.add_all([*made, other])
    return {
        "first": str(first.id),
        "second": str(second.id),
        "runs": [str(r.id) for r in made],
        "other": str(other.id),
    }


def test_runs_are_listed_newest_first_and_filtered(alice: Caller, runs: dict[str, Any]) -> None:
    everything = alice.client.get("/v1/runs").json()["items"]
    assert [r["id"] for r in everything] == [runs["other"], *reversed(runs["runs"])]
    of_first = alice.client.get("/v1/runs", params={"job_id": runs["first"]}).json()["items"]
    assert [r["id"] for r in of_first] == list(reversed(runs["runs"]))
    failed = alice.client.get("/v1/runs", params={"status": "failed"}).json()["items"]
    assert [r["id"] for r in failed] == [runs["runs"][1]]


def test_a_run_shows_counts_error_and_times(alice: Caller, runs: dict[str, Any]) -> None:
    run = alice.client.get(f"/v1/runs/{runs['runs'][1]}").json()
    assert run["status"] == "failed" and run["job_id"] == runs["first"]
    assert run["counts"] == {
        "read": 10,
        "inserted": 0,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "quarantined": 1,
    }
    assert run["error"] == "folder /x does not exist" and run["error_category"] == "config"
    assert run["trigger"] == "schedule" and run["finished_at"] and run["started_at"]
    assert alice.client.get(f"/v1/runs/{uuid.uuid4()}").status_code == 404


def test_pages_follow_the_cursor(alice: Caller, runs: dict[str, Any]) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 2, "job_id": runs["first"]}
        page = alice.client.get("/v1/runs", params=params | ({"cursor": cursor} if cursor else {}))
        seen += [r["id"] for r in page.json()["items"]]
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(runs["runs"])) and pages == 3
    too_many = alice.client.get("/v1/runs", params={"limit": 201})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "query.limit"


def test_other_tenants_see_none_of_them(bob: Caller, runs: dict[str, Any]) -> None:
    assert bob.client.get(f"/v1/runs/{runs['runs'][0]}").status_code == 404
    assert bob.client.get("/v1/runs").json()["items"] == []
    assert bob.client.get("/v1/runs", params={"job_id": runs["first"]}).json()["items"] == []
