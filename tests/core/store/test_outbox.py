"""The outbox in the store: messages written with the change, claimed, retried, replayed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConflictError, NotFoundError
from core.model.entities import ENTITIES
from core.model.tables import Connection, OutboxMessage, RecordChange, Subscription, Tenant
from core.store import outbox
from core.store.outbox import Failure
from core.store.upsert import Incoming, WriteContext, upsert_batch

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def add_subscription(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    name: str,
    *,
    entities: list[str] | None = None,
    connection: Connection | None = None,
    enabled: bool = True,
) -> Subscription:
    with sessions.begin() as session:
        sub = Subscription(
            tenant_id=tenant.id,
            name=name,
            url="https://hooks.example/in",
            secret=b"encrypted",
            entities=entities,
            connection_id=None if connection is None else connection.id,
            enabled=enabled,
        )
        session.add(sub)
    return sub


def items(entity: str, records: dict[str, dict[str, Any]]) -> list[Incoming]:
    spec = ENTITIES[entity]
    return [
        Incoming.of(spec, i, ext, spec.batch_adapter.validate_python([values])[0])
        for i, (ext, values) in enumerate(records.items())
    ]


def write(
    session: Session,
    tenant: Tenant,
    connection: Connection,
    records: dict[str, dict[str, Any]],
    entity: str = "account",
) -> None:
    ctx = WriteContext(tenant.id, connection.id, None, NOW)
    upsert_batch(session, ctx, spec=ENTITIES[entity], object_="obj", items=items(entity, records))


def sync(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    connection: Connection,
    records: dict[str, dict[str, Any]],
    entity: str = "account",
) -> None:
    with sessions.begin() as session:
        write(session, tenant, connection, records, entity)


def messages(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions.begin() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def change_seqs(sessions: sessionmaker[Session]) -> list[int]:
    with sessions.begin() as session:
        return list(session.scalars(select(RecordChange.seq).order_by(RecordChange.seq)))


@pytest.fixture
def other_connection(sessions: sessionmaker[Session], tenant: Tenant) -> Connection:
    with sessions.begin() as session:
        connection = Connection(tenant_id=tenant.id, name="crm", connector="files", config={})
        session.add(connection)
    return connection


@pytest.fixture
def other_tenant(sessions: sessionmaker[Session]) -> Tenant:
    with sessions.begin() as session:
        tenant = Tenant(slug="globex", name="Globex")
        session.add(tenant)
    return tenant


# ---------------------------------------------------------------------------- enqueue
def test_no_subscription_means_no_watermark_and_no_messages(sessions, tenant, connection) -> None:
    with sessions.begin() as session:
        assert outbox.watermark(session, tenant.id) is None
    sync(sessions, tenant, connection, {"C1": {"name": "Acme"}, "C2": {"name": "Beta"}})
    assert len(change_seqs(sessions)) == 2
    assert messages(sessions) == []


def test_a_sync_write_enqueues_one_message_per_change(sessions, tenant, connection) -> None:
    sub = add_subscription(sessions, tenant, "all")
    with sessions.begin() as session:
        assert outbox.watermark(session, tenant.id) == 0
    sync(sessions, tenant, connection, {"C1": {"name": "Acme"}, "C2": {"name": "Beta"}})
    sync(sessions, tenant, connection, {"C1": {"name": "Acme Ltd"}})  # an update
    sync(sessions, tenant, connection, {"C1": {"name": "Acme Ltd"}})  # unchanged: nothing
    found = messages(sessions)
    assert [m.change_seq for m in found] == change_seqs(sessions)
    assert len(found) == 3
    assert {m.subscription_id for m in found} == {sub.id}
    assert {(m.status, m.attempts, m.tenant_id) for m in found} == {("pending", 0, tenant.id)}
    assert all(m.next_attempt_at == NOW for m in found)


def test_entity_filter_sends_only_wanted_entities(sessions, tenant, connection) -> None:
    accounts = add_subscription(sessions, tenant, "accounts", entities=["account"])
    contacts = add_subscription(sessions, tenant, "contacts", entities=["contact", "lead"])
    sync(sessions, tenant, connection, {"C1": {"name": "Acme"}})
    sync(sessions, tenant, connection, {"P1": {"name": "Wang Wei"}}, entity="contact")
    by_sub: dict[uuid.UUID, list[int]] = {}
    for m in messages(sessions):
        by_sub.setdefault(m.subscription_id, []).append(m.change_seq)
    account_seq, contact_seq = change_seqs(sessions)
    assert by_sub == {accounts.id: [account_seq], contacts.id: [contact_seq]}


def test_a_change_is_never_sent_back_to_its_own_connection(
    sessions, tenant, connection, other_connection
) -> None:
    to_erp = add_subscription(sessions, tenant, "erp", connection=connection)
    to_crm = add_subscription(sessions, tenant, "crm", connection=other_connection)
    sync(sessions, tenant, connection, {"C1": {"name": "Acme"}})
    sync(sessions, tenant, other_connection, {"K9": {"name": "Beta"}})
    first, second = change_seqs(sessions)
    assert {(m.subscription_id, m.change_seq) for m in messages(sessions)} == {
        (to_crm.id, first),  # from the ERP: goes to the CRM only
        (to_erp.id, second),  # from the CRM: goes to the ERP only
    }


def test_disabled_and_foreign_subscriptions_get_nothing(
    sessions, tenant, connection, other_tenant
) -> None:
    add_subscription(sessions, tenant, "off", enabled=False)
    add_subscription(sessions, other_tenant, "theirs")
    with sessions.begin() as session:
        assert outbox.watermark(session, tenant.id) is None
    sync(sessions, tenant, connection, {"C1": {"name": "Acme"}})
    assert messages(sessions) == []


def test_rollback_leaves_neither_changes_nor_messages(sessions, tenant, connection) -> None:
    add_subscription(sessions, tenant, "all")
    seen: list[int | None] = []

    def run_that_dies() -> None:
        with sessions.begin() as session:
            write(session, tenant, connection, {"C1": {"name": "Acme"}})
            seen.append(session.scalar(select(func.count()).select_from(OutboxMessage)))
            raise RuntimeError("the run dies before commit")

    with pytest.raises(RuntimeError):
        run_that_dies()
    assert seen == [1]  # the message existed inside the transaction
    assert change_seqs(sessions) == []
    assert messages(sessions) == []


def test_two_batches_in_one_transaction_enqueue_each_change_once(
    sessions, tenant, connection
) -> None:
    add_subscription(sessions, tenant, "all")
    with sessions.begin() as session:
        write(session, tenant, connection, {"C1": {"name": "Acme"}})
        write(session, tenant, connection, {"P1": {"name": "Wang Wei"}}, entity="contact")
        write(session, tenant, connection, {"C1": {"name": "Acme Ltd"}})
    assert [m.change_seq for m in messages(sessions)] == change_seqs(sessions)


def test_enqueue_since_skips_what_was_there_before(sessions, tenant, connection) -> None:
    sync(sessions, tenant, connection, {"C1": {"name": "Acme"}})  # before any subscription
    add_subscription(sessions, tenant, "all")
    [before] = change_seqs(sessions)
    with sessions.begin() as session:
        mark = outbox.watermark(session, tenant.id)
        assert mark == before
        assert outbox.enqueue_since(session, tenant.id, mark, now=NOW) == 0
        write(session, tenant, connection, {"C2": {"name": "Beta"}})
    assert [m.change_seq for m in messages(sessions)] == change_seqs(sessions)[1:]


# ---------------------------------------------------------------------------- payload
def test_event_payload_has_the_standard_webhooks_shape() -> None:
    entity_id, connection_id = uuid.uuid4(), uuid.uuid4()
    change = outbox.Change(
        7, "account", entity_id, "update", {"name": ["A", "B"]}, connection_id, NOW
    )
    assert outbox.event_payload(change) == {
        "type": "account.updated",
        "timestamp": "2026-03-01T12:00:00Z",
        "data": {
            "entity": "account",
            "id": str(entity_id),
            "op": "update",
            "changes": {"name": ["A", "B"]},
            "seq": 7,
            "connection_id": str(connection_id),
        },
    }
    created = outbox.Change(8, "order", entity_id, "insert", {}, None, NOW)
    assert outbox.event_payload(created)["type"] == "order.created"
    assert outbox.webhook_id(42) == "msg_42"


# ---------------------------------------------------------------------------- claiming
def test_claim_returns_due_messages_with_their_change_and_hides_them(
    sessions, tenant, connection
) -> None:
    sub = add_subscription(sessions, tenant, "all")
    sync(sessions, tenant, connection, {"C1": {"name": "Acme"}, "C2": {"name": "Beta"}})
    with sessions.begin() as session:
        assert outbox.claim_due(session, now=NOW - timedelta(seconds=1), limit=10) == []
        claimed = outbox.claim_due(session, now=NOW, limit=1)
    [due] = claimed
    assert (due.subscription_id, due.url, due.secret, due.attempts) == (
        sub.id,
        "https://hooks.example/in",
        b"encrypted",
        0,
    )
    assert due.change is not None
    assert (due.change.entity, due.change.op, due.change.connection_id) == (
        "account",
        "insert",
        connection.id,
    )
    assert due.webhook_id == f"msg_{due.id}"
    with sessions.begin() as session:
        rest = outbox.claim_due(session, now=NOW, limit=10)
        assert [d.id for d in rest] != [due.id] and due.id not in [d.id for d in rest]
        assert len(rest) == 1
        # a crashed dispatcher's messages come back when the lease ends
        again = outbox.claim_due(session, now=NOW + outbox.LEASE, limit=10)
    assert sorted(d.id for d in again) == sorted([due.id, rest[0].id])


def test_claim_skips_disabled_subscriptions(sessions, tenant, connection) -> None:
    sub = add_subscription(sessions, tenant, "all")
    sync(sessions, tenant, connection, {"C1": {"name": "Acme"}})
    with sessions.begin() as session:
        session.get_one(Subscription, sub.id).enabled = False
    with sessions.begin() as session:
        assert outbox.claim_due(session, now=NOW, limit=10) == []


@pytest.mark.postgres
def test_concurrent_claims_on_postgres_take_disjoint_messages(
    engine: Engine, sessions, tenant, connection
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: a second claimer waits for the first")
    add_subscription(sessions, tenant, "all")
    sync(sessions, tenant, connection, {f"C{i}": {"name": f"N{i}"} for i in range(4)})
    with sessions.begin() as first, sessions.begin() as second:
        a = outbox.claim_due(first, now=NOW, limit=2)
        b = outbox.claim_due(second, now=NOW, limit=10)  # the first has not committed
    assert len(a) == 2 and len(b) == 2
    assert not {d.id for d in a} & {d.id for d in b}


# ---------------------------------------------------------------------------- results
def claim_all(sessions: sessionmaker[Session]) -> list[outbox.Due]:
    with sessions.begin() as session:
        return outbox.claim_due(session, now=NOW, limit=100)


def test_results_are_recorded_in_batches(sessions, tenant, connection) -> None:
    add_subscription(sessions, tenant, "all")
    sync(sessions, tenant, connection, {f"C{i}": {"name": f"N{i}"} for i in range(3)})
    ok, retry, dead = claim_all(sessions)
    later = NOW + timedelta(minutes=5)
    with sessions.begin() as session:
        outbox.mark_delivered(session, [(ok.id, 204)], now=NOW)
        outbox.mark_failed(
            session,
            [
                Failure(retry.id, "HTTP 500: boom", 500, later),
                Failure(dead.id, "timed out", None, None),
            ],
            now=NOW,
        )
    rows = {m.id: m for m in messages(sessions)}
    assert (rows[ok.id].status, rows[ok.id].attempts, rows[ok.id].last_status) == (
        "delivered",
        1,
        204,
    )
    assert rows[ok.id].delivered_at == NOW
    assert (rows[retry.id].status, rows[retry.id].next_attempt_at) == ("pending", later)
    assert rows[retry.id].last_error == "HTTP 500: boom"
    assert (rows[dead.id].status, rows[dead.id].attempts) == ("dead", 1)


def test_dead_letters_are_listed_inspected_and_replayed_per_tenant(
    sessions, tenant, connection, other_tenant
) -> None:
    add_subscription(sessions, tenant, "all")
    sync(sessions, tenant, connection, {f"C{i}": {"name": f"N{i}"} for i in range(3)})
    dues = claim_all(sessions)
    with sessions.begin() as session:
        outbox.mark_failed(session, [Failure(d.id, "HTTP 500", 500, None) for d in dues], now=NOW)
    with sessions.begin() as session:
        first_page = outbox.dead_letters(session, tenant.id, limit=2)
        second_page = outbox.dead_letters(session, tenant.id, cursor=first_page[-1].id, limit=2)
        assert outbox.dead_letters(session, other_tenant.id) == []
        letter = outbox.get_dead_letter(session, tenant.id, dues[0].id)
        with pytest.raises(NotFoundError):
            outbox.get_dead_letter(session, other_tenant.id, dues[0].id)
    assert [d.id for d in first_page + second_page] == [d.id for d in dues]
    assert letter.webhook_id == dues[0].webhook_id
    assert letter.payload is not None and letter.payload["type"] == "account.created"
    assert (letter.attempts, letter.last_status, letter.dead_at) == (1, 500, NOW)

    with sessions.begin() as session:
        with pytest.raises(NotFoundError):
            outbox.replay(session, other_tenant.id, [dues[0].id])
        with pytest.raises(NotFoundError, match="999999"):
            outbox.replay(session, tenant.id, [dues[0].id, 999999])
        assert outbox.replay(session, tenant.id, [dues[0].id], now=NOW) == 1
    with sessions.begin() as session:
        [again] = outbox.claim_due(session, now=NOW, limit=10)
        with pytest.raises(NotFoundError):  # no longer a dead letter
            outbox.replay(session, tenant.id, [dues[0].id])
    assert (again.id, again.webhook_id, again.attempts) == (dues[0].id, dues[0].webhook_id, 0)


def test_disabling_a_subscription_dead_letters_its_pending_messages(
    sessions, tenant, connection
) -> None:
    sub = add_subscription(sessions, tenant, "all")
    sync(sessions, tenant, connection, {"C1": {"name": "Acme"}, "C2": {"name": "Beta"}})
    with sessions.begin() as session:
        assert outbox.disable_subscription(session, sub.id, reason="gone", now=NOW) == 2
    with sessions.begin() as session:
        stored = session.get_one(Subscription, sub.id)
        assert (stored.enabled, stored.disabled_reason) == (False, "gone")
        letters = outbox.dead_letters(session, tenant.id)
        assert [d.last_error for d in letters] == ["subscription disabled: gone"] * 2
        with pytest.raises(ConflictError, match="enable the subscription"):
            outbox.replay(session, tenant.id, [letters[0].id])
        assert outbox.backlog(session) == outbox.Backlog(pending=0, dead=2, oldest_due_at=None)


def test_throttle_defers_the_subscriptions_pending_messages(sessions, tenant, connection) -> None:
    sub = add_subscription(sessions, tenant, "all")
    sync(sessions, tenant, connection, {"C1": {"name": "Acme"}, "C2": {"name": "Beta"}})
    until = NOW + timedelta(minutes=10)
    with sessions.begin() as session:
        outbox.defer_subscription(session, sub.id, until=until)
        assert outbox.claim_due(session, now=until - timedelta(seconds=1), limit=10) == []
        assert outbox.backlog(session).oldest_due_at == until


def test_health_tracks_when_continuous_failure_began(sessions, tenant) -> None:
    a = add_subscription(sessions, tenant, "a")
    b = add_subscription(sessions, tenant, "b")
    later = NOW + timedelta(hours=1)
    with sessions.begin() as session:
        assert outbox.note_health(session, healthy=[], failing=[a.id, b.id], now=NOW) == {
            a.id: NOW,
            b.id: NOW,
        }
    with sessions.begin() as session:
        # a keeps failing (its start stays), b succeeds once (cleared)
        assert outbox.note_health(session, healthy=[b.id], failing=[a.id, b.id], now=later) == {
            a.id: NOW
        }
        assert session.get_one(Subscription, b.id).failing_since is None
