"""The installed connectors as users see them: what each can do and what it asks for.

`l2c connectors` and GET /v1/connectors show the same facts. A connector whose package
failed to load is listed with the reason, so a connection that lost its connector can
be explained.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

from connectors.sdk.registry import BrokenConnector, load_connectors
from connectors.sdk.spec import Connector
from core.errors import NotFoundError

CAPABILITY_NAMES = {"read": "source", "incremental": "incremental", "write": "writer"}
"""The SDK's capability names as the catalog shows them (`webhook` stays)."""


@dataclass(frozen=True, slots=True)
class ConnectorInfo:
    name: str
    title: str
    description: str
    capabilities: list[str]
    streams: list[str] | None
    """Stream names when they are fixed by the connector (not derived from settings)."""
    config_schema: dict[str, Any]
    secret_fields: list[str]
    error: str | None = None
    """Why the connector failed to load (then it cannot be used)."""


def describe(connector: Connector | BrokenConnector) -> ConnectorInfo:
    if isinstance(connector, BrokenConnector):
        return ConnectorInfo(
            name=connector.name,
            title=connector.name,
            description=f"failed to load from {connector.entry_point}",
            capabilities=[],
            streams=None,
            config_schema={},
            secret_fields=[],
            error=connector.error,
        )
    return ConnectorInfo(
        name=connector.name,
        title=connector.title,
        description=connector.description,
        capabilities=sorted(CAPABILITY_NAMES.get(c, c) for c in connector.capabilities),
        streams=_listed(static_streams(connector)),
        config_schema=copy.deepcopy(connector.config_schema),
        secret_fields=connector.secret_fields(),
    )


@functools.cache
def static_streams(connector: Connector) -> tuple[str, ...] | None:
    """Stream names of a tap whose catalog does not depend on its settings (asked once
    per process: building a tap is not free)."""
    tap = connector.tap
    if tap is None or getattr(tap, "dynamic_catalog", False):
        return None
    try:
        from connectors.sdk.embedding import embeddable

        instance = embeddable(tap)(config={}, validate_config=False, setup_mapper=False)
        return tuple(sorted(stream.name for stream in instance.discover_streams()))
    except Exception:  # streams that need settings to exist are not static
        return None


def _listed(names: tuple[str, ...] | None) -> list[str] | None:
    return list(names) if names is not None else None


def catalog() -> list[ConnectorInfo]:
    return [describe(c) for _, c in sorted(load_connectors().items())]


def connector_info(name: str) -> ConnectorInfo:
    found = load_connectors().get(name)
    if found is None:
        known = ", ".join(sorted(load_connectors()))
        raise NotFoundError(f"no connector {name!r}", hint=f"installed connectors: {known}")
    return describe(found)
