"""The push side of a connector: verify a webhook call and split it into events.

Only the contract lives here for now; the connectors whose systems push implement
it. The hub's endpoint calls `verify` before storing anything, so it must be cheap
and must not touch the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "RecordFetcher",
    "RecordFetcherFactory",
    "WebhookEvent",
    "WebhookReceiver",
    "WebhookReceiverFactory",
]


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event in a webhook body.

    `id` is the sender's event id (the inbox deduplicates on it), `stream` the
    source stream whose mapping will consume `record`.
    """

    id: str
    stream: str
    record: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class WebhookReceiver(Protocol):
    """Checks that a call really comes from the system and splits it into events."""

    def verify(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        """Return the events of a genuine call.

        Raises ``ConfigError`` when the signature does not match (the secret is
        wrong or the call is forged) and ``DataError`` when the body cannot be read.
        """
        ...


WebhookReceiverFactory = Callable[[Mapping[str, Any]], WebhookReceiver]
"""Builds a receiver from a validated connection config (it holds the signing secret)."""


@runtime_checkable
class RecordFetcher(Protocol):
    """Re-reads records whose events carry keys only (SAP business events, for one).

    The hub calls it while processing the inbox, never in the webhook request, so it
    may use the network. Records come back in the shape the connector's tap emits for
    `stream`, so the stream's mappings consume them unchanged.
    """

    def fetch(self, stream: str, keys: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The current records for `keys`; a key the system no longer has is left out.

        Raises ``TransientError`` (retried on the next pass) or ``ConfigError``.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


RecordFetcherFactory = Callable[[Mapping[str, Any]], RecordFetcher]
"""Builds a fetcher from a validated connection config."""
