"""Helpers of the API tests: a tenant with an authenticated client."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import Tenant
from core.security.apikeys import create_key

SECRET_KEY = Fernet.generate_key().decode()


@dataclass
class Caller:
    """A tenant with a client authenticated by a key of the given scopes."""

    tenant: Tenant
    client: TestClient
    key: str


def make_caller(
    app: FastAPI, sessions: sessionmaker[Session], slug: str, scopes: tuple[str, ...] = ("admin",)
) -> Caller:
    with sessions.begin() as session:
        tenant = session.query(Tenant).filter_by(slug=slug).one_or_none()
        if tenant is None:
            tenant = Tenant(slug=slug, name=slug.title())
            session.add(tenant)
            session.flush()
        _, key = create_key(session, tenant.id, name=f"{slug}-{'-'.join(scopes)}", scopes=scopes)
    client = TestClient(app, headers={"Authorization": f"Bearer {key}"})
    return Caller(tenant, client, key)
