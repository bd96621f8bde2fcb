from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.errors import ConfigError, NotFoundError
from core.model.tables import ApiKey, Tenant
from core.security.apikeys import authenticate, create_key, list_keys, revoke_key


def test_key_authenticates_with_its_tenant_and_implied_scopes(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as session:
        _, text = create_key(session, tenant.id, name="ci", scopes=["write"])
    with sessions() as session:
        principal = authenticate(session, text)
        stored = session.query(ApiKey).one()
    assert principal is not None and principal.tenant_id == tenant.id
    assert principal.scopes == {"write", "read"}
    assert text.split("_")[2] not in stored.secret_hash.hex()  # only a hash is kept
    assert len(stored.secret_hash) == 32


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret
        lambda t: t.replace("l2c_", "l2d_"),  # wrong format
        lambda t: t[:20],  # truncated
        lambda t: "",
    ],
)
def test_altered_keys_do_not_authenticate(
    sessions: sessionmaker[Session], tenant: Tenant, mutate
) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        _, text = create_key(session, tenant.id, name="ci", scopes=["read"])
    with sessions() as session:
        assert authenticate(session, mutate(text)) is None


def test_revoked_and_expired_keys_do_not_authenticate(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as session:
        _, revoked = create_key(session, tenant.id, name="old", scopes=["read"])
        _, expired = create_key(
            session, tenant.id, name="tmp", scopes=["read"], expires_at=utcnow() - timedelta(1)
        )
    with sessions.begin() as session:
        revoke_key(session, tenant.id, "old")
        revoke_key(session, tenant.id, "old")  # twice is harmless
        assert [k.name for k in list_keys(session, tenant.id)] == ["old", "tmp"]
    with sessions() as session:
        assert authenticate(session, revoked) is None
        assert authenticate(session, expired) is None


def test_scopes_and_names_are_checked(sessions: sessionmaker[Session], tenant: Tenant) -> None:
    with sessions.begin() as session:
        with pytest.raises(ConfigError, match="unknown scope"):
            create_key(session, tenant.id, name="x", scopes=["root"])
        with pytest.raises(NotFoundError):
            revoke_key(session, tenant.id, "nope")
