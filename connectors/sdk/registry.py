"""Find connectors through the ``l2c.connectors`` entry-point group.

Third-party packages plug in by declaring, in their own pyproject.toml::

    [project.entry-points."l2c.connectors"]
    acme = "acme_l2c:CONNECTOR"

A connector that fails to import is reported as a `BrokenConnector` rather than
skipped: an IT user whose connection suddenly has no connector must see why (a
missing dependency, a typo in the entry point), not an empty list.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from importlib import metadata

from connectors.sdk.errors import ConfigError
from connectors.sdk.spec import Connector

__all__ = [
    "ENTRY_POINT_GROUP",
    "BrokenConnector",
    "get_connector",
    "load_connectors",
]

ENTRY_POINT_GROUP = "l2c.connectors"


@dataclass(frozen=True, slots=True)
class BrokenConnector:
    """An entry point that could not be loaded, and why."""

    name: str
    error: str
    """One line: the exception type and message."""
    entry_point: str = ""
    """Where it points (``module:attr``), to tell the user which package to fix."""
    traceback: str = ""


_lock = threading.Lock()
_cache: dict[str, Connector | BrokenConnector] | None = None


def _entry_points() -> list[metadata.EntryPoint]:
    """The group's entry points (a seam for tests)."""
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def load_connectors(*, reload: bool = False) -> dict[str, Connector | BrokenConnector]:
    """Name -> connector (or `BrokenConnector`), read once per process.

    `reload=True` reads the entry points again (tests, or after installing a package).
    """
    global _cache  # noqa: PLW0603 - one process-wide cache, guarded by the lock
    with _lock:
        if _cache is None or reload:
            _cache = _load()
        return dict(_cache)


def get_connector(name: str) -> Connector:
    """The connector called `name`; ConfigError if it is unknown or broken."""
    found = load_connectors()
    entry = found.get(name)
    if isinstance(entry, Connector):
        return entry
    known = ", ".join(sorted(n for n, c in found.items() if isinstance(c, Connector)))
    if isinstance(entry, BrokenConnector):
        raise ConfigError(
            f"connector {name!r} failed to load: {entry.error}",
            field="connector",
            hint=f"fix or reinstall the package providing {entry.entry_point}",
        )
    raise ConfigError(
        f"unknown connector {name!r}",
        field="connector",
        hint=f"known connectors: {known or '(none installed)'}",
    )


def _load() -> dict[str, Connector | BrokenConnector]:
    result: dict[str, Connector | BrokenConnector] = {}
    for ep in sorted(_entry_points(), key=lambda e: e.name):
        if ep.name in result:
            first = result[ep.name]
            where = first.entry_point if isinstance(first, BrokenConnector) else "another package"
            result[ep.name] = BrokenConnector(
                ep.name,
                f"registered twice: {ep.value} and {where}",
                entry_point=ep.value,
            )
            continue
        result[ep.name] = _load_one(ep)
    return result


def _load_one(ep: metadata.EntryPoint) -> Connector | BrokenConnector:
    try:
        obj = ep.load()
    except Exception as exc:  # any import failure is reported, not raised
        return BrokenConnector(
            ep.name,
            f"{type(exc).__name__}: {exc}",
            entry_point=ep.value,
            traceback=traceback.format_exc(),
        )
    if not isinstance(obj, Connector):
        return BrokenConnector(
            ep.name,
            f"{ep.value} is a {type(obj).__name__}, not a connectors.sdk.Connector",
            entry_point=ep.value,
        )
    if obj.name != ep.name:
        return BrokenConnector(
            ep.name,
            f"entry point {ep.name!r} exports connector named {obj.name!r}",
            entry_point=ep.value,
        )
    return obj
