"""Webhook subscriptions: where a tenant's changes are sent, and the secret that signs them.

The signing secret (`whsec_` + 32 random bytes, base64) is stored encrypted and shown
once, when it is created or rotated; afterwards only its last four characters are shown.
A rotation keeps the previous secret for `ROTATION_OVERLAP`, during which deliveries
carry both signatures (Standard Webhooks' zero-downtime rotation).
"""

from __future__ import annotations

import base64
import difflib
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ConfigError, ConflictError, DataError, NotFoundError
from core.model.entities import ENTITIES
from core.model.tables import Connection, Subscription
from core.security.secrets import SecretBox
from core.security.urlguard import check_url
from core.settings import get_settings

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
ROTATION_OVERLAP = timedelta(hours=24)
MAX_NAME = 64
MAX_URL = 2048


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""Marks an argument of `update_subscription` that was not given (None is a value)."""


def _box() -> SecretBox:
    return SecretBox(get_settings().secret_key)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_secrets(sub: Subscription, *, now: datetime | None = None) -> list[str]:
    """The secrets to sign with: the current one, then the previous one while a rotation
    overlaps."""
    return secrets_of(_box().decrypt(sub.secret), now=now)


def secrets_of(document: dict[str, Any], *, now: datetime | None = None) -> list[str]:
    found = [str(document["secret"])]
    previous, until = document.get("previous"), document.get("previous_until")
    if previous and until and datetime.fromisoformat(until) > (now or utcnow()):
        found.append(str(previous))
    return found


def create_subscription(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    name: str,
    url: str,
    entities: Sequence[str] | None = None,
    connection_id: uuid.UUID | None = None,
    allowlist: Sequence[str] | None = None,
) -> tuple[Subscription, str]:
    """Create an endpoint; returns it with its signing secret, shown this once."""
    name = _check_name(session, tenant_id, name)
    url = _check_url(url, allowlist)
    chosen = _check_entities(entities)
    _check_connection(session, tenant_id, connection_id)
    secret = new_secret()
    sub = Subscription(
        tenant_id=tenant_id,
        name=name,
        url=url,
        secret=_box().encrypt({"secret": secret}),
        entities=chosen,
        connection_id=connection_id,
        enabled=True,
    )
    session.add(sub)
    session.flush()
    return sub, secret


def update_subscription(
    session: Session,
    tenant_id: uuid.UUID,
    subscription_id: uuid.UUID,
    *,
    name: str = UNSET,
    url: str = UNSET,
    entities: Sequence[str] | None = UNSET,
    connection_id: uuid.UUID | None = UNSET,
    enabled: bool = UNSET,
    rotate_secret: bool = False,
    allowlist: Sequence[str] | None = None,
) -> tuple[Subscription, str | None]:
    """Change what is given (UNSET leaves a field alone; `entities=None` means all).
    Returns the subscription and, when `rotate_secret`, the new secret (shown once)."""
    sub = get_subscription(session, tenant_id, subscription_id)
    if name is not UNSET and name != sub.name:
        sub.name = _check_name(session, tenant_id, name)
    if url is not UNSET:
        sub.url = _check_url(url, allowlist)
    if entities is not UNSET:
        sub.entities = _check_entities(entities)
    if connection_id is not UNSET:
        _check_connection(session, tenant_id, connection_id)
        sub.connection_id = connection_id
    if enabled is not UNSET:
        if enabled and not sub.enabled:
            sub.disabled_reason, sub.failing_since = None, None
        elif not enabled and sub.enabled:
            sub.disabled_reason = "disabled by a user"
        sub.enabled = bool(enabled)
    secret = None
    if rotate_secret:
        box = _box()
        old = box.decrypt(sub.secret)["secret"]
        secret = new_secret()
        until = (utcnow() + ROTATION_OVERLAP).isoformat()
        sub.secret = box.encrypt({"secret": secret, "previous": old, "previous_until": until})
    session.flush()
    return sub, secret


def get_subscription(
    session: Session, tenant_id: uuid.UUID, subscription_id: uuid.UUID
) -> Subscription:
    sub = session.scalar(
        select(Subscription).where(
            Subscription.tenant_id == tenant_id, Subscription.id == subscription_id
        )
    )
    if sub is None:
        raise NotFoundError(
            f"subscription {subscription_id} not found",
            hint="list the subscriptions to see their ids",
        )
    return sub


def list_subscriptions(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    cursor: uuid.UUID | None = None,
    limit: int = 50,
) -> list[Subscription]:
    """Oldest first (ids are time-ordered); pass the last id seen as `cursor`."""
    query = select(Subscription).where(Subscription.tenant_id == tenant_id)
    if cursor is not None:
        query = query.where(Subscription.id > cursor)
    return list(session.scalars(query.order_by(Subscription.id).limit(limit)))


def delete_subscription(session: Session, tenant_id: uuid.UUID, subscription_id: uuid.UUID) -> None:
    """Delete an endpoint and its messages (pending and dead)."""
    get_subscription(session, tenant_id, subscription_id)
    session.execute(
        delete(Subscription).where(
            Subscription.tenant_id == tenant_id, Subscription.id == subscription_id
        )
    )


def shown(sub: Subscription) -> dict[str, Any]:
    """What the API shows: never the secret, only its last four characters."""
    document = _box().decrypt(sub.secret)
    current = str(document["secret"])
    rotating = document.get("previous_until")
    return {
        "id": sub.id,
        "name": sub.name,
        "url": sub.url,
        "entities": sub.entities,
        "connection_id": sub.connection_id,
        "enabled": sub.enabled,
        "disabled_reason": sub.disabled_reason,
        "failing_since": sub.failing_since,
        "secret_hint": f"{SECRET_PREFIX}…{current[-4:]}",
        "previous_secret_valid_until": rotating,
        "created_at": sub.created_at,
        "updated_at": sub.updated_at,
    }


# ---------------------------------------------------------------------------- validation
def _check_name(session: Session, tenant_id: uuid.UUID, name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise DataError(
            f"subscription name must have 1 to {MAX_NAME} characters",
            field="name",
            code="invalid",
            hint="give a short name such as 'erp-events'",
        )
    taken = session.scalar(
        select(Subscription.id).where(
            Subscription.tenant_id == tenant_id, Subscription.name == name
        )
    )
    if taken is not None:
        raise ConflictError(
            f"a subscription named {name!r} already exists", hint="choose another name"
        )
    return name


def _check_url(url: str, allowlist: Sequence[str] | None) -> str:
    url = (url or "").strip()
    if len(url) > MAX_URL:
        raise DataError(
            f"the URL is longer than {MAX_URL} characters",
            field="url",
            code="too_long",
            hint="shorten the URL",
        )
    rules = get_settings().url_allowlist if allowlist is None else allowlist
    try:
        check_url(url, allowlist=rules, unresolved_ok=True)
    except ConfigError as error:
        raise DataError(error.message, field="url", code="url_refused", hint=error.hint) from None
    return url


def _check_entities(entities: Sequence[str] | None) -> list[str] | None:
    if entities is None:
        return None
    if isinstance(entities, str) or not entities:
        raise DataError(
            "entities must be a non-empty list of canonical entity names",
            field="entities",
            code="invalid",
            hint="leave it out (null) to receive every entity",
        )
    known = sorted(ENTITIES)
    for name in entities:
        if name not in ENTITIES:
            close = difflib.get_close_matches(str(name), known, n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            raise DataError(
                f"unknown entity {name!r}",
                field="entities",
                code="unknown_entity",
                hint=f"{guess}known entities: {', '.join(known)}",
            )
    return sorted(set(entities))


def _check_connection(
    session: Session, tenant_id: uuid.UUID, connection_id: uuid.UUID | None
) -> None:
    if connection_id is None:
        return
    found = session.scalar(
        select(Connection.id).where(
            Connection.tenant_id == tenant_id, Connection.id == connection_id
        )
    )
    if found is None:
        raise NotFoundError(
            f"connection {connection_id} not found",
            hint="give the id of one of this tenant's connections, or leave it out",
        )
