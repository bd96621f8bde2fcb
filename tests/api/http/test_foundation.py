"""The API's shared behaviour: auth, scopes, problem details, limits, health."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.api.http.support import Caller, make_caller


def test_health_needs_no_key(anonymous: TestClient) -> None:
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


def test_metrics_expose_store_figures(anonymous: TestClient) -> None:
    body = anonymous.get("/metrics").text
    assert "l2c_http_requests_total" in body
    assert "l2c_outbox_lag_seconds" in body


def test_missing_and_bad_keys_get_401_problems(anonymous: TestClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"X-API-Key": "l2c_abcdefgh_" + "x" * 32},
    ):
        response = anonymous.get("/v1/connectors", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["status"] == 401


def test_unknown_route_is_a_problem(alice: Caller) -> None:
    response = alice.client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/404")
    assert response.headers["x-request-id"]


def test_read_key_cannot_write(app, sessions: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    reader = make_caller(app, sessions, "carol", scopes=("read",))
    with reader.client:
        assert reader.client.get("/v1/connectors").status_code == 200
        response = reader.client.post("/v1/connections", json={"name": "x", "connector": "files"})
        assert response.status_code == 403
        assert "'admin' scope" in response.json()["detail"]


def test_revoked_key_is_refused(app, sessions: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    from core.security.apikeys import revoke_key

    caller = make_caller(app, sessions, "dave", scopes=("read",))
    with caller.client:
        assert caller.client.get("/v1/connectors").status_code == 200
        with sessions.begin() as session:
            revoke_key(session, caller.tenant.id, caller.key)
        assert caller.client.get("/v1/connectors").status_code == 401


def test_oversized_body_is_413(alice: Caller) -> None:
    response = alice.client.post(
        "/v1/connections", content=b"x" * 2_000_000, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["detail"].startswith("the request body exceeds")
