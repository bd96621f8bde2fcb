"""Subscription service: validation, secrets shown once and stored encrypted, tenancy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConflictError, DataError, NotFoundError
from core.model.tables import Connection, Subscription, Tenant
from core.security.secrets import generate_key
from core.settings import get_settings
from scheduler.subscriptions import (
    create_subscription,
    delete_subscription,
    get_subscription,
    list_subscriptions,
    shown,
    signing_secrets,
    update_subscription,
)

PUBLIC = "https://93.184.216.34/hooks"


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("L2C_SECRET_KEY", generate_key())
    monkeypatch.setenv("L2C_URL_ALLOWLIST", '["10.20.0.0/16"]')
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def other_tenant(sessions: sessionmaker[Session]) -> Tenant:
    with sessions.begin() as session:
        tenant = Tenant(slug="globex", name="Globex")
        session.add(tenant)
    return tenant


def create(
    sessions: sessionmaker[Session], tenant: Tenant, **kwargs: object
) -> tuple[Subscription, str]:
    with sessions.begin() as session:
        return create_subscription(
            session,
            tenant.id,
            name=str(kwargs.pop("name", "events")),
            url=str(kwargs.pop("url", PUBLIC)),
            **kwargs,  # type: ignore[arg-type]
        )


def test_create_returns_the_secret_once_and_stores_it_encrypted(sessions, tenant) -> None:
    sub, secret = create(sessions, tenant, entities=["order", "account", "order"])
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 44
    assert secret.encode() not in sub.secret
    assert sub.entities == ["account", "order"]
    view = shown(sub)
    assert secret not in str(view)
    assert view["secret_hint"] == f"whsec_…{secret[-4:]}"
    assert signing_secrets(sub) == [secret]


def test_urls_pass_the_ssrf_guard_with_the_settings_allowlist(sessions, tenant) -> None:
    with pytest.raises(DataError) as caught:
        create(sessions, tenant, url="http://169.254.169.254/latest/meta-data/")
    assert (caught.value.field, caught.value.code) == ("url", "url_refused")
    assert "L2C_URL_ALLOWLIST" in (caught.value.hint or "")
    sub, _ = create(sessions, tenant, url="http://10.20.1.2:8080/in")  # allow-listed range
    with sessions.begin() as session, pytest.raises(DataError, match="loopback"):
        update_subscription(session, tenant.id, sub.id, url="http://127.0.0.1/")


def test_unknown_entities_get_a_did_you_mean_hint(sessions, tenant) -> None:
    with pytest.raises(DataError) as caught:
        create(sessions, tenant, entities=["acount"])
    assert caught.value.field == "entities"
    assert "did you mean 'account'?" in (caught.value.hint or "")
    with pytest.raises(DataError, match="non-empty list"):
        create(sessions, tenant, entities=[])


def test_names_are_unique_per_tenant(sessions, tenant, other_tenant) -> None:
    create(sessions, tenant)
    with pytest.raises(ConflictError):
        create(sessions, tenant)
    create(sessions, other_tenant)  # the same name in another tenant is fine


def test_another_tenants_subscription_and_connection_are_not_found(
    sessions, tenant, other_tenant, connection: Connection
) -> None:
    sub, _ = create(sessions, tenant, connection_id=connection.id)
    with sessions.begin() as session:
        with pytest.raises(NotFoundError):
            get_subscription(session, other_tenant.id, sub.id)
        with pytest.raises(NotFoundError):
            update_subscription(session, other_tenant.id, sub.id, name="mine")
        with pytest.raises(NotFoundError):
            delete_subscription(session, other_tenant.id, sub.id)
        assert list_subscriptions(session, other_tenant.id) == []
    with pytest.raises(NotFoundError, match="connection"):
        create(sessions, other_tenant, name="x", connection_id=connection.id)


def test_update_list_and_delete(sessions, tenant) -> None:
    first, _ = create(sessions, tenant, name="a")
    second, _ = create(sessions, tenant, name="b", entities=["lead"])
    with sessions.begin() as session:
        sub, secret = update_subscription(session, tenant.id, second.id, entities=None)
        assert (sub.entities, secret) == (None, None)
        sub, _ = update_subscription(session, tenant.id, second.id, enabled=False)
        assert (sub.enabled, sub.disabled_reason) == (False, "disabled by a user")
        sub.failing_since = sub.created_at
        sub, _ = update_subscription(session, tenant.id, second.id, enabled=True)
        assert (sub.enabled, sub.disabled_reason, sub.failing_since) == (True, None, None)
    low, high = sorted([first.id, second.id])  # v7 ids of one millisecond may not sort
    with sessions.begin() as session:
        page = list_subscriptions(session, tenant.id, limit=1)
        assert [s.id for s in page] == [low]
        assert [s.id for s in list_subscriptions(session, tenant.id, cursor=low)] == [high]
        delete_subscription(session, tenant.id, first.id)
    with sessions.begin() as session, pytest.raises(NotFoundError):
        get_subscription(session, tenant.id, first.id)
    with sessions.begin() as session, pytest.raises(NotFoundError):
        get_subscription(session, tenant.id, uuid.uuid4())


def test_rotation_keeps_the_previous_secret_for_a_day(sessions, tenant) -> None:
    sub, old = create(sessions, tenant)
    with sessions.begin() as session:
        sub, new = update_subscription(session, tenant.id, sub.id, rotate_secret=True)
    assert new is not None and new != old
    assert signing_secrets(sub) == [new, old]
    assert shown(sub)["secret_hint"].endswith(new[-4:])
    later = sub.updated_at.replace(year=sub.updated_at.year + 1)
    assert signing_secrets(sub, now=later) == [new]
