"""What the sync engine needs from a compiled mapping (implemented in mappings/)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from core.model.mapped import MappedRecord, Ref

__all__ = ["MappedRecord", "Mapper", "Ref"]


class Mapper(Protocol):
    """A compiled inbound mapping: one source stream -> one canonical entity."""

    @property
    def name(self) -> str:
        """Reference of the mapping (shown in quarantine and run reports)."""

    @property
    def stream(self) -> str:
        """The Singer stream it consumes."""

    @property
    def object(self) -> str:
        """The source object its external ids belong to (xref namespace)."""

    @property
    def entity(self) -> str:
        """The canonical entity it produces."""

    @property
    def owns(self) -> frozenset[str]:
        """Fields this source masters; other sources never overwrite them."""

    @property
    def match(self) -> Sequence[str]:
        """First-sight match rules, tried in order (e.g. 'uscc', 'name')."""

    @property
    def fingerprint(self) -> bytes:
        """Changes whenever the mapping's output for a given record may change."""

    def key_of(self, record: Mapping[str, Any]) -> str:
        """The record's external id alone (DataError when it has none)."""

    def map(self, record: Mapping[str, Any]) -> MappedRecord | None:
        """Translate a record; None means filtered out by the mapping's `when`.

        Raises core.errors.DataError for a bad record (quarantined) and
        core.errors.ConfigError when the mapping itself must be fixed (run fails).
        """
