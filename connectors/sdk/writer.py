"""The outbound side of a connector: create or update one object in the remote system.

Only the contract lives here for now; the ERP connectors implement it. The hub calls
a writer from its outbox dispatcher, so a call may be a retry of one whose response
was lost: `idempotency_key` is stable across those retries and a writer stores it
in the remote record where the system allows it, so the retry finds the record it
created instead of creating a twin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["Writer", "WriterFactory"]


@runtime_checkable
class Writer(Protocol):
    """Creates or updates remote objects, idempotently."""

    def upsert(self, object: str, payload: Mapping[str, Any], idempotency_key: str) -> str:
        """Create or update one `object` (the remote type, e.g. ``sales_order``).

        Returns the remote id. Raises ``ConfigError`` (credentials, permissions),
        ``TransientError`` (timeouts, 429, 5xx) or ``DataError`` (the system rejected
        this payload) from ``connectors.sdk.errors``.
        """
        ...


WriterFactory = Callable[[Mapping[str, Any]], Writer]
"""Builds a writer from a validated connection config."""
