"""/v1/connections: validated settings, write-only secrets, the SSRF guard, check and
discover, tenant isolation and pagination."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import Connection, SyncJob, SyncRun
from scheduler.connections import resolved_config
from tests.api.http.conftest import Caller

FAKE_TAP = Path(__file__).parents[2] / "connectors" / "singer" / "fake_tap.py"


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "customers.csv").write_text("customer_code,company_name\nC1,甲公司\n", "utf-8")
    return folder


def files_body(folder: Path, name: str = "erp") -> dict[str, Any]:
    return {
        "name": name,
        "connector": "files",
        "config": {
            "path": str(folder),
            "streams": [
                {
                    "name": "customers",
                    "pattern": "customers*.csv",
                    "key_properties": ["customer_code"],
                }
            ],
        },
    }


def singer_body(password: str = "s3cret", **tap_config: Any) -> dict[str, Any]:
    return {
        "name": "tap",
        "connector": "singer",
        "config": {
            "executable": sys.executable,
            "args": [str(FAKE_TAP)],
            "tap_config": {"password": password, **tap_config},
            "secret_keys": ["password"],
        },
    }


def stored(sessions: sessionmaker[Session], connection_id: str) -> Connection:
    with sessions() as session:
        return session.get_one(Connection, uuid.UUID(connection_id))


def problem_fields(response: Any) -> list[str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return [error["field"] for error in response.json().get("errors", [])]


def test_create_get_and_list_a_connection(alice: Caller, drop: Path) -> None:
    created = alice.client.post("/v1/connections", json=files_body(drop))
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"/v1/connections/{body['id']}"
    assert body["connector"] == "files" and body["status"] == "unchecked"
    assert body["config"]["path"] == str(drop) and body["secrets_set"] == []
    assert alice.client.get(created.headers["location"]).json() == body
    assert [c["id"] for c in alice.client.get("/v1/connections").json()["items"]] == [body["id"]]


def test_secrets_are_write_only_and_encrypted(
    alice: Caller, sessions: sessionmaker[Session]
) -> None:
    created = alice.client.post("/v1/connections", json=singer_body())
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["config"]["tap_config"]["password"] == "********"
    assert body["secrets_set"] == ["tap_config.password"]
    assert "s3cret" not in created.text
    row = stored(sessions, body["id"])
    assert "s3cret" not in str(row.config) and b"s3cret" not in (row.secrets or b"")
    assert resolved_config(row)["tap_config"]["password"] == "s3cret"

    url = f"/v1/connections/{body['id']}"
    kept = alice.client.patch(url, json={"config": {"tap_config": {"count": 2}}})
    assert kept.status_code == 200, kept.text
    assert kept.json()["config"]["tap_config"] == {"password": "********", "count": 2}
    assert resolved_config(stored(sessions, body["id"]))["tap_config"]["password"] == "s3cret"

    echoed = dict(kept.json()["config"])  # what a console sends back after a GET
    assert alice.client.patch(url, json={"config": echoed}).status_code == 200
    assert resolved_config(stored(sessions, body["id"]))["tap_config"]["password"] == "s3cret"

    replaced = alice.client.patch(url, json={"config": {"tap_config": {"password": "n3w"}}})
    assert replaced.status_code == 200 and "n3w" not in replaced.text
    assert resolved_config(stored(sessions, body["id"]))["tap_config"]["password"] == "n3w"

    unflagged = alice.client.patch(url, json={"config": {"secret_keys": []}})
    assert unflagged.status_code == 422
    assert problem_fields(unflagged) == ["body.config.tap_config.password"]
    assert "n3w" not in unflagged.text


def test_the_mask_is_not_a_secret_value(alice: Caller) -> None:
    response = alice.client.post("/v1/connections", json=singer_body(password="********"))
    assert response.status_code == 422
    assert problem_fields(response) == ["body.config.tap_config.password"]


INVALID = [
    ({"connector": "sapp"}, "body.connector"),
    ({"config": {"streams": []}}, "body.config.path"),
    (
        {"config": {"path": "/x", "streams": [{"name": "a", "pattern": "a.parquet"}]}},
        "body.config.streams[0].format",
    ),
    (
        {
            "config": {
                "path": "/x",
                "streams": [{"name": "a", "pattern": "a.csv", "format": "x"}],
            }
        },
        "body.config.streams[0].format",
    ),
    ({"tenant_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"}, "body.tenant_id"),
    ({"name": ""}, "body.name"),
    ({"config": {"path": "a\u0000b", "streams": []}}, "body.config"),
]


def test_invalid_input_names_the_field(alice: Caller, drop: Path) -> None:
    for change, field in INVALID:
        response = alice.client.post("/v1/connections", json={**files_body(drop), **change})
        assert response.status_code == 422, response.text
        assert problem_fields(response)[0] == field, change
        assert response.json()["detail"]
    assert alice.client.get("/v1/connections").json()["items"] == []


def test_duplicate_name_is_a_conflict(alice: Caller, drop: Path) -> None:
    assert alice.client.post("/v1/connections", json=files_body(drop)).status_code == 201
    again = alice.client.post("/v1/connections", json=files_body(drop))
    assert again.status_code == 409 and "already exists" in again.json()["detail"]


def test_urls_pass_the_ssrf_guard(alice: Caller) -> None:
    refused = alice.client.post(
        "/v1/connections",
        json=singer_body(api_url="http://169.254.169.254/latest/meta-data/"),
    )
    assert refused.status_code == 422, refused.text
    assert problem_fields(refused) == ["body.config.tap_config.api_url"]
    assert "link-local" in refused.json()["detail"]
    allowed = alice.client.post(  # 127.0.0.0/8 is allow-listed in the tests' settings
        "/v1/connections", json=singer_body(base_url="http://127.0.0.1:9/api")
    )
    assert allowed.status_code == 201, allowed.text


def test_check_stores_the_status(alice: Caller, drop: Path, tmp_path: Path) -> None:
    good = alice.client.post("/v1/connections", json=files_body(drop)).json()
    checked = alice.client.post(f"/v1/connections/{good['id']}/check")
    assert checked.status_code == 200, checked.text
    assert checked.json()["ok"] is True and checked.json()["status"] == "ok"
    assert "1 file(s) match" in checked.json()["message"]
    assert alice.client.get(f"/v1/connections/{good['id']}").json()["status"] == "ok"

    bad = alice.client.post("/v1/connections", json=files_body(tmp_path / "gone", "gone")).json()
    failed = alice.client.post(f"/v1/connections/{bad['id']}/check").json()
    assert failed["ok"] is False and failed["field"] == "config.path"
    assert failed["hint"] == "create it or correct the path"
    assert alice.client.get(f"/v1/connections/{bad['id']}").json()["status"] == "needs_attention"


def test_discover_lists_streams_of_files_and_singer_taps(alice: Caller, drop: Path) -> None:
    files = alice.client.post("/v1/connections", json=files_body(drop)).json()
    found = alice.client.post(f"/v1/connections/{files['id']}/discover")
    assert found.status_code == 200, found.text
    (stream,) = found.json()["streams"]
    assert stream["name"] == "customers" and stream["key_properties"] == ["customer_code"]
    assert {"customer_code", "company_name", "_file"} <= set(stream["schema"]["properties"])

    tap = alice.client.post("/v1/connections", json=singer_body()).json()
    streams = alice.client.post(f"/v1/connections/{tap['id']}/discover").json()["streams"]
    assert [s["name"] for s in streams] == ["users", "orders"]
    assert streams[0]["key_properties"] == ["id"]


def test_failed_discovery_hides_the_secrets(alice: Caller) -> None:
    tap = alice.client.post("/v1/connections", json=singer_body(password="wr0ng-pw")).json()
    failed = alice.client.post(f"/v1/connections/{tap['id']}/discover")
    assert failed.status_code == 422
    assert "exited with code 1" in failed.json()["detail"]
    assert "login refused" in failed.json()["hint"] and "wr0ng-pw" not in failed.text


def test_delete_removes_it_and_refuses_during_a_run(
    alice: Caller, drop: Path, sessions: sessionmaker[Session]
) -> None:
    first = alice.client.post("/v1/connections", json=files_body(drop)).json()
    assert alice.client.delete(f"/v1/connections/{first['id']}").status_code == 204
    assert alice.client.get(f"/v1/connections/{first['id']}").status_code == 404

    busy = alice.client.post("/v1/connections", json=files_body(drop, "busy")).json()
    with sessions.begin() as session:
        job = SyncJob(
            tenant_id=alice.tenant.id,
            name="j",
            connection_id=uuid.UUID(busy["id"]),
            mappings=["x"],
        )
        session.add(job)
        session.flush()
        session.add(SyncRun(tenant_id=alice.tenant.id, job_id=job.id, status="running"))
    refused = alice.client.delete(f"/v1/connections/{busy['id']}")
    assert refused.status_code == 409 and "active run" in refused.json()["detail"]


def test_other_tenants_get_404_and_change_nothing(
    alice: Caller, bob: Caller, drop: Path, sessions: sessionmaker[Session]
) -> None:
    mine = alice.client.post("/v1/connections", json=files_body(drop)).json()
    url = f"/v1/connections/{mine['id']}"
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"name": "stolen"}),
        ("DELETE", url, None),
        ("POST", f"{url}/check", None),
        ("POST", f"{url}/discover", None),
    ]:
        response = bob.client.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["type"].endswith("/not_found")
    assert bob.client.get("/v1/connections").json()["items"] == []
    assert alice.client.get(url).json() == mine
    assert stored(sessions, mine["id"]).status == "unchecked"


def test_pages_follow_the_cursor(alice: Caller, drop: Path) -> None:
    ids = [
        alice.client.post("/v1/connections", json=files_body(drop, f"c{i}")).json()["id"]
        for i in range(5)
    ]
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = alice.client.get("/v1/connections", params=params).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3
    bad = alice.client.get("/v1/connections", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert bad.status_code == 422 and problem_fields(bad) == ["query.cursor"]
    nul = alice.client.get("/v1/connections", params={"connector": "\x00"})  # PostgreSQL
    assert nul.status_code == 422 and problem_fields(nul) == ["query.connector"]
    assert alice.client.get("/v1/connections", params={"connector": "singer"}).json()["items"] == []


def test_tenants_cannot_read_server_files_or_run_programs(
    alice: Caller, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import get_settings

    monkeypatch.setenv("L2C_FILES_ROOT", str(tmp_path / "tenants" / "{tenant}"))
    monkeypatch.setenv("L2C_SINGER_EXECUTABLES", "[]")
    get_settings.cache_clear()
    own = tmp_path / "tenants" / "alice" / "drop"
    own.mkdir(parents=True)
    for path in ("/etc", str(tmp_path / "tenants" / "bob"), str(own / ".." / ".." / "bob")):
        refused = alice.client.post("/v1/connections", json=files_body(Path(path)))
        assert refused.status_code == 422, (path, refused.text)
        assert refused.json()["errors"][0]["field"] == "body.config.path"
        assert "L2C_FILES_ROOT" in refused.json()["hint"]
    assert alice.client.post("/v1/connections", json=files_body(own)).status_code == 201
    shell = alice.client.post("/v1/connections", json=singer_body())
    assert (
        shell.status_code == 422 and shell.json()["errors"][0]["field"] == "body.config.executable"
    )
    moved = alice.client.patch(
        f"/v1/connections/{alice.client.get('/v1/connections').json()['items'][0]['id']}",
        json={"config": {"path": "/etc"}},
    )
    assert moved.status_code == 422
