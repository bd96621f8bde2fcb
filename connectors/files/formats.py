"""Read CSV, JSONL and XLSX files into records of the file's own shape.

Values are not interpreted: CSV and XLSX cells become strings (or None for an
empty XLSX cell) and JSONL objects pass through. Typing is the mappings' job; a
reader that guessed types would turn a customer number 007 into 7.

Every record carries `_file` (path relative to the folder) and `_row` (the 1-based
data row after the header for CSV/XLSX, the line number for JSONL), so anything
quarantined downstream can be found in its file. A row that cannot be read (a JSONL
line that is not a JSON object, a CSV row with more values than the header) is
still emitted, as `{_file, _row, _error, _raw}`: the hub quarantines it instead of
the run silently losing it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import zipfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import openpyxl
import orjson
from openpyxl.utils.exceptions import InvalidFileException

from connectors.files.config import RESERVED_COLUMNS, StreamSpec
from connectors.files.fingerprint import file_error
from connectors.sdk.errors import ConfigError

__all__ = [
    "Record",
    "cell_text",
    "column_names",
    "read_columns",
    "read_records",
    "sample_jsonl",
]

Record = dict[str, Any]

_EXCEL_DIGITS = 15  # Excel keeps 15 significant digits; more are float noise
_INT64_LIMIT = 2.0**63


def read_records(
    path: Path, rel: str, spec: StreamSpec, encoding: str | None, *, start_after: int = 0
) -> Iterator[Record]:
    """Records of one file, skipping data rows numbered <= `start_after` (resume)."""
    try:
        if spec.format == "xlsx":
            yield from _xlsx_records(path, rel, spec, start_after)
        elif spec.format == "jsonl":
            yield from _jsonl_records(path, rel, encoding or "utf-8", start_after)
        else:
            yield from _csv_records(path, rel, spec, encoding or "utf-8", start_after)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, spec, exc) from exc
    except OSError as exc:
        raise file_error(path, exc) from exc
    except csv.Error as exc:  # only the header row gets here; data rows become _error records
        raise _header_error(path, spec, exc) from exc


def read_columns(path: Path, spec: StreamSpec, encoding: str) -> list[str]:
    """Column names of a CSV/XLSX file (from row `header_row`), for discovery."""
    try:
        if spec.format == "xlsx":
            with _open_workbook(path, spec) as rows:
                return column_names(_header(rows, spec.header_row))
        with path.open(encoding=encoding, errors="replace", newline="") as handle:
            reader = csv.reader(handle, delimiter=spec.delimiter)
            return column_names(_header(reader, spec.header_row))
    except OSError as exc:
        raise file_error(path, exc) from exc
    except csv.Error as exc:
        raise _header_error(path, spec, exc) from exc


def sample_jsonl(path: Path, encoding: str, limit: int) -> Iterator[dict[str, Any]]:
    """Up to `limit` well-formed objects of a JSONL file, for schema discovery."""
    try:
        with path.open(encoding=encoding, errors="replace") as handle:
            for line in handle:
                if limit <= 0:
                    return
                try:
                    value = _loads(line) if line.strip() else None
                except ValueError:
                    continue  # reported as an _error record when read
                if isinstance(value, dict):
                    limit -= 1
                    yield value
    except OSError as exc:
        raise file_error(path, exc) from exc


def column_names(header: list[Any]) -> list[str]:
    """Header cells -> unique, non-empty names (``column_3``, ``name_2``)."""
    cells = [("" if cell is None else str(cell)).strip() for cell in header]
    while cells and not cells[-1]:
        cells.pop()
    taken = set(RESERVED_COLUMNS)
    names: list[str] = []
    for position, cell in enumerate(cells, start=1):
        base = cell or f"column_{position}"
        name, suffix = base, 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        names.append(name)
    return names


def cell_text(value: Any) -> str | None:
    """An XLSX cell value as the string a person sees (None for an empty cell)."""
    if value is None or isinstance(value, str):
        return value
    for kind, render in _RENDERERS:
        if isinstance(value, kind):
            return render(value)
    return str(value)


def _datetime_text(value: dt.datetime) -> str:
    """Excel has no date type, only date formats: a midnight datetime is a date."""
    if value.tzinfo is None and value.time() == dt.time():
        return value.date().isoformat()
    return value.isoformat()


def _duration_text(value: dt.timedelta) -> str:
    minutes, seconds = divmod(round(value.total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def _number_text(value: float) -> str:
    """Shortest decimal that round-trips, capped at Excel's 15 significant digits.

    0.1 + 0.2 is stored as 0.30000000000000004; a person typed (and sees) 0.3.
    Integers lose the ".0" and no value uses an exponent.
    """
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    number = Decimal(repr(value))
    if len(number.as_tuple().digits) > _EXCEL_DIGITS:
        number = Decimal(format(value, f".{_EXCEL_DIGITS}g"))
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


_RENDERERS: tuple[tuple[type | tuple[type, ...], Callable[[Any], str]], ...] = (
    (bool, lambda v: "true" if v else "false"),  # before int: bool is an int
    (int, str),
    (float, _number_text),
    (dt.datetime, _datetime_text),  # before date: datetime is a date
    ((dt.date, dt.time), lambda v: v.isoformat()),
    (dt.timedelta, _duration_text),
)


# ------------------------------------------------------------------ CSV


class _LineTap:
    """Feeds lines to csv.reader and remembers them, to report a bad row's raw text."""

    __slots__ = ("_lines", "_source")

    def __init__(self, source: IO[str]) -> None:
        self._source = source
        self._lines: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._source)
        self._lines.append(line)
        return line

    def take(self) -> str:
        raw = "".join(self._lines)
        self._lines.clear()
        return raw.rstrip("\r\n")


def _csv_records(
    path: Path, rel: str, spec: StreamSpec, encoding: str, start_after: int
) -> Iterator[Record]:
    with path.open(encoding=encoding, newline="") as handle:
        lines = _LineTap(handle)
        reader = csv.reader(lines, delimiter=spec.delimiter)
        columns = column_names(_header(reader, spec.header_row))
        lines.take()  # the header's lines are not part of the first row's raw text
        width = len(columns)
        row = 0
        while True:
            row += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raw = lines.take()
                if row > start_after:
                    yield _bad(rel, row, f"unreadable CSV row: {exc}", raw)
                continue
            raw = lines.take()
            if row <= start_after or not any(cells):
                continue
            if len(cells) > width and any(cells[width:]):
                problem = f"row has {len(cells)} values but the header has {width} columns"
                yield _bad(rel, row, problem, raw)
                continue
            record: Record = dict(zip(columns, cells, strict=False))
            for column in columns[len(cells) :]:
                record[column] = None
            record["_file"] = rel
            record["_row"] = row
            yield record


def _header(rows: Iterator[Any], header_row: int) -> list[Any]:
    for _ in range(header_row - 1):
        next(rows, None)
    return list(next(rows, None) or [])


# ------------------------------------------------------------------ JSONL


def _jsonl_records(path: Path, rel: str, encoding: str, start_after: int) -> Iterator[Record]:
    with path.open(encoding=encoding) as handle:
        for line_no, line in enumerate(handle, start=1):
            if line_no <= start_after or not line.strip():
                continue
            try:
                value = _loads(line)
            except ValueError as exc:
                yield _bad(rel, line_no, f"invalid JSON: {exc}", line.rstrip("\r\n"))
                continue
            if not isinstance(value, dict):
                kind = type(value).__name__
                problem = f"line holds a JSON {kind}, not an object"
                yield _bad(rel, line_no, problem, line.rstrip("\r\n"))
                continue
            value["_file"] = rel
            value["_row"] = line_no
            yield value


def _loads(line: str) -> Any:
    """orjson for speed; the stdlib where orjson would lose or refuse data.

    orjson reads an integer beyond 64 bits as a float (a 20-digit order number
    would silently change). Such a float is at least 2**63 in magnitude, so a
    result holding one is parsed again by the stdlib, which keeps integers exact.
    NaN and Infinity are not JSON and are refused.
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    else:
        if not _maybe_lossy(value):
            return value
    return json.loads(line, parse_constant=_reject_constant)


def _maybe_lossy(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return bool(abs(value) >= _INT64_LIMIT)
    if kind is dict:
        return any(_maybe_lossy(item) for item in value.values())
    if kind is list:
        return any(_maybe_lossy(item) for item in value)
    return False


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


# ------------------------------------------------------------------ XLSX


class _open_workbook:  # noqa: N801 - used like a function, as a context manager
    """Rows of the configured sheet, as a context manager that closes the workbook.

    read_only mode streams rows instead of loading the sheet; it keeps the file open
    until closed, hence the context manager.
    """

    def __init__(self, path: Path, spec: StreamSpec) -> None:
        self._path = path
        self._spec = spec
        self._book: Any = None

    def __enter__(self) -> Iterator[tuple[Any, ...]]:
        try:
            self._book = openpyxl.load_workbook(self._path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError) as exc:
            raise ConfigError(
                f"{self._path} is not a readable .xlsx workbook: {exc}",
                field=self._spec.field("pattern"),
                hint="replace or remove the file, or narrow the pattern",
                path=str(self._path),
            ) from exc
        sheet = self._spec.sheet
        if sheet is None:
            worksheet = self._book.worksheets[0]
        elif sheet in self._book.sheetnames:
            worksheet = self._book[sheet]
        else:
            names = ", ".join(self._book.sheetnames)
            self._book.close()
            raise ConfigError(
                f"{self._path} has no sheet {sheet!r}",
                field=self._spec.field("sheet"),
                hint=f"sheets in this file: {names}",
            )
        rows: Iterator[tuple[Any, ...]] = worksheet.iter_rows(values_only=True)
        return rows

    def __exit__(self, *exc_info: object) -> None:
        if self._book is not None:
            self._book.close()


def _xlsx_records(path: Path, rel: str, spec: StreamSpec, start_after: int) -> Iterator[Record]:
    with _open_workbook(path, spec) as rows:
        columns = column_names(_header(rows, spec.header_row))
        width = len(columns)
        for row, values in enumerate(rows, start=1):
            if row <= start_after:
                continue
            cells = [cell_text(value) for value in values]
            if all(cell is None or cell == "" for cell in cells):
                continue
            if any(cell is not None for cell in cells[width:]):
                problem = f"row has values beyond the {width} header columns"
                yield _bad(rel, row, problem, json.dumps(cells, ensure_ascii=False))
                continue
            record: Record = dict(zip(columns, cells, strict=False))
            for column in columns[len(cells) :]:
                record[column] = None
            record["_file"] = rel
            record["_row"] = row
            yield record


# ------------------------------------------------------------------ shared


def _bad(rel: str, row: int, problem: str, raw: str) -> Record:
    return {"_file": rel, "_row": row, "_error": problem, "_raw": raw}


def _header_error(path: Path, spec: StreamSpec, exc: csv.Error) -> ConfigError:
    return ConfigError(
        f"cannot read the header of {path}: {exc}",
        field=spec.field("header_row"),
        hint="check header_row and delimiter",
        path=str(path),
    )


def _decode_error(path: Path, spec: StreamSpec, exc: UnicodeDecodeError) -> ConfigError:
    return ConfigError(
        f"{path} is not valid {exc.encoding} (byte {exc.start}: {exc.reason})",
        field=spec.field("encoding"),
        hint="set encoding to the file's real encoding (auto, utf-8 or gb18030)",
        path=str(path),
    )
