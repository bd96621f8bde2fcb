"""What an inbound mapping produces: canonical values keyed by the source's external id.

Kept in core.model (not core.sync) so that mappings depend on the model only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to another record of the same connection, by its external id.

    Mappings cannot know canonical ids; they say 'the account whose BusinessPartner is
    1000042' and the engine resolves it through the external refs.
    """

    object: str
    external_id: str


@dataclass(slots=True)
class MappedRecord:
    """One source record translated to canonical field values (not yet validated)."""

    external_id: str
    values: dict[str, Any]
    source_ts: datetime | None = None
