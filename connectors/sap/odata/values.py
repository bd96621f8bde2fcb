"""OData V2 wire values: JSON → record values, and URI literals for $filter and keys.

V2 JSON sends dates as ``/Date(<ms>[±<minutes>])/``. The milliseconds are the UTC
instant (the offset only says which zone the value was entered in, as in .NET's
JSON serializer and pyodata's DateTimeOffset), so the record value is that instant
in UTC. Decimal, Int64 and Double stay the wire strings: a float would lose cents.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from connectors.sdk.errors import DataError

__all__ = [
    "EPOCH",
    "datetime_literal",
    "datetimeoffset_literal",
    "from_wire",
    "key_predicate",
    "parse_edm_time",
    "parse_wire_datetime",
    "quote",
    "time_literal",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?P<offset>[+-]\d{1,4})?\)/$")
_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<d>\d+)D)?T?(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?$"
)
_STRING_NUMBERS = frozenset({"Edm.Decimal", "Edm.Int64", "Edm.Double", "Edm.Single"})
_INTEGERS = frozenset({"Edm.Int32", "Edm.Int16", "Edm.Byte", "Edm.SByte"})


def from_wire(value: Any, edm_type: str, display_format: str | None = None) -> Any:
    """One property value as the record carries it (see shapes: ISO UTC, strings kept).

    `display_format` is the EDMX ``sap:display-format``; ``"Date"`` gives a plain
    ``YYYY-MM-DD``. Raises DataError for a value that does not fit its type.
    """
    if value is None:
        return None
    try:
        if edm_type in ("Edm.DateTime", "Edm.DateTimeOffset", "Edm.Time") and isinstance(
            value, str
        ):
            date_only = display_format is not None and display_format.lower() == "date"
            return _temporal_text(value, edm_type, date_only)
        if edm_type in ("Edm.DateTime", "Edm.DateTimeOffset"):
            instant = parse_wire_datetime(value)
            if display_format is not None and display_format.lower() == "date":
                return instant.date().isoformat()
            return iso_utc(instant)
        if edm_type == "Edm.Time":
            return _format_time(parse_edm_time(value))
        if edm_type in _STRING_NUMBERS:
            return value if isinstance(value, str) else _number_text(value)
        if edm_type in _INTEGERS:
            return value if isinstance(value, int) and not isinstance(value, bool) else int(value)
        if edm_type == "Edm.Boolean":
            return _boolean(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(
            f"value {str(value)[:60]!r} is not a valid {edm_type}", code="invalid_value"
        ) from exc
    return value


@functools.lru_cache(maxsize=65_536)
def _temporal_text(value: str, edm_type: str, date_only: bool) -> str:
    """The record text of a wire date/time string. Cached: a page repeats the same dates
    (creation days, validity ends, midnight times), and parsing them is most of what a
    conversion costs."""
    if edm_type == "Edm.Time":
        return _format_time(parse_edm_time(value))
    instant = parse_wire_datetime(value)
    return instant.date().isoformat() if date_only else iso_utc(instant)


def parse_wire_datetime(value: Any) -> datetime:
    """``/Date(ms[±mmmm])/`` (or an ISO-8601 string) → aware UTC datetime."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    match = _DATE.match(value)
    if match:
        return EPOCH + timedelta(milliseconds=int(match["ms"]))
    # Some gateways (and V4-style payloads) send ISO text; without a zone it is UTC.
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_edm_time(value: Any) -> time:
    """``PT14H30M05S`` / ``PT14H30M05.123S`` → time of day."""
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    match = _DURATION.match(value)
    if not match or value in ("P", "PT") or match["sign"] or match["d"]:
        raise ValueError(f"not an Edm.Time duration: {value!r}")
    seconds = float(match["s"] or 0)
    whole = int(seconds)
    micro = round((seconds - whole) * 1_000_000)
    return time(int(match["h"] or 0), int(match["m"] or 0), whole, micro)


def iso_utc(instant: datetime) -> str:
    """``2016-09-02T06:15:47.125Z``; milliseconds only when present (V2 has no finer)."""
    instant = instant.astimezone(UTC)
    text = instant.strftime("%Y-%m-%dT%H:%M:%S")
    if instant.microsecond:
        text += f".{instant.microsecond:06d}".rstrip("0")
    return text + "Z"


def _format_time(value: time) -> str:
    text = value.strftime("%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text


def _number_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return str(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"not a boolean: {value!r}")


# ------------------------------------------------------------------ literals


def quote(text: str) -> str:
    """A string literal for a URI: ``O'Brien`` → ``'O''Brien'`` (quotes included)."""
    return "'" + str(text).replace("'", "''") + "'"


def key_predicate(key: Any) -> str:
    """``('0000001000')`` for one key property, ``(SalesOrder='1',SalesOrderItem='10')`` for more.

    Key values are sent as string literals exactly as the server returned them
    (zeros kept): every key of the supported entity sets is an Edm.String.
    """
    items = list(key.items())
    if not items:
        raise ValueError("an entity key needs at least one property")
    if len(items) == 1:
        return f"({quote(items[0][1])})"
    return "(" + ",".join(f"{name}={quote(value)}" for name, value in items) + ")"


def datetimeoffset_literal(dt: datetime) -> str:
    """``datetimeoffset'2016-09-02T06:15:47.1257050Z'`` (UTC; a naive value is taken as UTC)."""
    instant = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    text = instant.strftime("%Y-%m-%dT%H:%M:%S")
    if instant.microsecond:
        text += f".{instant.microsecond * 10:07d}"
    return f"datetimeoffset'{text}Z'"


def datetime_literal(dt: datetime | date) -> str:
    """``datetime'2024-05-01T00:00:00'`` (UTC wall time; a date is its midnight)."""
    if not isinstance(dt, datetime):
        dt = datetime(dt.year, dt.month, dt.day, tzinfo=UTC)
    instant = dt.astimezone(UTC) if dt.tzinfo else dt
    text = instant.strftime("%Y-%m-%dT%H:%M:%S")
    if instant.microsecond:
        text += f".{instant.microsecond:06d}".rstrip("0")
    return f"datetime'{text}'"


def time_literal(t: time) -> str:
    """``time'PT13H45M00S'`` (fractions kept: ``PT13H45M00.5S``)."""
    seconds = f"{t.second:02d}"
    if t.microsecond:
        seconds += f".{t.microsecond:06d}".rstrip("0")
    return f"time'PT{t.hour:02d}H{t.minute:02d}M{seconds}S'"
