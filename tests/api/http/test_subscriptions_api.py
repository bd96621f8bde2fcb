"""Outbound subscriptions and dead letters through the API."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import OutboxMessage, RecordChange, Subscription
from tests.api.http.support import Caller

BODY = {"name": "crm", "url": "https://crm.example.com/hooks", "entities": ["account"]}


def test_secret_is_shown_once_and_masked_after(alice: Caller) -> None:
    created = alice.client.post("/v1/subscriptions", json=BODY)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["secret"].startswith("whsec_") and created.headers["location"].endswith(sub["id"])
    shown = alice.client.get(f"/v1/subscriptions/{sub['id']}").json()
    assert "secret" not in shown and sub["secret"][-4:] in shown["secret_hint"]
    assert sub["secret"] not in alice.client.get("/v1/subscriptions").text
    rotated = alice.client.patch(f"/v1/subscriptions/{sub['id']}", json={"rotate_secret": True})
    assert rotated.json()["secret"] not in (None, sub["secret"])
    assert rotated.json()["previous_secret_valid_until"]


def test_internal_urls_are_refused_naming_the_field(alice: Caller) -> None:
    for url in ("http://169.254.169.254/latest/meta-data", "http://10.0.0.5/x", "ftp://a.b/c"):
        response = alice.client.post("/v1/subscriptions", json={**BODY, "url": url})
        assert response.status_code == 422, (url, response.text)
        problem = response.json()
        assert problem["errors"][0]["field"].endswith("url"), problem
        assert "L2C_URL_ALLOWLIST" in response.text or "scheme" in response.text


def test_unknown_entities_and_extra_fields_are_refused(alice: Caller) -> None:
    bad = alice.client.post("/v1/subscriptions", json={**BODY, "entities": ["acount"]})
    assert bad.status_code == 422 and "account" in bad.text  # did-you-mean
    extra = alice.client.post("/v1/subscriptions", json={**BODY, "tenant_id": str(uuid.uuid4())})
    assert extra.status_code == 422 and extra.json()["errors"][0]["code"] == "extra_forbidden"


def test_pages_and_delete(alice: Caller) -> None:
    for n in range(3):
        alice.client.post("/v1/subscriptions", json={**BODY, "name": f"s{n}"})
    first = alice.client.get("/v1/subscriptions", params={"limit": 2}).json()
    second = alice.client.get(
        "/v1/subscriptions", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [s["name"] for s in first["items"] + second["items"]] == ["s0", "s1", "s2"]
    assert second["next_cursor"] is None
    gone = first["items"][0]["id"]
    assert alice.client.delete(f"/v1/subscriptions/{gone}").status_code == 204
    assert alice.client.get(f"/v1/subscriptions/{gone}").status_code == 404


def _dead_letter(sessions: sessionmaker[Session], caller: Caller, sub_id: str) -> int:
    with sessions.begin() as session:
        sub = session.get_one(Subscription, uuid.UUID(sub_id))
        change = RecordChange(
            tenant_id=caller.tenant.id,
            entity="account",
            entity_id=uuid.uuid4(),
            op="update",
            changes={"city": ["上海", "北京"]},
        )
        session.add(change)
        session.flush()
        message = OutboxMessage(
            tenant_id=caller.tenant.id,
            subscription_id=sub.id,
            change_seq=change.seq,
            status="dead",
            attempts=10,
            last_status=503,
            last_error="HTTP 503",
        )
        session.add(message)
        session.flush()
        return message.id


def test_dead_letters_inspect_and_replay(
    alice: Caller, bob: Caller, sessions: sessionmaker[Session]
) -> None:
    sub = alice.client.post("/v1/subscriptions", json=BODY).json()
    letter = _dead_letter(sessions, alice, sub["id"])
    listed = alice.client.get("/v1/dead-letters").json()["items"]
    assert [d["id"] for d in listed] == [letter]
    detail = alice.client.get(f"/v1/dead-letters/{letter}").json()
    assert detail["webhook_id"] == f"msg_{letter}"
    assert detail["payload"]["type"] == "account.updated"
    assert detail["payload"]["data"]["changes"] == {"city": ["上海", "北京"]}
    assert bob.client.get(f"/v1/dead-letters/{letter}").status_code == 404
    assert bob.client.post("/v1/dead-letters/replay", json={"ids": [letter]}).status_code == 404
    assert bob.client.get("/v1/dead-letters").json()["items"] == []
    replayed = alice.client.post(f"/v1/dead-letters/{letter}/replay")
    assert replayed.json() == {"replayed": 1}
    with sessions() as session:
        message = session.scalar(select(OutboxMessage).where(OutboxMessage.id == letter))
        assert message is not None and message.status == "pending" and message.attempts == 0
    assert alice.client.get(f"/v1/dead-letters/{letter}").status_code == 404


def test_a_repeated_create_returns_the_same_secret_kept_encrypted(
    alice: Caller, sessions: sessionmaker[Session]
) -> None:
    from core.model.tables import IdempotentRequest

    headers = {"Idempotency-Key": "create-crm"}
    first = alice.client.post("/v1/subscriptions", json=BODY, headers=headers)
    again = alice.client.post("/v1/subscriptions", json=BODY, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["secret"] == first.json()["secret"]
    assert again.headers["cache-control"] == "no-store"
    with sessions() as session:
        stored = session.scalars(select(IdempotentRequest)).one()
    assert stored.body is not None and first.json()["secret"].encode() not in stored.body
    assert len(alice.client.get("/v1/subscriptions").json()["items"]) == 1
