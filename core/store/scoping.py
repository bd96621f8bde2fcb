"""Tenant scoping in one place: a session bound to a tenant sees and writes only that
tenant's rows, whatever query an endpoint builds.

Every ORM statement run by such a session gets `tenant_id = :tenant` added for every
entity that has a tenant (SQLAlchemy's `with_loader_criteria`, which also covers
relationship loads and ORM-enabled UPDATE/DELETE), and a flush refuses a new row of
another tenant. Plain Core statements (the bulk sync path) carry their tenant explicitly.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from core.model.tables.base import BulkTenantMixin, TenantMixin

TENANT = "tenant_id"


def scope_to_tenant(session: Session, tenant_id: uuid.UUID) -> Session:
    session.info[TENANT] = tenant_id
    return session


def scoped_tenant(session: Session) -> uuid.UUID | None:
    value = session.info.get(TENANT)
    return value if isinstance(value, uuid.UUID) else None


@event.listens_for(Session, "do_orm_execute")
def _add_tenant_criteria(state: ORMExecuteState) -> None:
    tenant_id = scoped_tenant(state.session)
    if tenant_id is None or not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent row was already scoped; its criteria propagate
    for mixin in (TenantMixin, BulkTenantMixin):
        state.statement = state.statement.options(
            with_loader_criteria(mixin, _criteria(tenant_id), include_aliases=True)
        )


def _criteria(tenant_id: uuid.UUID) -> Any:
    return lambda cls: cls.tenant_id == tenant_id


@event.listens_for(Session, "before_flush")
def _check_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    tenant_id = scoped_tenant(session)
    if tenant_id is None:
        return
    for obj in session.new:
        held = getattr(obj, TENANT, None)
        if held is None and hasattr(type(obj), TENANT):
            obj.tenant_id = tenant_id
        elif held is not None and held != tenant_id:
            raise PermissionError(f"a session of tenant {tenant_id} tried to write another's row")
