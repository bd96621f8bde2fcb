"""OData V2 wire values as SAP Gateway writes them, and their typed (comparable) forms.

Typed forms: Edm.DateTime and Edm.DateTimeOffset are ticks (100 ns since the epoch, UTC) —
SAP keeps DateTimeOffset to 7 digits although JSON shows milliseconds, which is what makes
the ETag precise; Edm.Time is ticks since midnight; Edm.Decimal a Decimal; Int* an int;
strings and GUIDs str; Boolean bool. `None` is null.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

TICKS_PER_MS = 10_000
TICKS_PER_SECOND = 10_000_000
TICKS_PER_DAY = 86_400 * TICKS_PER_SECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_DATE_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_TIME_RE = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,7}))?S)?$")
_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?"
    r"(Z|[+-]\d{2}:\d{2})?$"
)
INTEGER_TYPES = frozenset({"Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte", "Edm.SByte"})
FLOAT_TYPES = frozenset({"Edm.Double", "Edm.Single"})
TIMESTAMP_TYPES = frozenset({"Edm.DateTime", "Edm.DateTimeOffset"})


def datetime_wire(ticks: int) -> str:
    """Edm.DateTime as `/Date(ms)/` (sub-millisecond digits are not shown)."""
    return f"/Date({ticks // TICKS_PER_MS})/"


def datetimeoffset_wire(ticks: int) -> str:
    """Edm.DateTimeOffset as `/Date(ms+0000)/`: SAP always answers in UTC."""
    return f"/Date({ticks // TICKS_PER_MS}+0000)/"


def time_wire(ticks: int) -> str:
    seconds = ticks // TICKS_PER_SECOND
    return f"PT{seconds // 3600:02d}H{seconds % 3600 // 60:02d}M{seconds % 60:02d}S"


def decimal_wire(value: Decimal | int | str) -> str:
    """A decimal as SAP sends it: a string, no exponent, no trailing zeros ("52.65", "0")."""
    text = format(Decimal(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def ticks_to_iso(ticks: int, *, digits: int = 7) -> str:
    """`2016-09-02T06:15:47.1257050` (no zone), as used in literals and ETags."""
    seconds, rest = divmod(ticks, TICKS_PER_SECOND)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{rest:07d}"[: 20 + digits] if digits else text


def ticks_to_datetime(ticks: int) -> datetime:
    return datetime.fromtimestamp(ticks // TICKS_PER_SECOND, UTC).replace(
        microsecond=(ticks % TICKS_PER_SECOND) // 10
    )


def datetime_to_ticks(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10


def etag_for(ticks: int) -> str:
    """SAP's weak ETag of a DateTimeOffset concurrency token (colons URL-encoded)."""
    text = ticks_to_iso(ticks).replace(":", "%3A")
    return f"W/\"datetimeoffset'{text}Z'\""


def parse_iso_ticks(text: str) -> int:
    """ISO date/time literal body → ticks; raises ValueError on junk."""
    match = _ISO_RE.match(text)
    if not match:
        raise ValueError(text)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        tzinfo=UTC,
    )
    ticks = datetime_to_ticks(moment) + int((fraction or "").ljust(7, "0") or 0)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        ticks -= sign * (int(zone[1:3]) * 60 + int(zone[4:6])) * 60 * TICKS_PER_SECOND
    return ticks


def parse_time_ticks(text: str) -> int:
    match = _TIME_RE.match(text)
    if not match or text == "PT":
        raise ValueError(text)
    hours, minutes, seconds, fraction = match.groups()
    total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    return total * TICKS_PER_SECOND + int((fraction or "").ljust(7, "0") or 0)


def from_wire(value: Any, edm_type: str) -> Any:
    """A stored wire value → its typed form (for filters and ordering)."""
    if value is None:
        return None
    if edm_type in TIMESTAMP_TYPES:
        match = _DATE_RE.match(value)
        if not match:
            raise ValueError(value)
        ticks = int(match.group(1)) * TICKS_PER_MS
        if match.group(2):
            offset = int(match.group(2))
            ticks -= (
                (1 if offset >= 0 else -1)
                * (abs(offset) // 100 * 60 + abs(offset) % 100)
                * 60
                * TICKS_PER_SECOND
            )
        return ticks
    if edm_type == "Edm.Time":
        return parse_time_ticks(value)
    if edm_type == "Edm.Decimal":
        return Decimal(value)
    if edm_type in INTEGER_TYPES:
        return int(value)
    if edm_type in FLOAT_TYPES:
        return float(value)
    return value


def to_wire(value: Any, edm_type: str) -> Any:
    """A client-sent JSON value → the stored wire form; raises ValueError when invalid."""
    if value is None:
        return None
    if edm_type == "Edm.DateTime":
        return datetime_wire(_client_ticks(value))
    if edm_type == "Edm.DateTimeOffset":
        return datetimeoffset_wire(_client_ticks(value))
    if edm_type == "Edm.Time":
        return time_wire(parse_time_ticks(str(value)))
    if edm_type == "Edm.Decimal":
        try:
            return decimal_wire(Decimal(str(value)))
        except InvalidOperation as exc:
            raise ValueError(value) from exc
    if edm_type == "Edm.Boolean":
        if not isinstance(value, bool):
            raise ValueError(value)
        return value
    if edm_type in INTEGER_TYPES:
        return str(int(value)) if edm_type == "Edm.Int64" else int(value)
    if not isinstance(value, str):
        raise ValueError(value)
    return value


def _client_ticks(value: Any) -> int:
    """Clients send `/Date(ms)/` (pyodata, SAP SDKs) or, leniently, an ISO string."""
    text = str(value)
    match = _DATE_RE.match(text)
    if match:
        return int(from_wire(text, "Edm.DateTimeOffset"))
    return parse_iso_ticks(text.removesuffix("Z") + ("Z" if text.endswith("Z") else ""))


def now_ticks() -> int:
    return datetime_to_ticks(datetime.now(UTC))
