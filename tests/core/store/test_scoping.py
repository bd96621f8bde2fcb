"""A tenant-bound session cannot see or write another tenant's rows, whatever the query."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import Account, Connection, RecordChange, Tenant
from core.store.scoping import scope_to_tenant


@pytest.fixture
def two_tenants(sessions: sessionmaker[Session]) -> tuple[Tenant, Tenant, Connection]:
    with sessions.begin() as session:
        a, b = Tenant(slug="a", name="A"), Tenant(slug="b", name="B")
        session.add_all([a, b])
        session.flush()
        conn = Connection(tenant_id=a.id, name="erp", connector="files", config={})
        session.add(conn)
        session.add(Account(tenant_id=a.id, name="Huawei"))
    return a, b, conn


def test_reads_updates_and_deletes_are_scoped(
    sessions: sessionmaker[Session], two_tenants: tuple[Tenant, Tenant, Connection]
) -> None:
    a, b, conn = two_tenants
    with sessions.begin() as session:
        scope_to_tenant(session, b.id)
        assert session.get(Connection, conn.id) is None
        assert session.scalar(select(func.count()).select_from(Account)) == 0
        assert session.scalars(select(Connection).where(Connection.id == conn.id)).all() == []
        session.execute(update(Connection).values(name="stolen"))
        session.execute(delete(Account))
    with sessions() as session:
        assert session.get_one(Connection, conn.id).name == "erp"
        assert session.scalar(select(func.count()).select_from(Account)) == 1
    with sessions() as session:
        scope_to_tenant(session, a.id)
        assert session.get(Connection, conn.id) is not None


def test_bulk_tenant_tables_are_scoped_too(
    sessions: sessionmaker[Session], two_tenants: tuple[Tenant, Tenant, Connection]
) -> None:
    a, b, _ = two_tenants
    with sessions.begin() as session:
        session.add(
            RecordChange(tenant_id=a.id, entity="account", entity_id=a.id, op="insert", changes={})
        )
    with sessions() as session:
        scope_to_tenant(session, b.id)
        assert session.scalars(select(RecordChange)).all() == []


def test_new_rows_take_the_tenant_and_refuse_another(
    sessions: sessionmaker[Session], two_tenants: tuple[Tenant, Tenant, Connection]
) -> None:
    a, b, _ = two_tenants
    with sessions.begin() as session:
        scope_to_tenant(session, b.id)
        account = Account(name="Tencent")
        session.add(account)
    assert account.tenant_id == b.id
    with sessions.begin() as session:
        scope_to_tenant(session, b.id)
        session.add(Account(tenant_id=a.id, name="Alibaba"))
        with pytest.raises(PermissionError):
            session.flush()
        session.rollback()
