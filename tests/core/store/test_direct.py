"""Writes from callers (API, CLI): create, patch and upsert by external id, on both
dialects. They must follow the sync's rules: change log, stamps, ownership, tenancy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConflictError, DataError, NotFoundError
from core.model.entities import ENTITIES
from core.model.tables import (
    Account,
    Connection,
    OrderLine,
    OutboxMessage,
    RecordChange,
    Subscription,
    Tenant,
)
from core.store.direct import create_record, patch_record
from core.store.external import ByExternalId, upsert_external
from core.store.upsert import Incoming, WriteContext, upsert_batch

ACCOUNT = ENTITIES["account"]
CONTACT = ENTITIES["contact"]
ORDER = ENTITIES["order"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def crm(sessions: sessionmaker[Session], tenant: Tenant) -> Connection:
    with sessions.begin() as session:
        connection = Connection(tenant_id=tenant.id, name="crm", connector="files", config={})
        session.add(connection)
    return connection


def changes_of(sessions: sessionmaker[Session], entity_id: uuid.UUID) -> list[RecordChange]:
    with sessions() as session:
        return list(
            session.scalars(
                select(RecordChange)
                .where(RecordChange.entity_id == entity_id)
                .order_by(RecordChange.seq)
            )
        )


def sync(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    connection: Connection,
    external_id: str,
    values: dict[str, Any],
    source_ts: datetime | None,
    *,
    owns: frozenset[str] = frozenset(),
) -> None:
    """What a sync run does with one mapped record."""
    clean = ACCOUNT.batch_adapter.validate_python([values])[0]
    with sessions.begin() as session:
        upsert_batch(
            session,
            WriteContext(tenant.id, connection.id, None, datetime.now(UTC)),
            spec=ACCOUNT,
            object_="customers",
            items=[Incoming.of(ACCOUNT, 0, external_id, clean, source_ts)],
            owns=owns,
        )


def test_create_writes_the_record_its_lines_and_an_insert_change(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as session:
        record = create_record(
            session,
            tenant.id,
            ORDER,
            {
                "number": "SO-1",
                "total_amount": Decimal("113.00"),
                "lines": [
                    {"line_no": 2, "sku": "B", "quantity": Decimal("1")},
                    {"line_no": 1, "sku": "A", "quantity": Decimal("2.5")},
                ],
            },
        )
    assert record["number"] == "SO-1" and record["total_amount"] == Decimal("113.00")
    assert [line["sku"] for line in record["lines"]] == ["A", "B"]
    assert record["external_refs"] == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(OrderLine)) == 2
    [change] = changes_of(sessions, record["id"])
    assert (change.op, change.changes, change.connection_id, change.entity) == (
        "insert",
        {},
        None,
        "order",
    )


def test_create_refuses_missing_required_fields(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as session, pytest.raises(DataError) as caught:
        create_record(session, tenant.id, ENTITIES["payment"], {"reference": "P-1"})
    assert caught.value.field == "amount" and caught.value.code == "required"


def test_patch_logs_the_diff_and_a_no_op_patch_writes_nothing(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as session:
        record = create_record(session, tenant.id, ACCOUNT, {"name": "Acme", "city": "深圳"})
    with sessions.begin() as session:
        patched, diff = patch_record(
            session, tenant.id, ACCOUNT, record["id"], {"city": "广州", "name": "Acme"}
        )
    assert diff == {"city": ["深圳", "广州"]}
    assert patched["city"] == "广州" and patched["updated_at"] > record["updated_at"]
    with sessions.begin() as session:
        _, diff = patch_record(session, tenant.id, ACCOUNT, record["id"], {"city": "广州"})
    assert diff == {}
    assert [(c.op, c.changes) for c in changes_of(sessions, record["id"])] == [
        ("insert", {}),
        ("update", {"city": ["深圳", "广州"]}),
    ]


def test_patch_recomputes_the_name_match_key(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as session:
        record = create_record(session, tenant.id, ACCOUNT, {"name": "Acme"})
        patch_record(session, tenant.id, ACCOUNT, record["id"], {"name": "华为技术有限公司"})
    with sessions() as session:
        key = session.scalar(select(Account.name_key))
    assert key and key != "acme"


def test_patched_field_survives_older_sync_data_while_other_fields_update(
    sessions: sessionmaker[Session], tenant: Tenant, connection: Connection
) -> None:
    sync(sessions, tenant, connection, "C-1", {"name": "Acme", "industry": "IT"}, T0)
    with sessions() as session:
        account_id = session.scalars(select(Account.id)).one()
    with sessions.begin() as session:
        patch_record(session, tenant.id, ACCOUNT, account_id, {"industry": "Telecom"})
    # A later sync brings a version made after T0 but before the API edit.
    sync(
        sessions,
        tenant,
        connection,
        "C-1",
        {"name": "Acme Ltd", "industry": "IT"},
        T0 + timedelta(days=1),
    )
    with sessions() as session:
        account = session.get_one(Account, account_id)
        assert (account.name, account.industry) == ("Acme Ltd", "Telecom")
    # A version newer than the edit wins.
    future = datetime.now(UTC) + timedelta(minutes=1)
    sync(sessions, tenant, connection, "C-1", {"name": "Acme Ltd", "industry": "Cloud"}, future)
    with sessions() as session:
        assert session.get_one(Account, account_id).industry == "Cloud"


def test_created_values_survive_older_sync_data_matched_to_them(
    sessions: sessionmaker[Session], tenant: Tenant, connection: Connection
) -> None:
    uscc = "91440300MA5G7W2Q1H"
    with sessions.begin() as session:
        record = create_record(session, tenant.id, ACCOUNT, {"name": "Acme", "uscc": uscc})
    clean = ACCOUNT.batch_adapter.validate_python(
        [{"name": "ACME old name", "uscc": uscc, "city": "深圳"}]
    )[0]
    with sessions.begin() as session:
        upsert_batch(
            session,
            WriteContext(tenant.id, connection.id, None, datetime.now(UTC)),
            spec=ACCOUNT,
            object_="customers",
            items=[Incoming.of(ACCOUNT, 0, "C-9", clean, T0)],
            match=("uscc",),
        )
    with sessions() as session:
        [account] = session.scalars(select(Account)).all()
    assert account.id == record["id"]
    assert (account.name, account.city) == ("Acme", "深圳")  # empty fields take older data


def test_patch_refuses_a_field_another_connection_owns(
    sessions: sessionmaker[Session], tenant: Tenant, connection: Connection
) -> None:
    sync(
        sessions,
        tenant,
        connection,
        "C-1",
        {"name": "Acme", "credit_limit": "100"},
        T0,
        owns=frozenset({"credit_limit"}),
    )
    with sessions() as session:
        account_id = session.scalars(select(Account.id)).one()
    with sessions.begin() as session, pytest.raises(ConflictError) as caught:
        patch_record(session, tenant.id, ACCOUNT, account_id, {"credit_limit": Decimal("200")})
    assert "'erp'" in caught.value.message and caught.value.hint
    with sessions.begin() as session:  # the same value is no change, hence no conflict
        _, diff = patch_record(
            session, tenant.id, ACCOUNT, account_id, {"credit_limit": Decimal("100")}
        )
    assert diff == {}


def test_references_must_be_records_of_the_same_tenant(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as session:
        other = Tenant(slug="other", name="Other")
        session.add(other)
        session.flush()
        theirs = create_record(session, other.id, ACCOUNT, {"name": "Theirs"})
        mine = create_record(session, tenant.id, ACCOUNT, {"name": "Mine"})
    with sessions.begin() as session, pytest.raises(DataError) as caught:
        create_record(session, tenant.id, CONTACT, {"name": "x", "account_id": theirs["id"]})
    assert caught.value.field == "account_id" and caught.value.code == "unknown_reference"
    with sessions.begin() as session, pytest.raises(DataError) as caught:
        patch_record(session, tenant.id, ACCOUNT, mine["id"], {"owner_id": uuid.uuid4()})
    assert caught.value.field == "owner_id"
    with sessions.begin() as session, pytest.raises(DataError) as caught:
        patch_record(session, tenant.id, ACCOUNT, mine["id"], {"parent_id": mine["id"]})
    assert caught.value.code == "self_reference"
    with sessions.begin() as session, pytest.raises(NotFoundError):
        patch_record(session, tenant.id, ACCOUNT, theirs["id"], {"name": "stolen"})


def test_upsert_external_inserts_updates_and_leaves_unchanged(
    sessions: sessionmaker[Session], tenant: Tenant, connection: Connection
) -> None:
    def put(values: dict[str, Any], source_ts: datetime | None = None) -> tuple[Any, str]:
        with sessions.begin() as session:
            return upsert_external(
                session,
                tenant.id,
                ACCOUNT,
                connection_id=connection.id,
                external_id="C-1",
                values=values,
                source_ts=source_ts,
            )

    record, outcome = put({"name": "Acme"}, T0)
    assert outcome == "inserted"
    assert [(r["object"], r["external_id"]) for r in record["external_refs"]] == [
        ("account", "C-1")
    ]
    assert put({"name": "Acme", "city": "深圳"}, T0 + timedelta(hours=1))[1] == "updated"
    assert put({"name": "Acme", "city": "深圳"}, T0 + timedelta(hours=1))[1] == "unchanged"
    older, outcome = put({"name": "Old", "city": "old"}, T0)
    assert outcome == "unchanged" and older["city"] == "深圳"
    assert [c.op for c in changes_of(sessions, record["id"])] == ["insert", "update"]
    changes = changes_of(sessions, record["id"])
    assert {c.connection_id for c in changes} == {connection.id}


def test_upsert_external_resolves_references_by_external_id(
    sessions: sessionmaker[Session], tenant: Tenant, connection: Connection, crm: Connection
) -> None:
    with sessions.begin() as session:
        account, _ = upsert_external(
            session,
            tenant.id,
            ACCOUNT,
            connection_id=connection.id,
            external_id="C-1",
            values={"name": "Acme"},
        )
        contact, _ = upsert_external(
            session,
            tenant.id,
            CONTACT,
            connection_id=connection.id,
            external_id="P-1",
            values={"name": "张伟", "account_id": ByExternalId("C-1")},
        )
    assert contact["account_id"] == account["id"]
    with sessions.begin() as session, pytest.raises(DataError) as caught:
        upsert_external(  # the same external id under another connection is another thing
            session,
            tenant.id,
            CONTACT,
            connection_id=crm.id,
            external_id="P-1",
            values={"name": "张伟", "account_id": ByExternalId("C-1")},
        )
    assert caught.value.field == "account_external_id"
    assert caught.value.code == "unresolved_reference"


def test_upsert_external_refuses_what_a_sync_would_quarantine(
    sessions: sessionmaker[Session], tenant: Tenant, connection: Connection
) -> None:
    with sessions.begin() as session, pytest.raises(DataError) as caught:
        upsert_external(
            session,
            tenant.id,
            ACCOUNT,
            connection_id=connection.id,
            external_id="C-1",
            values={"city": "深圳"},
        )
    assert caught.value.field == "name" and caught.value.code == "required"
    with sessions.begin() as session, pytest.raises(DataError) as caught:
        upsert_external(
            session,
            tenant.id,
            ACCOUNT,
            connection_id=connection.id,
            external_id="C-1",
            values={"name": "x"},
            source_ts=datetime.now(UTC) + timedelta(hours=2),
        )
    assert caught.value.field == "source_ts"
    with sessions.begin() as session, pytest.raises(NotFoundError):
        upsert_external(
            session,
            tenant.id,
            ACCOUNT,
            connection_id=uuid.uuid4(),
            external_id="C-1",
            values={"name": "x"},
        )
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 0


def test_direct_writes_fan_out_to_subscriptions(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as session:
        session.add(
            Subscription(tenant_id=tenant.id, name="hook", url="https://x.test/h", secret=b"s")
        )
    with sessions.begin() as session:
        record = create_record(session, tenant.id, ACCOUNT, {"name": "Acme"})
        patch_record(session, tenant.id, ACCOUNT, record["id"], {"city": "深圳"})
        patch_record(session, tenant.id, ACCOUNT, record["id"], {"city": "深圳"})  # no change
    with sessions() as session:
        seqs = session.scalars(select(OutboxMessage.change_seq).order_by(OutboxMessage.id)).all()
    assert seqs == [c.seq for c in changes_of(sessions, record["id"])]
    assert len(seqs) == 2
