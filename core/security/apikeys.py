"""API keys: `l2c_<prefix>_<secret>`, one tenant and a set of scopes each.

The prefix is public and indexed, so a request costs one lookup; only SHA-256 of the
secret is stored (the secret has 190 bits of entropy, so a slow hash would add nothing
but latency). The full key is shown once, at creation, and never again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ConfigError, NotFoundError
from core.model.tables import ApiKey

SCOPES = ("admin", "write", "read", "webhook")
"""`admin` ⊇ `write` ⊇ `read`; `webhook` only pushes events to the webhook endpoint."""
_IMPLIED = {"admin": {"admin", "write", "read"}, "write": {"write", "read"}, "read": {"read"}}
KEY_PREFIX = "l2c_"
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's tenant and what it may do."""

    key_id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def effective_scopes(scopes: Iterable[str]) -> frozenset[str]:
    granted: set[str] = set()
    for scope in scopes:
        granted |= _IMPLIED.get(scope, {scope})
    return frozenset(granted)


def check_scopes(scopes: Sequence[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ConfigError(
            f"unknown scope(s): {', '.join(unknown)}" if unknown else "a key needs a scope",
            hint=f"choose from {', '.join(SCOPES)}",
        )
    return sorted(set(scopes))


def create_key(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    name: str,
    scopes: Sequence[str],
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its full text (shown to the user once)."""
    prefix, secret = _random(8), _random(32)
    key = ApiKey(
        tenant_id=tenant_id,
        name=name,
        prefix=prefix,
        secret_hash=_hash(secret),
        scopes=check_scopes(scopes),
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    return key, f"{KEY_PREFIX}{prefix}_{secret}"


def split_key(text: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    if not text.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = text[len(KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 8 or len(secret) != 32:
        return None
    return prefix, secret


def authenticate(session: Session, text: str) -> Principal | None:
    """The principal of a valid, unrevoked, unexpired key; None for anything else."""
    parts = split_key(text)
    if parts is None:
        return None
    prefix, secret = parts
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    now = utcnow()
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    return Principal(key.id, key.tenant_id, effective_scopes(key.scopes))


def touch(session: Session, key_id: uuid.UUID) -> None:
    """Record use (callers throttle this: one write per key per minute is plenty)."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))


def list_keys(session: Session, tenant_id: uuid.UUID) -> list[ApiKey]:
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)
        )
    )


def revoke_key(session: Session, tenant_id: uuid.UUID, ref: str) -> ApiKey:
    """Revoke by name, prefix or full key text; revoking twice is harmless."""
    parts = split_key(ref)
    prefix = parts[0] if parts else ref
    key = session.scalar(
        select(ApiKey).where(
            ApiKey.tenant_id == tenant_id, (ApiKey.prefix == prefix) | (ApiKey.name == ref)
        )
    )
    if key is None:
        raise NotFoundError(f"no API key named or prefixed {ref!r}", hint="see `l2c apikey list`")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
