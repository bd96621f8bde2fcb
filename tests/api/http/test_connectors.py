"""/v1/connectors: the catalog of installed connectors."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.api.http.conftest import Caller, make_caller


def test_catalog_lists_capabilities_and_settings_schemas(
    app, sessions: sessionmaker[Session]
) -> None:  # type: ignore[no-untyped-def]
    reader = make_caller(app, sessions, "carol", scopes=("read",))
    with reader.client as client:
        listing = client.get("/v1/connectors")
        assert listing.status_code == 200, listing.text
        by_name = {c["name"]: c for c in listing.json()["items"]}
        assert listing.json()["next_cursor"] is None
    files, singer = by_name["files"], by_name["singer"]
    assert files["capabilities"] == ["incremental", "source"]
    assert files["streams"] is None  # they come from the settings: discover them
    assert files["config_schema"]["required"] == ["path", "streams"]
    assert singer["config_schema"]["properties"]["tap_config"]["x-secret-keys"] == "secret_keys"
    assert files["error"] is None


def test_one_connector_or_a_404(alice: Caller) -> None:
    one = alice.client.get("/v1/connectors/files")
    assert one.status_code == 200 and one.json()["title"].startswith("Files")
    missing = alice.client.get("/v1/connectors/sapp")
    assert missing.status_code == 404
    assert "installed connectors:" in missing.json()["hint"] and "files" in missing.json()["hint"]


def test_catalog_needs_a_key(anonymous: TestClient) -> None:
    assert anonymous.get("/v1/connectors/files").status_code == 401
