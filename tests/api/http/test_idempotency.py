"""POST with an Idempotency-Key: the first response is replayed, never re-executed."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy.orm import Session, sessionmaker

from api.http.deps import WriteSession
from tests.api.http.support import make_caller


def _counting_app(
    app: FastAPI,
    calls: list[int],
    gate: threading.Event | None = None,
    entered: threading.Event | None = None,
) -> None:
    router = APIRouter(prefix="/v1/test")

    @router.post("/things", status_code=201)
    def make_thing(body: dict[str, Any], session: WriteSession) -> dict[str, Any]:
        if entered is not None:
            entered.set()
        if gate is not None:
            gate.wait(5)
        calls.append(1)
        return {"n": len(calls), "echo": body}

    @router.post("/broken")
    def broken(session: WriteSession) -> dict[str, Any]:
        calls.append(1)
        raise RuntimeError("boom")

    app.include_router(router)


def test_repeat_gets_the_first_response(app: FastAPI, sessions: sessionmaker[Session]) -> None:
    calls: list[int] = []
    _counting_app(app, calls)
    caller = make_caller(app, sessions, "alice")
    with caller.client as client:
        first = client.post("/v1/test/things", json={"a": 1}, headers={"Idempotency-Key": "k1"})
        again = client.post("/v1/test/things", json={"a": 1}, headers={"Idempotency-Key": "k1"})
        other = client.post("/v1/test/things", json={"a": 2}, headers={"Idempotency-Key": "k1"})
        fresh = client.post("/v1/test/things", json={"a": 1}, headers={"Idempotency-Key": "k2"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() == {"n": 1, "echo": {"a": 1}}
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422 and "different request" in other.json()["detail"]
    assert fresh.json()["n"] == 2
    assert len(calls) == 2


def test_keys_are_per_tenant(app: FastAPI, sessions: sessionmaker[Session]) -> None:
    calls: list[int] = []
    _counting_app(app, calls)
    alice, bob = make_caller(app, sessions, "alice"), make_caller(app, sessions, "bob")
    with alice.client, bob.client:
        alice.client.post("/v1/test/things", json={}, headers={"Idempotency-Key": "same"})
        response = bob.client.post("/v1/test/things", json={}, headers={"Idempotency-Key": "same"})
    assert response.json()["n"] == 2  # bob's request ran: it is not alice's


def test_concurrent_repeat_is_a_conflict(app: FastAPI, sessions: sessionmaker[Session]) -> None:
    calls: list[int] = []
    gate, entered = threading.Event(), threading.Event()
    _counting_app(app, calls, gate, entered)
    caller = make_caller(app, sessions, "alice")
    results: list[int] = []
    with caller.client as client:
        worker = threading.Thread(
            target=lambda: results.append(
                client.post(
                    "/v1/test/things", json={}, headers={"Idempotency-Key": "k"}
                ).status_code
            )
        )
        worker.start()
        assert entered.wait(5)  # the first request holds the key and is running
        second = client.post("/v1/test/things", json={}, headers={"Idempotency-Key": "k"})
        gate.set()
        worker.join()
    assert second.status_code == 409 and "in progress" in second.json()["detail"]
    assert results == [201] and len(calls) == 1


def test_server_errors_are_not_stored(app: FastAPI, sessions: sessionmaker[Session]) -> None:
    calls: list[int] = []
    _counting_app(app, calls)
    caller = make_caller(app, sessions, "alice")
    from fastapi.testclient import TestClient

    client = TestClient(app, headers=dict(caller.client.headers), raise_server_exceptions=False)
    with client:
        for _ in range(2):
            response = client.post("/v1/test/broken", headers={"Idempotency-Key": "b"})
            assert response.status_code == 500
    assert len(calls) == 2  # a retry after a server error runs again


def test_bad_key_header_is_400(app: FastAPI, sessions: sessionmaker[Session]) -> None:
    _counting_app(app, [])
    caller = make_caller(app, sessions, "alice")
    with caller.client as client:
        response = client.post("/v1/test/things", json={}, headers={"Idempotency-Key": "x" * 256})
    assert response.status_code == 400
