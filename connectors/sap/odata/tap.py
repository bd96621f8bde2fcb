"""`SapODataTap`: the singer-sdk Tap of the sap_odata connector.

Runs in-process in the hub (``connectors.sdk.embedding``). Schemas come from the
shipped EDMX, so discovery needs no connection; records come from
`paging.IncrementalReader`, which also owns the stream state (see its module doc).
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL

from connectors.sap.odata.client import ODataClient
from connectors.sap.odata.config import CONFIG_SCHEMA, STREAM_NAMES, ODataSettings
from connectors.sap.odata.paging import IncrementalReader
from connectors.sap.odata.streams import STREAMS, StreamDef, stream_schema

__all__ = ["SapODataStream", "SapODataTap"]


class SapODataStream(Stream):
    """One entity set read incrementally, with its expanded navigation nested."""

    # Records are built from JSON values that already match the schema (values.py).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    STATE_MSG_FREQUENCY = 1000
    is_sorted = True

    def __init__(self, tap: Tap, definition: StreamDef) -> None:
        self.definition = definition
        super().__init__(tap, schema=stream_schema(definition), name=definition.name)
        self.primary_keys = list(definition.key)
        self.replication_key = definition.replication_key
        self._reader: IncrementalReader | None = None

    @property
    def replication_method(self) -> str:
        return REPLICATION_INCREMENTAL

    def get_records(self, context: Any) -> Any:
        settings = ODataSettings.from_config(self.config)
        with ODataClient(self.config) as client:
            self._reader = IncrementalReader(
                client,
                self.definition,
                self.stream_state,
                page_size=settings.page_size,
                overlap=timedelta(seconds=settings.overlap_seconds),
                start=settings.start_date,
            )
            try:
                yield from self._reader.records()
            finally:
                self._reader = None

    def _increment_stream_state(self, latest_record: dict[str, Any], **_: Any) -> None:
        """Called by singer-sdk right after the RECORD was written: advance our state.

        Replaces the SDK's bookmark (one replication_key_value compared as a string)
        with the reader's watermark + de-duplication window.
        """
        if self._reader is not None:
            self._reader.mark_emitted(latest_record)

    def _write_starting_replication_value(self, context: Any) -> None:
        """The reader computes its start from its own state (watermark - overlap)."""

    def get_replication_key_signpost(self, context: Any = None) -> Any:
        """No signpost: SAP's clock, not ours, stamps the records."""
        return None


class SapODataTap(Tap):
    """SAP S/4HANA OData V2: business partners, products, sales orders, billing documents."""

    name = "tap-sap-odata"
    package_name = "l2c-hub"
    # A copy: singer-sdk appends its built-in settings to this dict in place.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)

    def discover_streams(self) -> list[Stream]:
        names = self.config.get("streams") or STREAM_NAMES
        return [SapODataStream(self, STREAMS[name]) for name in names if name in STREAMS]
