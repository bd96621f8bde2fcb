"""`IdocStream`: the IDocs of one kind (customer masters, invoices, orders) in the inbound folder.

Record shape (see `connectors.sap.idoc.idoc`)::

    {"DOCNUM": "0000000000123456", "IDOCTYP": "DEBMAS07", "MESTYP": "DEBMAS", "CIMTYP": None,
     "_created_at": "2024-06-03T01:15:00Z", "EDI_DC40": {...control fields...},
     "E1KNA1M": [{"KUNNR": "0000100001", ..., "E1KNVVM": [{...}]}], "_file": "DEBMAS_1.xml"}

An unreadable file becomes one record ``{"DOCNUM": None, "_file", "_error", "_raw"}``
on one stream; the hub quarantines it. State and file moves: `connectors.sap.idoc.inbox`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL

from connectors.sap.idoc.inbox import Inbox, Parsed

if TYPE_CHECKING:
    from singer_sdk import Tap

__all__ = ["SEGMENTS", "IdocStream", "stream_schema"]

SEGMENTS: dict[str, tuple[str, ...]] = {
    "debmas": ("E1KNA1M",),
    "invoic": (
        "E1EDK01",
        "E1EDK14",
        "E1EDK03",
        "E1EDK04",
        "E1EDK05",
        "E1EDKA1",
        "E1EDK02",
        "E1EDK17",
        "E1EDK18",
        "E1EDK23",
        "E1EDK28",
        "E1EDK29",
        "E1EDKT1",
        "E1EDP01",
        "E1EDS01",
    ),
    "orders": (
        "E1EDK01",
        "E1EDK14",
        "E1EDK03",
        "E1EDK04",
        "E1EDK05",
        "E1EDKA1",
        "E1EDK02",
        "E1EDK17",
        "E1EDK18",
        "E1EDK35",
        "E1EDK36",
        "E1EDKT1",
        "E1EDP01",
        "E1EDS01",
    ),
}
"""Top-level segments of DEBMAS07, INVOIC02 and ORDERS05 (WE60), declared in the schema.

Other segments (extensions, other releases) still come through: the schema allows
additional properties, each a list of segment objects.
"""

_TEXT = {"type": ["string", "null"]}
_SEGMENT_LIST = {
    "type": ["array", "null"],
    "items": {"type": "object", "additionalProperties": True},
}


def stream_schema(stream: str) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "DOCNUM": {**_TEXT, "description": "IDoc number (control record), 16 digits"},
        "IDOCTYP": {**_TEXT, "description": "Basic type, e.g. DEBMAS07"},
        "MESTYP": {**_TEXT, "description": "Message type, e.g. DEBMAS"},
        "CIMTYP": {**_TEXT, "description": "Extension type, if any"},
        "_created_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "CREDAT+CRETIM in UTC",
        },
        "EDI_DC40": {
            "type": ["object", "null"],
            "additionalProperties": {"type": "string"},
            "description": "The control record's fields",
        },
    }
    properties.update({name: dict(_SEGMENT_LIST) for name in SEGMENTS[stream]})
    properties.update(
        {
            "_file": {"type": "string", "description": "File name in inbound_dir"},
            "_error": {**_TEXT, "description": "Why the file could not be read"},
            "_raw": {**_TEXT, "description": "The unreadable file's text (first 64 KiB)"},
        }
    )
    return {"type": "object", "properties": properties, "additionalProperties": True}


class IdocStream(Stream):
    """IDocs routed to this stream, file by file, each file's records before its state."""

    # Records are strings, lists and dicts straight from the XML: nothing to conform,
    # and conforming would drop segments the schema does not list.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, name: str, inbox: Any) -> None:
        super().__init__(tap, schema=stream_schema(name), name=name)
        self.primary_keys = ["DOCNUM"]
        self._inbox_of = inbox
        """Callable returning the run's shared Inbox (the tap makes it at sync time)."""

    @property
    def replication_method(self) -> str:
        """Incremental by file; no replication key (see FileStream in the files connector)."""
        return REPLICATION_INCREMENTAL

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        inbox: Inbox = self._inbox_of()
        with inbox.opened():
            yield from self._records(inbox)

    def _records(self, inbox: Inbox) -> Iterator[dict[str, Any]]:
        files: dict[str, Any] = self.stream_state.setdefault("files", {})
        inbox.prune(files)
        for file in inbox.candidates():
            entry = files.get(file.name)
            if entry and (entry.get("size"), entry.get("mtime")) == (file.size, file.mtime):
                continue
            parsed = inbox.load(file)
            if parsed is None:
                continue
            emitted = 0
            if parsed.error is not None:
                reporter = inbox.reporter(parsed)
                if reporter == self.name:
                    emitted = 1
                    yield _error_record(parsed)
                streams = [reporter] if reporter else []
            else:
                for record in parsed.records.get(self.name, []):
                    emitted += 1
                    yield record
                streams = parsed.streams
            self._finish(parsed, streams, emitted)

    # -------------------------------------------------------------- state

    def _increment_stream_state(self, latest_record: dict[str, Any], **_: Any) -> None:
        """State changes at file boundaries only (`_finish`), never mid-file."""

    def _write_starting_replication_value(self, context: Any) -> None:
        """No replication key, so no starting value: keep it out of our state."""

    def _finish(self, parsed: Parsed, streams: list[str], emitted: int) -> None:
        """Record the file as fully emitted by this stream and emit STATE now.

        As in the files connector: a file boundary changes state without a RECORD, so
        mark the state manager dirty and write through the SDK's one state path.
        """
        entry: dict[str, Any] = {
            "sha256": parsed.sha256,
            "size": parsed.file.size,
            "mtime": parsed.file.mtime,
            "streams": streams,
            "idocs": emitted if parsed.error is None else 0,
        }
        if parsed.error is not None:
            entry["error"] = parsed.error
        self.stream_state["files"][parsed.file.name] = entry
        self.state_manager.is_flushed = False
        self._write_state_message()


def _error_record(parsed: Parsed) -> dict[str, Any]:
    return {
        "DOCNUM": None,
        "IDOCTYP": None,
        "MESTYP": None,
        "CIMTYP": None,
        "_created_at": None,
        "EDI_DC40": None,
        "_file": parsed.file.name,
        "_error": parsed.error,
        "_raw": parsed.raw,
    }
