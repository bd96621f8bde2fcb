"""Connections: validated against their connector's config schema; secret settings are
split off and stored encrypted, and shown masked from then on."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.sdk.registry import get_connector
from core.errors import ConfigError, NotFoundError
from core.model.tables import Connection, Tenant
from core.security.secrets import REDACTED, SecretBox
from core.settings import get_settings
from scheduler.errors import translate

Path = tuple[str | int, ...]


def _box() -> SecretBox:
    return SecretBox(get_settings().secret_key)


def _parts(path: str) -> list[str]:
    """``a.b[*].c`` -> ``["a", "b", "*", "c"]`` (the connector SDK's path syntax)."""
    return [p for p in path.replace("[", ".").replace("]", "").split(".") if p]


def _concrete(node: Any, parts: list[str], prefix: Path = ()) -> list[Path]:
    """Expand `[*]` against the config: the concrete paths that hold a value."""
    if not parts:
        return [prefix]
    head, rest = parts[0], parts[1:]
    if head == "*":
        if not isinstance(node, list):
            return []
        return [p for i, item in enumerate(node) for p in _concrete(item, rest, (*prefix, i))]
    if not isinstance(node, dict) or head not in node:
        return []
    return _concrete(node[head], rest, (*prefix, head))


def _get(document: Any, path: Path) -> Any:
    for part in path:
        document = document[part]
    return document


def _set(document: Any, path: Path, value: Any) -> None:
    _get(document, path[:-1])[path[-1]] = value


def split_secrets(
    config: Mapping[str, Any], secret_paths: Iterable[str]
) -> tuple[dict[str, Any], list[tuple[list[str | int], Any]]]:
    """(settings with secrets masked, [(concrete path, secret value)])."""
    plain = copy.deepcopy(dict(config))
    secrets: list[tuple[list[str | int], Any]] = []
    for pattern in secret_paths:
        for path in _concrete(plain, _parts(pattern)):
            value = _get(plain, path)
            if value not in (None, "", REDACTED):
                secrets.append((list(path), value))
                _set(plain, path, REDACTED)
    return plain, secrets


def add_connection(
    session: Session, tenant: Tenant, *, name: str, connector: str, config: Mapping[str, Any]
) -> Connection:
    """Validate and store a new connection (its secrets encrypted)."""
    spec = get_connector(connector)
    try:
        spec.validate_config(config)
    except Exception as error:
        raise translate(error) from None
    if session.scalar(
        select(Connection.id).where(Connection.tenant_id == tenant.id, Connection.name == name)
    ):
        raise ConfigError(f"a connection named {name!r} already exists", hint="pick another name")
    plain, secrets = split_secrets(config, spec.secret_fields(config))
    connection = Connection(
        tenant_id=tenant.id,
        name=name,
        connector=connector,
        config=plain,
        secrets=_box().encrypt({"paths": secrets}) if secrets else None,
    )
    session.add(connection)
    session.flush()
    return connection


def get_connection(session: Session, tenant: Tenant, name: str) -> Connection:
    connection = session.scalar(
        select(Connection).where(Connection.tenant_id == tenant.id, Connection.name == name)
    )
    if connection is None:
        raise NotFoundError(f"no connection named {name!r}", hint="see `l2c connection list`")
    return connection


def resolved_config(connection: Connection) -> dict[str, Any]:
    """The full config, secrets decrypted: only for handing to the connector."""
    config = copy.deepcopy(connection.config)
    if connection.secrets:
        for path, value in _box().decrypt(connection.secrets)["paths"]:
            _set(config, tuple(path), value)
    return config


def shown_config(connection: Connection) -> dict[str, Any]:
    """The config as users see it: secrets are stored masked in it."""
    return copy.deepcopy(connection.config)
