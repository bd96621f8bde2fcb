"""The outbound side of a connector: create or update one object in the remote system.

The hub's write-back (scheduler/writeback.py) calls a writer for each canonical record
a write-back job selects, so a call may be a retry of one whose response was lost or
whose worker was killed: `idempotency_key` is stable across those retries (it is the
canonical record's id) and a writer stores it in the remote record where the system
allows it (SAP: ``PurchaseOrderByCustomer``), then looks it up before creating, so the
retry finds the record it created instead of creating a twin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["WriteRequest", "WriteResult", "Writer", "WriterFactory"]


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """One object to create or update.

    `object` is the remote type (``sales_order``); `payload` what the outbound mapping
    made of the canonical record; `remote_id` the remote key the hub already knows
    (from its xref), None for a record never written; `owned` the payload fields the
    hub owns: after a concurrent remote change (HTTP 412) a writer re-reads the object
    and re-applies only these, leaving what the remote system owns as it found it.
    """

    object: str
    payload: Mapping[str, Any]
    idempotency_key: str
    remote_id: str | None = None
    owned: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What the remote system holds now: its key, whether this call created it, and
    its status as the system names it (``erp_status`` in the canonical record)."""

    remote_id: str
    created: bool
    status: str | None = None
    details: Mapping[str, Any] | None = None


@runtime_checkable
class Writer(Protocol):
    """Creates or updates remote objects, idempotently."""

    def upsert(self, request: WriteRequest) -> WriteResult:
        """Create or update one object.

        Raises ``ConfigError`` (credentials, permissions), ``TransientError`` (timeouts,
        429, 5xx: retried later) or ``DataError`` (the system rejected this payload:
        the write is parked with the system's message) from ``connectors.sdk.errors``.
        """
        ...

    def close(self) -> None:
        """Release connections; called once after a write-back pass."""
        ...


WriterFactory = Callable[[Mapping[str, Any]], Writer]
"""Builds a writer from a validated connection config."""
