"""Inbound webhooks: signed pushes are stored once and answered after the commit;
forged, expired, malformed or oversized ones get 4xx and leave no trace."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import random
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware import Middleware

from api.http.routers.webhooks import WebhookFastPath
from core.model.tables import Account, Connection, ExternalRef, InboxEvent, SyncJob
from scheduler.inbox import process_pending
from tests.api.http.support import Caller, make_caller

BODY = {
    "type": "customers.updated",
    "timestamp": "2024-05-06T06:30:00Z",
    "data": {"customer_code": "C1", "company_name": "上海华东精密机械有限公司"},
}


# ------------------------------------------------------------------ helpers
def raw(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def signature(secret: str, event_id: str, timestamp: str, body: bytes) -> str:
    """Our own HMAC, independent of the library the server verifies with."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(
    secret: str, body: bytes, event_id: str | None = None, *, skew: int = 0
) -> dict[str, str]:
    event_id = event_id or f"msg_{uuid.uuid4().hex}"
    now = time.time()  # round towards the present, so a slow test cannot cross the edge
    timestamp = str((math.ceil(now) if skew < 0 else math.floor(now)) + skew)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature(secret, event_id, timestamp, body),
        "content-type": "application/json",
    }


def add_connection(sessions: sessionmaker[Session], caller: Caller, name: str = "erp") -> uuid.UUID:
    with sessions.begin() as session:
        connection = Connection(tenant_id=caller.tenant.id, name=name, connector="files", config={})
        session.add(connection)
        session.flush()
        return connection.id


def enable(caller: Caller, connection_id: uuid.UUID, **body: Any) -> str:
    response = caller.client.post(f"/v1/webhooks/{connection_id}/secret", json=body or None)
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    return secret


def inbox_rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(InboxEvent)) or 0


def push(client: TestClient, connection_id: uuid.UUID, body: bytes, hdrs: dict[str, Any]) -> Any:
    return client.post(f"/v1/webhooks/{connection_id}", content=body, headers=hdrs)


@pytest.fixture
def hook(alice: Caller, sessions: sessionmaker[Session]) -> tuple[uuid.UUID, str]:
    """Alice's connection with a webhook secret."""
    connection_id = add_connection(sessions, alice)
    return connection_id, enable(alice, connection_id)


@pytest.fixture
def sender(app: FastAPI) -> TestClient:
    """A client with no API key, as an external system is."""
    return TestClient(app)


# ------------------------------------------------------------------ accepted
def test_signed_event_is_stored_and_answered_202(
    hook: tuple[uuid.UUID, str], sender: TestClient, sessions: sessionmaker[Session]
) -> None:
    connection_id, secret = hook
    body = raw(BODY)
    response = push(sender, connection_id, body, headers(secret, body, "msg_1"))
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert receipt["duplicate"] is False
    assert receipt["events"] == [{"event_id": "msg_1", "id": receipt["id"], "duplicate": False}]
    with sessions() as session:
        row = session.scalars(select(InboxEvent)).one()
    assert (row.id, row.event_id, row.payload) == (uuid.UUID(receipt["id"]), "msg_1", body)
    assert (row.stream, row.status, row.connection_id) == ("customers", "pending", connection_id)
    for skew in (-299, 299):  # the tolerance holds both ways
        assert (
            push(sender, connection_id, body, headers(secret, body, skew=skew)).status_code == 202
        )


def test_redelivery_answers_2xx_with_the_first_id_and_stores_nothing_new(
    hook: tuple[uuid.UUID, str], sender: TestClient, sessions: sessionmaker[Session]
) -> None:
    connection_id, secret = hook
    body = raw(BODY)
    first = push(sender, connection_id, body, headers(secret, body, "msg_same"))
    again = [push(sender, connection_id, body, headers(secret, body, "msg_same")) for _ in range(5)]
    assert first.status_code == 202
    assert {r.status_code for r in again} == {200}
    assert {r.json()["id"] for r in again} == {first.json()["id"]}
    assert all(r.json()["duplicate"] for r in again)
    assert inbox_rows(sessions) == 1


def test_type_map_and_lists_of_records_are_accepted_and_settings_validated(
    alice: Caller, hook: tuple[uuid.UUID, str], sender: TestClient, sessions: sessionmaker[Session]
) -> None:
    connection_id, secret = hook
    settings = {"streams": {"BusinessPartner.Changed": "customers"}}
    assert alice.client.put(f"/v1/webhooks/{connection_id}", json=settings).status_code == 200
    body = raw({"type": "BusinessPartner.Changed", "data": [{"a": 1}, {"a": 2}]})
    assert push(sender, connection_id, body, headers(secret, body)).status_code == 202
    with sessions() as session:
        assert session.scalars(select(InboxEvent.stream)).one() == "customers"
    response = alice.client.put(
        f"/v1/webhooks/{connection_id}", json={"auth": "password", "tenant_id": "x"}
    )
    assert response.status_code == 422
    assert {"body.auth", "body.tenant_id"} <= {e["field"] for e in response.json()["errors"]}
    hours = {"previous_valid_hours": -1}
    assert alice.client.post(f"/v1/webhooks/{connection_id}/secret", json=hours).status_code == 422


# ------------------------------------------------------------------ forgeries
def forgeries(
    secret: str, other_secret: str, connection_id: uuid.UUID
) -> list[tuple[str, bytes, dict[str, Any], set[int]]]:
    """(case, body, headers, allowed statuses) of calls that must store nothing."""
    body = raw(BODY)
    good = headers(secret, body, "msg_forged")
    now = int(time.time())

    def with_(**changes: str) -> dict[str, str]:
        return {**good, **{k.replace("_", "-"): v for k, v in changes.items()}}

    def resigned(timestamp: int | str, payload: bytes = body) -> dict[str, str]:
        ts = str(timestamp)
        return with_(
            webhook_timestamp=ts, webhook_signature=signature(secret, "msg_forged", ts, payload)
        )

    flipped = bytearray(body)
    flipped[-3] ^= 0x01
    good_sig = good["webhook-signature"]
    _, sig = good_sig.split(",")
    latin = b'{"type": "x.y", "data": {"n": "\xff\xfe"}}'
    not_object = b'{"type": "a.b", "data": "x"}'
    cases: list[tuple[str, bytes, dict[str, Any], set[int]]] = [
        ("wrong secret", body, headers(other_secret, body, "msg_forged"), {401}),
        ("tampered body", bytes(flipped), good, {400, 401}),
        ("body re-serialised", raw(BODY).replace(b",", b", "), good, {401}),
        ("trailing newline", body + b"\n", good, {401}),
        ("tampered id", body, with_(webhook_id="msg_forged2"), {401}),
        ("tampered timestamp", body, with_(webhook_timestamp=str(now + 1)), {401}),
        ("expired -301 s", body, resigned(now - 301), {401}),
        ("future +301 s", body, resigned(math.ceil(time.time()) + 301), {401}),
        ("v2 scheme", body, with_(webhook_signature=f"v2,{sig}"), {401}),
        ("v1a scheme", body, with_(webhook_signature=f"v1a,{sig}"), {401}),
        ("truncated signature", body, with_(webhook_signature=f"v1,{sig[:20]}"), {400, 401}),
        ("empty signature", body, with_(webhook_signature="v1,"), {400, 401}),
        ("v1garbage", body, with_(webhook_signature="v1garbage"), {400}),
        ("v1,a,b", body, with_(webhook_signature="v1,a,b"), {400}),
        ("blank signature", body, with_(webhook_signature=" "), {400}),
        ("not base64", body, with_(webhook_signature="v1,@@@@"), {400, 401}),
        ("10,000 signatures", body, with_(webhook_signature=" ".join([good_sig] * 10_000)), {400}),
        ("no webhook-id", body, {k: v for k, v in good.items() if k != "webhook-id"}, {400}),
        ("no timestamp", body, {k: v for k, v in good.items() if k != "webhook-timestamp"}, {400}),
        ("no signature", body, {k: v for k, v in good.items() if k != "webhook-signature"}, {400}),
        ("no headers", body, {"content-type": "application/json"}, {400}),
        ("id with spaces", body, with_(webhook_id="msg 1"), {400}),
        ("id of 256 chars", body, with_(webhook_id="m" * 256), {400}),
        ("non-UTF-8 body", latin, resigned(now, latin), {400}),
        ("not JSON", b"type=x", resigned(now, b"type=x"), {400}),
        ("JSON array", b"[1, 2]", resigned(now, b"[1, 2]"), {400}),
        ("no type", b'{"data": {}}', resigned(now, b'{"data": {}}'), {400}),
        ("data not an object", not_object, resigned(now, not_object), {400}),
    ]  # fmt: skip
    for bad in ("nan", "inf", "-inf", "1e20", "-5", f"{now}.5", "", " ", "0x10"):
        cases.append((f"timestamp {bad!r}", body, with_(webhook_timestamp=bad), {400}))
    fullwidth: dict[str, Any] = {**good, "webhook-timestamp": "１２３".encode()}
    cases.append(("full-width digits", body, fullwidth, {400}))
    cases.append(("another connection's id", body, good, {404}))
    return cases


def run_forgeries(
    client: TestClient,
    connection_id: uuid.UUID,
    secret: str,
    other_secret: str,
    sessions: sessionmaker[Session],
) -> None:
    for case, body, hdrs, allowed in forgeries(secret, other_secret, connection_id):
        target = uuid.uuid4() if case == "another connection's id" else connection_id
        try:
            response = push(client, target, body, hdrs)
        except Exception as error:  # a crash is a finding
            pytest.fail(f"{case}: the call raised {error!r}")
        assert response.status_code in allowed, f"{case}: {response.status_code} {response.text}"
        assert response.headers["content-type"] == "application/problem+json", case
        assert response.json()["hint"], case
    assert inbox_rows(sessions) == 0


def test_forged_tampered_and_malformed_calls_store_nothing(
    hook: tuple[uuid.UUID, str],
    bob: Caller,
    sender: TestClient,
    sessions: sessionmaker[Session],
) -> None:
    connection_id, secret = hook
    bobs_secret = enable(bob, add_connection(sessions, bob, "bob-erp"))
    run_forgeries(sender, connection_id, secret, bobs_secret, sessions)


def test_fast_path_refuses_the_same_forgeries(
    app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    """The ASGI fast path (WebhookFastPath) answers exactly as the route does."""
    app.user_middleware.append(Middleware(WebhookFastPath))  # innermost, as app.py should
    alice = make_caller(app, sessions, "alice")
    with alice.client, TestClient(app) as sender:
        connection_id = add_connection(sessions, alice)
        secret = enable(alice, connection_id)
        other = enable(alice, add_connection(sessions, alice, "other"))
        run_forgeries(sender, connection_id, secret, other, sessions)
        body = raw(BODY)
        accepted = push(sender, connection_id, body, headers(secret, body, "msg_fast"))
        repeated = push(sender, connection_id, body, headers(secret, body, "msg_fast"))
        huge = push(sender, connection_id, b"x" * 1_100_000, headers(secret, b"x"))
    assert (accepted.status_code, repeated.status_code, huge.status_code) == (202, 200, 413)
    assert repeated.json()["id"] == accepted.json()["id"]
    assert inbox_rows(sessions) == 1


def test_bob_cannot_push_to_alices_connection_with_his_secret(
    hook: tuple[uuid.UUID, str], bob: Caller, sender: TestClient, sessions: sessionmaker[Session]
) -> None:
    alices_connection, _ = hook
    bobs_connection = add_connection(sessions, bob, "bob-erp")
    bobs_secret = enable(bob, bobs_connection)
    body = raw(BODY)
    assert push(sender, alices_connection, body, headers(bobs_secret, body)).status_code == 401
    assert push(sender, bobs_connection, body, headers(bobs_secret, body)).status_code == 202
    with sessions() as session:
        assert session.scalars(select(InboxEvent.connection_id)).all() == [bobs_connection]


def test_connection_without_secret_unknown_or_malformed_id_is_not_found(
    alice: Caller, sender: TestClient, sessions: sessionmaker[Session]
) -> None:
    connection_id = add_connection(sessions, alice)
    body = raw(BODY)
    hdrs = headers("whsec_" + base64.b64encode(b"k" * 32).decode(), body)
    for target in (connection_id, uuid.uuid4()):
        response = push(sender, target, body, hdrs)
        assert response.status_code == 404
        assert response.json()["detail"] == "no connection takes webhooks at this URL"
    assert sender.post("/v1/webhooks/not-a-uuid", content=body, headers=hdrs).status_code == 422
    assert inbox_rows(sessions) == 0


def test_huge_bodies_get_413_and_store_nothing(
    alice: Caller, hook: tuple[uuid.UUID, str], sender: TestClient, sessions: sessionmaker[Session]
) -> None:
    connection_id, secret = hook
    huge = b'{"type": "a.b", "data": {"x": "' + b"x" * 1_100_000 + b'"}}'
    assert push(sender, connection_id, huge, headers(secret, huge)).status_code == 413
    limit = {"max_body_bytes": 1024}
    assert alice.client.put(f"/v1/webhooks/{connection_id}", json=limit).status_code == 200
    big = raw({**BODY, "data": {"x": "y" * 2000}})
    response = push(sender, connection_id, big, headers(secret, big))
    assert response.status_code == 413 and "at most 1024" in response.json()["detail"]
    assert inbox_rows(sessions) == 0


def test_known_answer_vector_of_standard_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec library's own vector verifies through our verifier, and nothing else."""
    import standardwebhooks.webhooks as library
    from standardwebhooks.webhooks import Webhook

    from scheduler.webhook_verify import Verifier, WebhookRejected
    from scheduler.webhooks import WebhookSettings

    key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id, timestamp, payload = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signature(key, msg_id, str(timestamp), payload) == expected

    class Then(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Then:
            return cls.fromtimestamp(timestamp + 10, tz=tz)

    monkeypatch.setattr(library, "datetime", Then)
    verifier = Verifier(uuid.uuid4(), uuid.uuid4(), WebhookSettings(), ((Webhook(key), None),))
    good = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": expected,
    }
    verifier._verify_signature(msg_id, good, payload)  # no exception: accepted
    for changed in (
        {**good, "webhook-signature": expected[:-2] + "A="},
        {**good, "webhook-timestamp": str(timestamp + 1)},
    ):
        with pytest.raises(WebhookRejected) as refused:
            verifier._verify_signature(msg_id, changed, payload)
        assert refused.value.kind == "unauthenticated"
    with pytest.raises(WebhookRejected):
        verifier._verify_signature(msg_id, good, payload.replace(b"4}", b"5}"))


# ------------------------------------------------------------------ rotation
def test_rotation_keeps_the_old_secret_for_24_hours_then_refuses_it(
    alice: Caller,
    hook: tuple[uuid.UUID, str],
    sender: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection_id, old = hook
    response = alice.client.post(f"/v1/webhooks/{connection_id}/secret")
    new = response.json()["secret"]
    expires = datetime.fromisoformat(response.json()["previous_expire_at"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    assert response.headers["cache-control"] == "no-store"
    body = raw(BODY)

    both = headers(new, body)
    both["webhook-signature"] += " " + signature(
        old, both["webhook-id"], both["webhook-timestamp"], body
    )
    assert push(sender, connection_id, body, both).status_code == 202
    assert push(sender, connection_id, body, headers(old, body)).status_code == 202
    assert push(sender, connection_id, body, headers(new, body)).status_code == 202

    later = datetime.now(UTC) + timedelta(hours=24, minutes=1)
    monkeypatch.setattr("scheduler.webhook_verify.utcnow", lambda: later)
    assert push(sender, connection_id, body, headers(old, body)).status_code == 401
    assert push(sender, connection_id, body, headers(new, body)).status_code == 202

    view = alice.client.get(f"/v1/webhooks/{connection_id}").json()
    assert [s["expires_at"] is None for s in view["secrets"]] == [True, False]
    assert new not in json.dumps(view) and old not in json.dumps(view)


def test_rotation_with_no_overlap_revokes_at_once(
    alice: Caller, hook: tuple[uuid.UUID, str], sender: TestClient, sessions: sessionmaker[Session]
) -> None:
    connection_id, leaked = hook
    new = enable(alice, connection_id, previous_valid_hours=0)
    body = raw(BODY)
    assert push(sender, connection_id, body, headers(leaked, body)).status_code == 401
    assert push(sender, connection_id, body, headers(new, body)).status_code == 202
    with sessions() as session:
        stored = session.get_one(Connection, connection_id).secrets or b""
    assert new.encode() not in stored and new[6:].encode() not in stored  # encrypted at rest


# ------------------------------------------------------------------ failures of the store
def test_inbox_failure_answers_503_and_stores_nothing(
    hook: tuple[uuid.UUID, str],
    sender: TestClient,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.store.inbox import insert_events_now

    connection_id, secret = hook

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("database is down"))

    monkeypatch.setattr("scheduler.inbox_writer.insert_events_now", broken)
    body = raw(BODY)
    response = push(sender, connection_id, body, headers(secret, body, "msg_down"))
    assert response.status_code == 503 and response.headers["retry-after"]
    assert "nothing was stored" in response.json()["hint"]
    assert inbox_rows(sessions) == 0
    monkeypatch.setattr("scheduler.inbox_writer.insert_events_now", insert_events_now)
    assert push(sender, connection_id, body, headers(secret, body, "msg_down")).status_code == 202


# ------------------------------------------------------------------ API-key mode
def test_api_key_mode_takes_a_webhook_key_of_the_same_tenant(
    app: FastAPI,
    alice: Caller,
    hook: tuple[uuid.UUID, str],
    bob: Caller,
    sender: TestClient,
    sessions: sessionmaker[Session],
) -> None:
    connection_id, secret = hook
    assert (
        alice.client.put(f"/v1/webhooks/{connection_id}", json={"auth": "api_key"}).json()["scheme"]
        == "api_key"
    )
    pusher = make_caller(app, sessions, "alice", scopes=("webhook",))
    bobs = make_caller(app, sessions, "bob", scopes=("webhook",))
    body = raw(BODY)
    event = {"webhook-id": "evt-1", "content-type": "application/json"}
    url = f"/v1/webhooks/{connection_id}"
    assert sender.post(url, content=body, headers=event).status_code == 401
    assert push(sender, connection_id, body, headers(secret, body)).status_code == 401
    assert alice.client.post(url, content=body, headers=event).status_code == 403
    assert bobs.client.post(url, content=body, headers=event).status_code == 404
    assert pusher.client.post(url, content=body, headers={"content-type": "x"}).status_code == 400
    assert inbox_rows(sessions) == 0
    accepted = pusher.client.post(url, content=body, headers=event)
    assert accepted.status_code == 202, accepted.text
    assert pusher.client.post(url, content=body, headers=event).json()["duplicate"] is True
    assert inbox_rows(sessions) == 1


# ------------------------------------------------------------------ the inbox API
def test_events_list_pages_filters_and_shows_one_event(
    alice: Caller, hook: tuple[uuid.UUID, str], sender: TestClient
) -> None:
    connection_id, secret = hook
    body = raw(BODY)
    ids = [push(sender, connection_id, body, headers(secret, body)).json()["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = alice.client.get(f"/v1/webhooks/{connection_id}/events", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    failed = alice.client.get(f"/v1/webhooks/{connection_id}/events", params={"status": "failed"})
    assert failed.json() == {"items": [], "next_cursor": None}
    detail = alice.client.get(f"/v1/webhooks/{connection_id}/events/{ids[0]}").json()
    assert detail["payload"] == body.decode() and detail["status"] == "pending"
    bad = alice.client.get(f"/v1/webhooks/{connection_id}/events", params={"cursor": "zz"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.cursor"


def test_other_tenant_can_neither_see_nor_change_a_connections_webhooks(
    alice: Caller,
    hook: tuple[uuid.UUID, str],
    bob: Caller,
    sender: TestClient,
    sessions: sessionmaker[Session],
) -> None:
    connection_id, secret = hook
    body = raw(BODY)
    event_id = push(sender, connection_id, body, headers(secret, body)).json()["id"]
    with sessions.begin() as session:
        session.get_one(InboxEvent, uuid.UUID(event_id)).status = "failed"
    base = f"/v1/webhooks/{connection_id}"
    assert bob.client.post(f"{base}/secret").status_code == 404
    assert bob.client.put(base, json={"auth": "api_key"}).status_code == 404
    assert bob.client.get(base).status_code == 404
    assert bob.client.get(f"{base}/events").status_code == 404
    assert bob.client.get(f"{base}/events/{event_id}").status_code == 404
    assert bob.client.post(f"{base}/events/retry", json={}).status_code == 404
    with sessions() as session:
        assert session.get_one(InboxEvent, uuid.UUID(event_id)).status == "failed"
    assert alice.client.get(base).json()["settings"]["auth"] == "signature"
    assert (
        push(sender, connection_id, body, headers(secret, body)).status_code == 202
    )  # same secret


def test_failed_events_can_be_retried(
    alice: Caller, hook: tuple[uuid.UUID, str], sender: TestClient, sessions: sessionmaker[Session]
) -> None:
    connection_id, secret = hook
    body = raw(BODY)
    event_id = push(sender, connection_id, body, headers(secret, body)).json()["id"]
    assert process_pending(sessions).failed == 1  # no job maps `customers` yet
    failed = alice.client.get(f"/v1/webhooks/{connection_id}/events").json()["items"][0]
    assert failed["status"] == "failed" and "maps stream 'customers'" in failed["error"]
    retried = alice.client.post(
        f"/v1/webhooks/{connection_id}/events/retry", json={"ids": [event_id]}
    )
    assert retried.json() == {"requeued": 1}
    assert (
        alice.client.get(f"/v1/webhooks/{connection_id}/events/{event_id}").json()["status"]
        == "pending"
    )


# ------------------------------------------------------------------ duplicates, shuffled
def test_duplicate_and_shuffled_concurrent_delivery_keeps_the_newest_version(
    alice: Caller, hook: tuple[uuid.UUID, str], sender: TestClient, sessions: sessionmaker[Session]
) -> None:
    """60 events (20 customers x 3 versions), each sent 2-3 times, shuffled, from 16
    threads: exactly 60 rows, one 202 per event, and after processing the store holds
    each customer's newest version."""
    connection_id, secret = hook
    with sessions.begin() as session:
        session.add(
            SyncJob(
                tenant_id=alice.tenant.id,
                name="erp-customers",
                connection_id=connection_id,
                mappings=["files/demo_accounts"],
                streams=["customers"],
            )
        )
    rng = random.Random(7)
    events = []
    for version in range(3):
        for customer in range(20):
            record = {
                "customer_code": f"C{customer:03d}",
                "company_name": f"测试{customer}有限公司",
                "industry_code": "01",
                "city": f"城市{version}",
                "credit_limit": f"{(version + 1) * 1000}.00",
                "updated_at": f"2024-05-0{version + 1} 09:00:00",
            }
            body = raw({"type": "customers.updated", "data": record})
            events.append((f"evt-{customer}-{version}", body))
    deliveries = [e for e in events for _ in range(rng.choice([2, 3]))]
    rng.shuffle(deliveries)

    def deliver(item: tuple[str, bytes]) -> tuple[str, int]:
        event_id, body = item
        return event_id, push(
            sender, connection_id, body, headers(secret, body, event_id)
        ).status_code

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(deliver, deliveries))
    assert {status for _, status in answers} <= {200, 202}
    accepted = Counter(event_id for event_id, status in answers if status == 202)
    assert sorted(accepted) == sorted(e for e, _ in events) and set(accepted.values()) == {1}
    assert inbox_rows(sessions) == 60

    report = process_pending(sessions)
    assert (report.processed, report.failed) == (60, 0)
    with sessions() as session:
        rows = session.execute(
            select(ExternalRef.external_id, Account.city, Account.credit_limit)
            .join(Account, Account.id == ExternalRef.entity_id)
            .where(ExternalRef.connection_id == connection_id)
        ).all()
    assert len(rows) == 20
    assert {(city, credit) for _, city, credit in rows} == {("城市2", Decimal("3000.00"))}


# ------------------------------------------------------------------ a connector's own scheme
class HubSignedReceiver:
    """A system that signs `sha256=<hex>` of the body and pushes a list of changes."""

    def __init__(self, config: Any) -> None:
        self.secret = b"It's a Secret to Everybody"

    def verify(self, headers: Any, body: bytes) -> list[Any]:
        from connectors.sdk.errors import ConfigError, DataError
        from connectors.sdk.webhooks import WebhookEvent

        if body == b"boom":
            raise RuntimeError("a bug in the receiver")
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get("x-hub-signature-256", ""), expected):
            raise ConfigError("signature mismatch", hint="check the shared secret")
        try:
            changes = json.loads(body)
        except ValueError:
            raise DataError("not JSON") from None
        return [WebhookEvent(c["id"], c["object"], c["fields"]) for c in changes]


def test_connector_scheme_verifies_and_splits_calls(
    alice: Caller,
    sender: TestClient,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from scheduler import webhooks

    monkeypatch.setattr(
        webhooks, "get_connector", lambda _name: SimpleNamespace(webhook_receiver=HubSignedReceiver)
    )
    connection_id = add_connection(sessions, alice)
    changes = [
        {"id": "chg-1", "object": "customers", "fields": {"customer_code": "C1"}},
        {"id": "chg-2", "object": "contacts", "fields": {"name": "王"}},
    ]
    body = raw(changes)

    def hub_signature(content: bytes) -> dict[str, str]:
        mac = hmac.new(b"It's a Secret to Everybody", content, hashlib.sha256).hexdigest()
        return {"x-hub-signature-256": f"sha256={mac}"}

    url = f"/v1/webhooks/{connection_id}"
    for bad_body, bad_headers, status in (
        (body, {"x-hub-signature-256": "sha256=00"}, 401),  # the connector's ConfigError
        (b"boom", {}, 400),  # a bug in the receiver: still never a 5xx
        (b"[", hub_signature(b"["), 400),  # the connector's DataError
    ):
        assert sender.post(url, content=bad_body, headers=bad_headers).status_code == status
    assert inbox_rows(sessions) == 0

    accepted = sender.post(url, content=body, headers=hub_signature(body))
    assert accepted.status_code == 202, accepted.text
    assert [e["event_id"] for e in accepted.json()["events"]] == ["chg-1", "chg-2"]
    again = sender.post(url, content=body, headers=hub_signature(body))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    with sessions() as session:
        rows = session.scalars(select(InboxEvent).order_by(InboxEvent.event_id)).all()
    assert [(r.stream, json.loads(r.payload)) for r in rows] == [
        ("customers", {"data": {"customer_code": "C1"}}),
        ("contacts", {"data": {"name": "王"}}),
    ]
    view = alice.client.get(url).json()
    assert (view["scheme"], view["receiving"]) == ("connector", True)
    assert alice.client.post(f"{url}/secret").status_code == 422  # its secret is a setting


def test_changing_the_connections_settings_keeps_its_webhook_secret(
    alice: Caller,
    hook: tuple[uuid.UUID, str],
    sender: TestClient,
    tmp_path: Any,
) -> None:
    """The signing secret lives beside the connection's encrypted settings: an update
    of the settings must not drop it."""
    connection_id, secret = hook
    config = {"path": str(tmp_path), "streams": [{"name": "customers", "pattern": "c*.csv"}]}
    changed = alice.client.patch(f"/v1/connections/{connection_id}", json={"config": config})
    assert changed.status_code == 200, changed.text
    body = raw(BODY)
    assert push(sender, connection_id, body, headers(secret, body)).status_code == 202
    assert len(alice.client.get(f"/v1/webhooks/{connection_id}").json()["secrets"]) == 1
