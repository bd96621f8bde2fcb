"""Tenants: looked up by slug, created on `l2c init`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFoundError
from core.model.tables import Tenant


def get_tenant(session: Session, slug: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFoundError(
            f"tenant {slug!r} does not exist", hint="run `l2c init` or set L2C_TENANT"
        )
    return tenant


def ensure_tenant(session: Session, slug: str, name: str | None = None) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        tenant = Tenant(slug=slug, name=name or slug)
        session.add(tenant)
        session.flush()
    return tenant
