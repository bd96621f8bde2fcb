"""The push side of a connector: verify a webhook call and split it into events.

Only the contract lives here for now; the connectors whose systems push implement
it. The hub's endpoint calls `verify` before storing anything, so it must be cheap
and must not touch the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["WebhookEvent", "WebhookReceiver", "WebhookReceiverFactory"]


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
