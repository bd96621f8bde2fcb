"""The store's upsert rules, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.model.entities import ENTITIES
from core.model.tables import (
    Account,
    Connection,
    ExternalRef,
    Order,
    OrderLine,
    RecordChange,
    Tenant,
)
from core.store.upsert import Incoming, UpsertOutcome, WriteContext, upsert_batch

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HUAWEI = "914403001922038216"


@pytest.fixture
def second_connection(sessions: sessionmaker[Session], tenant: Tenant) -> Connection:
    with sessions.begin() as session:
        connection = Connection(tenant_id=tenant.id, name="crm", connector="files", config={})
        session.add(connection)
    return connection


def upsert(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    connection: Connection,
    records: list[tuple[str, dict[str, Any], datetime | None]],
    *,
    entity: str = "account",
    owns: frozenset[str] = frozenset(),
    match: tuple[str, ...] = (),
) -> UpsertOutcome:
    spec = ENTITIES[entity]
    items = [
        Incoming.of(spec, i, ext, spec.batch_adapter.validate_python([values])[0], ts)
        for i, (ext, values, ts) in enumerate(records)
    ]
    with sessions.begin() as session:
        context = WriteContext(tenant.id, connection.id, None, datetime.now(UTC))
        return upsert_batch(
            session, context, spec=spec, object_="customers", items=items, owns=owns, match=match
        )


def link_the_account(
    sessions: sessionmaker[Session], tenant: Tenant, connection: Connection, external_id: str
) -> None:
    """Make the only account also known to `connection` under `external_id`."""
    with sessions.begin() as session:
        account_id = session.scalars(select(Account.id)).one()
        session.add(
            ExternalRef(
                tenant_id=tenant.id,
                connection_id=connection.id,
                entity="account",
                object="customers",
                external_id=external_id,
                entity_id=account_id,
                content_hash=b"0" * 16,
                source_ts=None,
            )
        )


def accounts(sessions: sessionmaker[Session]) -> list[Account]:
    with sessions.begin() as session:
        return list(session.scalars(select(Account).order_by(Account.name)))


def changes(sessions: sessionmaker[Session]) -> list[RecordChange]:
    with sessions.begin() as session:
        return list(session.scalars(select(RecordChange).order_by(RecordChange.seq)))


def test_first_sight_inserts_record_ref_and_change(sessions, tenant, connection) -> None:
    outcome = upsert(
        sessions,
        tenant,
        connection,
        [("C1", {"name": "华为技术有限公司", "credit_limit": "1000.50"}, T0)],
    )
    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (1, 0, 0)
    [account] = accounts(sessions)
    assert account.name_key == "华为技术"
    assert account.credit_limit == Decimal("1000.50")
    assert (account.source_ts, account.field_ts) == (T0, None)
    with sessions.begin() as session:
        ref = session.scalars(select(ExternalRef)).one()
    assert (ref.external_id, ref.entity, ref.entity_id, ref.source_ts) == (
        "C1",
        "account",
        account.id,
        T0,
    )
    [change] = changes(sessions)
    assert change.op == "insert"
    assert change.changes == {}


def test_unchanged_record_writes_nothing(sessions, tenant, connection) -> None:
    record = ("C1", {"name": "Acme", "city": "上海"}, T0)
    upsert(sessions, tenant, connection, [record])
    before = accounts(sessions)[0].updated_at
    outcome = upsert(sessions, tenant, connection, [record])
    assert (outcome.inserted, outcome.updated, outcome.unchanged) == (0, 0, 1)
    assert accounts(sessions)[0].updated_at == before
    assert len(changes(sessions)) == 1


def test_a_real_change_is_logged_with_old_and_new(sessions, tenant, connection) -> None:
    upsert(sessions, tenant, connection, [("C1", {"name": "Acme", "city": "上海"}, T0)])
    outcome = upsert(
        sessions,
        tenant,
        connection,
        [("C1", {"name": "Acme", "city": "北京"}, T0 + timedelta(hours=1))],
    )
    assert outcome.updated == 1
    assert accounts(sessions)[0].city == "北京"
    assert changes(sessions)[-1].changes == {"city": ["上海", "北京"]}


def test_older_version_never_overwrites_newer(sessions, tenant, connection) -> None:
    upsert(
        sessions,
        tenant,
        connection,
        [("C1", {"name": "Acme", "city": "北京"}, T0 + timedelta(days=1))],
    )
    outcome = upsert(sessions, tenant, connection, [("C1", {"name": "Acme", "city": "上海"}, T0)])
    assert (outcome.updated, outcome.unchanged) == (0, 1)
    assert accounts(sessions)[0].city == "北京"
    assert len(changes(sessions)) == 1


def test_duplicates_in_one_batch_resolve_to_the_newest(sessions, tenant, connection) -> None:
    outcome = upsert(
        sessions,
        tenant,
        connection,
        [
            ("C1", {"name": "Acme", "city": "广州"}, T0 + timedelta(days=2)),
            ("C1", {"name": "Acme", "city": "上海"}, T0),
            ("C1", {"name": "Acme", "city": "北京"}, T0 + timedelta(days=1)),
        ],
    )
    assert (outcome.inserted, outcome.unchanged) == (1, 2)
    assert accounts(sessions)[0].city == "广州"


def test_owned_field_is_not_overwritten_by_another_connection(
    sessions, tenant, connection, second_connection
) -> None:
    upsert(
        sessions,
        tenant,
        connection,
        [("C1", {"name": "Acme", "credit_limit": "500"}, T0)],
        owns=frozenset({"credit_limit"}),
    )
    link_the_account(sessions, tenant, second_connection, "X9")
    outcome = upsert(
        sessions,
        tenant,
        second_connection,
        [("X9", {"name": "Acme", "credit_limit": "999", "city": "深圳"}, T0 + timedelta(days=1))],
    )
    [account] = accounts(sessions)
    assert account.credit_limit == Decimal("500")
    assert account.city == "深圳"
    assert outcome.updated == 1
    assert changes(sessions)[-1].changes == {"city": [None, "深圳"]}


def test_per_field_timestamps_keep_the_newest_value_of_each_field(
    sessions, tenant, connection, second_connection
) -> None:
    upsert(
        sessions,
        tenant,
        connection,
        [("C1", {"name": "Acme", "phone": "1", "city": "上海"}, T0 + timedelta(days=2))],
    )
    link_the_account(sessions, tenant, second_connection, "X9")
    upsert(sessions, tenant, second_connection, [("X9", {"phone": "2"}, T0 + timedelta(days=1))])
    assert accounts(sessions)[0].phone == "1"
    upsert(sessions, tenant, second_connection, [("X9", {"phone": "3"}, T0 + timedelta(days=3))])
    [account] = accounts(sessions)
    assert (account.phone, account.city) == ("3", "上海")
    upsert(
        sessions,
        tenant,
        connection,
        [("C1", {"name": "Acme", "phone": "4", "city": "杭州"}, T0 + timedelta(days=2, hours=1))],
    )
    [account] = accounts(sessions)
    assert (account.phone, account.city) == ("3", "杭州")


def test_match_rule_links_a_new_external_id_to_the_existing_record(
    sessions, tenant, connection, second_connection
) -> None:
    upsert(sessions, tenant, connection, [("C1", {"name": "华为技术有限公司", "uscc": HUAWEI}, T0)])
    outcome = upsert(
        sessions,
        tenant,
        second_connection,
        [("BP-7", {"name": "Huawei", "uscc": HUAWEI, "city": "深圳"}, T0 + timedelta(hours=1))],
        match=("uscc", "name"),
    )
    assert (outcome.inserted, outcome.updated) == (0, 1)
    [account] = accounts(sessions)
    assert account.city == "深圳"
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(ExternalRef)) == 2


def test_name_match_uses_the_normalised_company_name(
    sessions, tenant, connection, second_connection
) -> None:
    upsert(sessions, tenant, connection, [("C1", {"name": "阿里巴巴（中国）有限公司"}, T0)])
    outcome = upsert(
        sessions,
        tenant,
        second_connection,
        [("A1", {"name": "阿里巴巴(中国)有限公司"}, None)],
        match=("name",),
    )
    assert outcome.inserted == 0
    assert len(accounts(sessions)) == 1


def test_records_of_one_batch_match_each_other(sessions, tenant, connection) -> None:
    outcome = upsert(
        sessions,
        tenant,
        connection,
        [
            ("C1", {"name": "华为技术有限公司", "uscc": HUAWEI}, T0),
            ("C2", {"name": "华为", "uscc": HUAWEI, "city": "深圳"}, T0),
        ],
        match=("uscc",),
    )
    assert (outcome.inserted, outcome.updated) == (1, 1)
    [account] = accounts(sessions)
    assert account.city == "深圳"


def test_a_record_missing_a_required_field_is_rejected(sessions, tenant, connection) -> None:
    outcome = upsert(
        sessions, tenant, connection, [("C1", {"city": "上海"}, T0), ("C2", {"name": "Ok"}, T0)]
    )
    assert outcome.inserted == 1
    [(position, error)] = outcome.rejected
    assert position == 0
    assert (error.field, error.code) == ("name", "required")


def test_order_lines_are_replaced_as_a_whole_when_they_change(sessions, tenant, connection) -> None:
    lines = [
        {"line_no": 10, "sku": "A", "quantity": "1"},
        {"line_no": 20, "sku": "B", "quantity": "2"},
    ]
    upsert(
        sessions,
        tenant,
        connection,
        [("SO1", {"number": "SO1", "lines": lines}, T0)],
        entity="order",
    )
    outcome = upsert(
        sessions,
        tenant,
        connection,
        [("SO1", {"number": "SO1", "lines": lines}, T0)],
        entity="order",
    )
    assert outcome.unchanged == 1
    changed = [{"line_no": 10, "sku": "A", "quantity": "5"}]
    outcome = upsert(
        sessions,
        tenant,
        connection,
        [("SO1", {"number": "SO1", "lines": changed}, T0 + timedelta(1))],
        entity="order",
    )
    assert outcome.updated == 1
    with sessions.begin() as session:
        stored = session.scalars(select(OrderLine)).all()
        assert [(line.line_no, line.quantity) for line in stored] == [(10, Decimal("5"))]
        assert session.scalar(select(func.count()).select_from(Order)) == 1
    assert set(changes(sessions)[-1].changes) == {"lines"}


def test_every_query_is_scoped_to_the_tenant(sessions, tenant, connection) -> None:
    with sessions.begin() as session:
        other = Tenant(slug="other", name="Other")
        session.add(other)
    upsert(sessions, tenant, connection, [("C1", {"name": "X", "uscc": HUAWEI}, T0)])
    with sessions.begin() as session:
        other_conn = Connection(tenant_id=other.id, name="erp", connector="files", config={})
        session.add(other_conn)
    outcome = upsert(
        sessions, other, other_conn, [("C1", {"name": "X", "uscc": HUAWEI}, T0)], match=("uscc",)
    )
    assert outcome.inserted == 1
    with sessions.begin() as session:
        tenants = session.scalars(select(Account.tenant_id)).all()
    assert sorted(map(str, tenants)) == sorted([str(tenant.id), str(other.id)])
    _ = uuid
