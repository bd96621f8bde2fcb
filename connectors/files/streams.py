"""`FileStream`: one configured stream = the files matching its pattern, read incrementally.

State, per stream::

    {"files":   {"<sha256>": {"path": "customers_0301.csv", "rows": 1200}},
     "current": {"sha256": "<sha256>", "path": "customers_0302.csv", "row": 500}}

`files` holds every file read to the end, by content hash: such a file is skipped
even if renamed or touched, and a file whose content changed has a new hash and is
read again in full. `current` is the file being read and its last row handed to
the hub: after a crash the run resumes after that row instead of re-reading what
was already committed. Files are read in sorted path order, so drops named by date
are read oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL

from connectors.files.config import RESERVED_COLUMNS, StreamSpec
from connectors.files.fingerprint import Fingerprint, detect_prefix_encoding, fingerprint
from connectors.files.formats import read_columns, read_records, sample_jsonl
from connectors.sdk.errors import ConfigError, TransientError

__all__ = [
    "SAMPLE_SIZE",
    "FileStream",
    "discover_columns",
    "discover_schema",
    "matching_files",
]

SAMPLE_SIZE = 1000
"""JSONL records read (across files) to infer a stream's schema."""

_TEXT = {"type": ["string", "null"]}
_ANY = {"type": ["array", "boolean", "integer", "null", "number", "object", "string"]}
_META: dict[str, Any] = {
    "_file": {"type": "string", "description": "Path of the source file, relative to the folder"},
    "_row": {"type": "integer", "description": "Data row (CSV/XLSX) or line (JSONL), from 1"},
    "_error": {"type": ["string", "null"], "description": "Why this row could not be read"},
    "_raw": {"type": ["string", "null"], "description": "The unreadable row as found"},
}


def matching_files(root: Path, spec: StreamSpec) -> list[tuple[str, Path]]:
    """(relative path, path) of the files matching the stream's pattern, sorted.

    Hidden files and Office lock files (``~$book.xlsx``, present while Excel has the
    workbook open) are not data and are left out.
    """
    try:
        paths = list(root.glob(spec.pattern))
    except ValueError as exc:  # e.g. "**" not used as a whole path component
        raise ConfigError(
            f"invalid pattern {spec.pattern!r}: {exc}",
            field=spec.field("pattern"),
            hint="use a glob such as customers*.csv or exports/**/*.jsonl",
        ) from exc
    found = [
        (path.relative_to(root).as_posix(), path)
        for path in paths
        if not path.name.startswith((".", "~$")) and path.is_file()
    ]
    return sorted(found)


def discover_schema(root: Path, spec: StreamSpec) -> dict[str, Any]:
    """The stream's JSON Schema: its columns, its key properties, `_file`, `_row`, ...."""
    properties = discover_columns(root, spec)
    for key in spec.key_properties:
        properties.setdefault(key, dict(_TEXT) if spec.format != "jsonl" else dict(_ANY))
    properties.update(_META)
    return {"type": "object", "properties": properties}


def discover_columns(root: Path, spec: StreamSpec) -> dict[str, Any]:
    """Column name -> JSON Schema, from the files present now.

    CSV/XLSX: the union of the header columns of every matching file, each a
    nullable string. JSONL: the union of the keys of the first `SAMPLE_SIZE`
    records, typed from their values; nested objects and arrays are typed
    ``object``/``array`` with no constraint on their content.
    """
    files = matching_files(root, spec)
    properties: dict[str, Any]
    if spec.format == "jsonl":
        properties = _jsonl_properties(
            record
            for _, path in files
            for record in sample_jsonl(
                path, detect_prefix_encoding(path, encoding=spec.encoding), SAMPLE_SIZE
            )
        )
    else:
        properties = {}
        for _, path in files:
            encoding = (
                detect_prefix_encoding(path, encoding=spec.encoding)
                if spec.format == "csv"
                else "utf-8"
            )
            for column in read_columns(path, spec, encoding):
                properties.setdefault(column, dict(_TEXT))
    return properties


def _jsonl_properties(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    types: dict[str, set[str]] = {}
    for count, record in enumerate(records):
        if count >= SAMPLE_SIZE:
            break
        for key, value in record.items():
            if key not in RESERVED_COLUMNS:
                types.setdefault(key, set()).add(_json_type(value))
    return {key: {"type": sorted(kinds | {"null"})} for key, kinds in types.items()}


def _json_type(value: Any) -> str:
    """JSON Schema type of a parsed JSON value; objects and arrays stay unconstrained."""
    if value is None:
        return "null"
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "string")


_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),  # before int: bool is an int
    (int, "integer"),
    (float, "number"),
    (dict, "object"),
    (list, "array"),
)


class FileStream(Stream):
    """Records of the files matching one stream's pattern, resumable by file and row."""

    # Records are built from JSON-compatible values only (strings, None, what orjson
    # returns), so singer-sdk's per-record type conformance, about 45% of its cost,
    # has nothing to do.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, spec: StreamSpec, root: Path, state_every: int) -> None:
        self.spec = spec
        self.root = root
        super().__init__(tap, schema=discover_schema(root, spec), name=spec.name)
        self.primary_keys = list(spec.key_properties)
        self.STATE_MSG_FREQUENCY = state_every
        self._current: dict[str, Any] | None = None
        self._last_row = 0

    @property
    def replication_method(self) -> str:
        """Incremental by file fingerprint; there is no replication key column.

        Saying INCREMENTAL (not FULL_TABLE) also keeps singer-sdk from emitting
        ACTIVATE_VERSION, which tells a target to drop rows not re-sent.
        """
        return REPLICATION_INCREMENTAL

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        done: dict[str, Any] = self.stream_state.setdefault("files", {})
        resume: dict[str, Any] = dict(self.stream_state.get("current") or {})
        for rel, path in matching_files(self.root, self.spec):
            print_ = fingerprint(
                path, encoding=None if self.spec.format == "xlsx" else self.spec.encoding
            )
            if print_.sha256 in done:
                self.logger.info("%s: already read (as %s)", rel, done[print_.sha256]["path"])
                continue
            start_after = int(resume.get("row", 0)) if resume.get("sha256") == print_.sha256 else 0
            self._begin(print_, rel, start_after)
            for record in read_records(
                path, rel, self.spec, print_.encoding, start_after=start_after
            ):
                self._last_row = record["_row"]
                yield record
            _ensure_unchanged(path, print_)
            self._finish(print_, rel)

    # -------------------------------------------------------------- state

    def _begin(self, print_: Fingerprint, rel: str, start_after: int) -> None:
        self._current = {"sha256": print_.sha256, "path": rel, "row": start_after}
        self._last_row = start_after
        self.stream_state["current"] = self._current

    def _increment_stream_state(self, latest_record: dict[str, Any], **_: Any) -> None:
        """Record that `_row` of the current file has been handed over.

        singer-sdk calls this right after writing each RECORD message and before
        its every-STATE_MSG_FREQUENCY check, so a STATE never claims a row whose
        RECORD was not emitted (updating state before `yield` would, when the SDK
        aborts a dry run between the two). The row comes from the generator, not
        from `latest_record`, whose `_row` a catalog may have deselected.
        """
        if self._current is not None:
            self._current["row"] = self._last_row

    def _write_starting_replication_value(self, context: Any) -> None:
        """No replication key, so no starting value: keep it out of our state."""

    def _finish(self, print_: Fingerprint, rel: str) -> None:
        """Move the file from `current` to `files` and emit STATE now.

        singer-sdk writes STATE only when its state manager is "not flushed", which
        it sets after each RECORD. A file boundary changes state without a RECORD,
        so mark the manager dirty (`StreamStateManager.is_flushed`, public) and ask
        for the write through `_write_state_message`, the SDK's one state-writing
        path (it goes through the tap's StateWriter, which drops duplicates).
        """
        state = self.stream_state
        state["files"][print_.sha256] = {"path": rel, "rows": self._last_row}
        state.pop("current", None)
        self._current = None
        self.state_manager.is_flushed = False
        self._write_state_message()


def _ensure_unchanged(path: Path, print_: Fingerprint) -> None:
    """A file still being written must not be recorded as read under its old hash."""
    try:
        now = path.stat()
    except OSError:
        now = None
    if now is None or (now.st_size, now.st_mtime_ns) != (print_.size, print_.mtime_ns):
        raise TransientError(
            f"{path} changed while it was being read",
            hint="write files under a temporary name and rename them when complete; "
            "the next run reads it again",
            path=str(path),
        )
