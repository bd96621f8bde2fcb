"""/v1/mappings: tenants' mapping documents beside the built-in ones, compiled on every
change; jobs use them by name; the preview shows what samples become."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import Account
from mappings.catalog import list_builtin
from scheduler.jobs import run_job
from tests.api.http.conftest import Caller

DOC = """\
version: 1
source: {connector: files, stream: customers}
target: account
key: customer_code
fields:
  name: {from: company_name, transform: collapse_space}
"""
SHOUTING = DOC.replace("collapse_space", "[collapse_space, upper]")
BROKEN = """\
version: 1
source: {connector: files, stream: customers}
target: account
key: customer_code
fields:
  nmae: company_name
  credit_limit: {from: limit, transform: decimall}
"""
SAMPLE = {
    "customer_code": "C1",
    "company_name": "华为技术有限公司",
    "uscc": "914403001922038216",
    "industry_code": "02",
    "credit_limit": "1,000.50",
    "currency": "RMB",
    "updated_at": "2024-05-06 14:30:00",
}


def create(caller: Caller, name: str = "crm/accounts", source: str = DOC) -> dict[str, Any]:
    response = caller.client.post("/v1/mappings", json={"name": name, "source": source})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_change_and_version_a_document(alice: Caller) -> None:
    doc = create(alice)
    assert doc["version"] == 1 and doc["builtin"] is False
    assert (doc["connector"], doc["stream"], doc["entity"]) == ("files", "customers", "account")
    url = f"/v1/mappings/{doc['id']}"
    assert alice.client.get(url).json() == doc
    changed = alice.client.patch(url, json={"source": SHOUTING})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    renamed = alice.client.patch(url, json={"name": "crm/accounts-v2"})
    assert renamed.json()["version"] == 3 and renamed.json()["source"] == SHOUTING
    same = alice.client.patch(url, json={"source": SHOUTING})
    assert same.json()["version"] == 3  # nothing changed, no new version


def test_every_problem_comes_back_with_line_and_column(alice: Caller) -> None:
    response = alice.client.post("/v1/mappings", json={"name": "bad", "source": BROKEN})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["body.source", "body.source"]
    assert errors[0]["message"].startswith("bad:6:3: fields.nmae")
    assert "did you mean 'name'" in errors[0]["message"]
    assert errors[1]["message"].startswith("bad:7:")
    assert "decimall" in errors[1]["message"]
    control = alice.client.post("/v1/mappings", json={"name": "bad", "source": "a: 1\n \u001f"})
    assert control.status_code == 422  # YAML refuses control characters: a problem, not a 500
    assert control.json()["errors"][0]["message"].startswith("bad:2:2: (document): invalid YAML")
    assert alice.client.get("/v1/mappings", params={"builtin": False}).json()["items"] == []


def test_a_bad_name_or_a_duplicate_is_refused(alice: Caller) -> None:
    create(alice)
    assert (
        alice.client.post("/v1/mappings", json={"name": "crm/accounts", "source": DOC}).status_code
        == 409
    )
    bad = alice.client.post("/v1/mappings", json={"name": "../etc/passwd", "source": DOC})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.name"


def test_listing_shows_builtins_read_only_and_pages(alice: Caller) -> None:
    mine = create(alice, "aaa")
    builtins = list_builtin()
    names, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = alice.client.get("/v1/mappings", params=params).json()
        names += [(m["name"], m["builtin"], m["id"]) for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names[0] == ("aaa", False, mine["id"])
    assert names[1:] == [(name, True, None) for name in builtins]
    only_mine = alice.client.get("/v1/mappings", params={"builtin": False}).json()
    assert [m["name"] for m in only_mine["items"]] == ["aaa"]


def test_jobs_use_the_tenants_document_by_name(
    alice: Caller, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    (tmp_path / "customers.csv").write_text("customer_code,company_name\nC1,acme  ltd\n", "utf-8")
    config = {
        "path": str(tmp_path),
        "streams": [{"name": "customers", "pattern": "customers.csv", "key_properties": []}],
    }
    connection = alice.client.post(
        "/v1/connections", json={"name": "erp", "connector": "files", "config": config}
    ).json()
    create(alice, source=SHOUTING)
    job = alice.client.post(
        "/v1/sync-jobs",
        json={"name": "nightly", "connection_id": connection["id"], "mappings": ["crm/accounts"]},
    )
    assert job.status_code == 201, job.text
    assert job.json()["streams"] == ["customers"]
    report = run_job(sessions, "alice", "nightly")
    assert report.status == "completed", report.error
    with sessions() as session:
        assert session.scalars(select(Account.name)).all() == ["ACME LTD"]


def test_a_document_in_use_is_not_deleted_or_renamed(alice: Caller, tmp_path: Path) -> None:
    doc = create(alice)
    config = {"path": str(tmp_path), "streams": [{"name": "customers", "pattern": "c.csv"}]}
    connection = alice.client.post(
        "/v1/connections", json={"name": "erp", "connector": "files", "config": config}
    ).json()
    job = alice.client.post(
        "/v1/sync-jobs",
        json={"name": "j", "connection_id": connection["id"], "mappings": ["crm/accounts"]},
    ).json()
    url = f"/v1/mappings/{doc['id']}"
    refused = alice.client.delete(url)
    assert refused.status_code == 409 and "used by job(s) j" in refused.json()["detail"]
    assert alice.client.patch(url, json={"name": "other"}).status_code == 409
    assert alice.client.delete(f"/v1/sync-jobs/{job['id']}").status_code == 204
    assert alice.client.delete(url).status_code == 204
    assert alice.client.get(url).status_code == 404


def test_preview_shows_the_record_or_precise_errors(alice: Caller) -> None:
    bad_uscc = {**SAMPLE, "customer_code": "C2", "uscc": "91350100M000100Y44"}
    response = alice.client.post(
        "/v1/mappings/preview",
        json={"mapping": "files/demo_accounts", "sample": [SAMPLE, bad_uscc]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["entity"] == "account" and body["ok"] is False
    good, bad = body["results"]
    assert good["outcome"] == "mapped" and good["external_id"] == "C1"
    assert good["values"]["credit_limit"] == "1000.50"
    assert good["values"]["credit_currency"] == "CNY"
    assert good["source_ts"] == "2024-05-06T06:30:00+00:00"  # Beijing time -> UTC
    assert bad["outcome"] == "invalid"
    assert bad["errors"][0]["field"] == "uscc" and "should be '3'" in bad["errors"][0]["message"]

    inline = alice.client.post("/v1/mappings/preview", json={"mapping": SHOUTING, "sample": SAMPLE})
    assert inline.json()["results"][0]["values"] == {"name": "华为技术有限公司".upper()}


def test_preview_of_a_broken_or_unknown_mapping_is_a_problem(alice: Caller) -> None:
    broken = alice.client.post("/v1/mappings/preview", json={"mapping": BROKEN, "sample": {}})
    assert broken.status_code == 422
    assert broken.json()["errors"][0]["field"] == "body.mapping"
    assert broken.json()["errors"][0]["message"].startswith("<preview>:6:3")
    unknown = alice.client.post("/v1/mappings/preview", json={"mapping": "nope/x", "sample": {}})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "body.mapping"
    server_file = alice.client.post(
        "/v1/mappings/preview", json={"mapping": "/etc/passwd", "sample": {}}
    )
    assert server_file.status_code == 422 and "root:" not in server_file.text
    wrong_method = alice.client.patch("/v1/mappings/preview", json={"source": DOC})
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"


def test_a_tenants_document_shadows_the_builtin_of_that_name(alice: Caller, bob: Caller) -> None:
    create(alice, "files/demo_accounts", SHOUTING)
    mine = alice.client.post(
        "/v1/mappings/preview", json={"mapping": "files/demo_accounts", "sample": SAMPLE}
    ).json()
    theirs = bob.client.post(
        "/v1/mappings/preview", json={"mapping": "files/demo_accounts", "sample": SAMPLE}
    ).json()
    assert mine["results"][0]["values"] == {"name": "华为技术有限公司".upper()}
    assert theirs["results"][0]["values"]["industry"] == "information_technology"


def test_other_tenants_get_404_and_cannot_use_the_name(alice: Caller, bob: Caller) -> None:
    doc = create(alice)
    url = f"/v1/mappings/{doc['id']}"
    for method, body in [("GET", None), ("PATCH", {"source": SHOUTING}), ("DELETE", None)]:
        response = bob.client.request(method, url, json=body)
        assert response.status_code == 404, (method, response.text)
    assert alice.client.get(url).json() == doc
    assert not [m for m in bob.client.get("/v1/mappings").json()["items"] if not m["builtin"]]
    preview = bob.client.post(
        "/v1/mappings/preview", json={"mapping": "crm/accounts", "sample": {}}
    )
    assert preview.status_code == 422
