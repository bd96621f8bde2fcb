"""Settings of the files connector: the JSON Schema the user fills in, and a typed view.

The schema catches shape errors (a missing `path`, a misspelt key, an unknown
format); `parse_config` adds the checks a schema cannot express (unique stream
names, a pattern that stays inside the folder, a format it can infer) and fills
in defaults, so the rest of the package reads plain attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from connectors.sdk.errors import ConfigError

__all__ = [
    "CONFIG_SCHEMA",
    "ENCODINGS",
    "FORMATS",
    "RESERVED_COLUMNS",
    "FilesConfig",
    "StreamSpec",
    "parse_config",
    "validate",
]

FORMATS = ("csv", "jsonl", "xlsx")
ENCODINGS = ("auto", "utf-8", "gb18030")
EXTENSION_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}
RESERVED_COLUMNS = ("_file", "_row", "_error", "_raw")
"""Added to every record; a source column with one of these names gets a suffix."""

_STREAM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "pattern"],
    "properties": {
        "name": {
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
            "description": "Stream name the mappings refer to, e.g. customers.",
        },
        "pattern": {
            "type": "string",
            "minLength": 1,
            "description": "Glob relative to `path`, e.g. customers*.csv or 2024/**/*.jsonl.",
        },
        "format": {
            "type": "string",
            "enum": list(FORMATS),
            "description": "csv, jsonl or xlsx. Default: from the pattern's extension.",
        },
        "key_properties": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Column(s) identifying a record, e.g. [customer_no].",
        },
        "encoding": {
            "type": "string",
            "enum": list(ENCODINGS),
            "default": "auto",
            "description": "auto: UTF-8 (with or without BOM), else GB18030 (covers GBK/GB2312).",
        },
        "delimiter": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1,
            "description": "CSV cell separator. Default ',' (a tab for .tsv patterns).",
        },
        "sheet": {
            "type": "string",
            "description": "XLSX sheet name. Default: the first sheet.",
        },
        "header_row": {
            "type": "integer",
            "minimum": 1,
            "default": 1,
            "description": "1-based row holding the column names (CSV and XLSX).",
        },
    },
}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["path", "streams"],
    "properties": {
        "path": {
            "type": "string",
            "minLength": 1,
            "description": "Folder the files are dropped into (absolute path on the worker).",
        },
        "streams": {
            "type": "array",
            "minItems": 1,
            "items": _STREAM_SCHEMA,
            "description": "One entry per kind of file: a name, a glob pattern and a format.",
        },
        "state_every": {
            "type": "integer",
            "minimum": 1,
            "default": 1000,
            "description": "Emit a resumable STATE every N records (and after each file).",
        },
    },
}


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One configured stream, defaults applied."""

    index: int
    name: str
    pattern: str
    format: str
    key_properties: tuple[str, ...]
    encoding: str
    delimiter: str
    sheet: str | None
    header_row: int

    def field(self, setting: str) -> str:
        """Dotted path of one of this stream's settings, for ConfigError.field."""
        return f"streams[{self.index}].{setting}"


@dataclass(frozen=True, slots=True)
class FilesConfig:
    path: Path
    streams: tuple[StreamSpec, ...]
    state_every: int


def parse_config(config: Mapping[str, Any]) -> FilesConfig:
    """Typed config from a schema-valid mapping; ConfigError for what the schema misses."""
    streams: list[StreamSpec] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(config.get("streams") or []):
        spec = _parse_stream(index, raw)
        if spec.name in seen:
            raise ConfigError(
                f"stream name {spec.name!r} is used twice",
                field=spec.field("name"),
                hint=f"streams[{seen[spec.name]}] already uses it; names must be unique",
            )
        seen[spec.name] = index
        streams.append(spec)
    return FilesConfig(
        path=Path(str(config.get("path") or "")).expanduser(),
        streams=tuple(streams),
        state_every=int(config.get("state_every") or 1000),
    )


def validate(config: Mapping[str, Any]) -> None:
    """The connector's extra validation (no I/O): parse and discard."""
    parse_config(config)


def _parse_stream(index: int, raw: Mapping[str, Any]) -> StreamSpec:
    pattern = str(raw.get("pattern") or "")
    field = f"streams[{index}]"
    pure = PurePosixPath(pattern.replace("\\", "/"))
    if not pattern or pure.is_absolute() or ".." in pure.parts:
        raise ConfigError(
            f"pattern {pattern!r} must stay inside the folder",
            field=f"{field}.pattern",
            hint="use a glob relative to `path`, e.g. customers*.csv, without '..'",
        )
    suffix = pure.suffix.lower()
    fmt = raw.get("format") or EXTENSION_FORMATS.get(suffix)
    if fmt is None:
        raise ConfigError(
            f"cannot tell the format of {pattern!r} from its extension",
            field=f"{field}.format",
            hint="set format to csv, jsonl or xlsx",
        )
    return StreamSpec(
        index=index,
        name=str(raw.get("name")),
        pattern=pattern,
        format=str(fmt),
        key_properties=tuple(raw.get("key_properties") or ()),
        encoding=str(raw.get("encoding") or "auto"),
        delimiter=str(raw.get("delimiter") or ("\t" if suffix == ".tsv" else ",")),
        sheet=raw.get("sheet") or None,
        header_row=int(raw.get("header_row") or 1),
    )
