"""Date and time transforms. Every datetime leaves as an aware UTC instant.

Sources disagree on how to write time: ISO 8601 with or without an offset, SAP OData V2
`/Date(1700000000000)/` (milliseconds since the epoch, UTC; a `+0060` suffix only tells
the original offset), SAP DATS `20240501` with `00000000` for 'no date', a date and an
Edm.Time `PT14H30M05S` in two fields, or a local pattern such as `2024/05/01 14:30`.
Naive values are read in the transform's `tz`, else the mapping's `options.timezone`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator

from core.errors import DataError
from mappings.transforms.registry import Args, Context, Fn, describe, register
from mappings.transforms.timefmt import Parser, compile_format

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SAP_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")
_EDM_TIME = re.compile(r"PT(?:(\d{1,2})H)?(?:(\d{1,2})M)?(?:(\d{1,2})(?:\.(\d{1,6})\d*)?S)?")


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError names the mistake (pydantic turns it into a problem)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as 'Asia/Shanghai')"
        ) from None


class _ZoneArgs(Args):
    tz: str | None = None

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value


class DateArgs(Args):
    format: str | None = None

    @field_validator("format")
    @classmethod
    def _usable(cls, value: str | None) -> str | None:
        return _check_format(value)


class DatetimeArgs(_ZoneArgs):
    format: str | None = None

    @field_validator("format")
    @classmethod
    def _usable(cls, value: str | None) -> str | None:
        return _check_format(value)


class SapDatetimeArgs(_ZoneArgs):
    pass


def _check_format(value: str | None) -> str | None:
    if value is not None and "%" not in value:
        raise ValueError(f"{value!r} has no strftime directive (e.g. '%Y/%m/%d')")
    return value


def sap_instant(text: str) -> datetime | None:
    """`/Date(ms)/` or `/Date(ms+0000)/` as an aware UTC datetime; None if not that form."""
    match = _SAP_DATE.fullmatch(text)
    if match is None:
        return None
    return _EPOCH + timedelta(milliseconds=int(match.group(1)))


def _is_zero_date(text: str) -> bool:
    """SAP's 00000000 and the like ('0000-00-00') mean 'no date'."""
    return text[:1] == "0" and not text.strip("0-/. ")


def _read_date(value: Any, parse: Parser | None) -> date | None:
    """Read one date; raise ValueError (caller words the DataError)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("not a date")
    return _date_from_text(value.strip(), parse)


def _date_from_text(text: str, parse: Parser | None) -> date | None:
    if _is_zero_date(text):
        return None
    if parse is not None:
        return parse(text).date()
    if len(text) == 8 and text.isascii() and text.isdigit():
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    if text.startswith("/Date("):
        instant = sap_instant(text)
        if instant is None:
            raise ValueError("not a /Date(ms)/ value")
        return instant.date()
    return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text).date()


@register("date", args=DateArgs, primary="format")
def to_date(args: DateArgs, _: Context) -> Fn:
    """Calendar date: ISO 2024-05-01, SAP DATS 20240501 (00000000: null), /Date(ms)/, {format}."""
    parse = compile_format(args.format) if args.format else None

    def read(value: Any) -> date | None:
        try:
            return _read_date(value, parse)
        except ValueError:
            raise DataError(
                f"cannot read {describe(value)} as a date", code="invalid_date"
            ) from None

    return read


@register("datetime", args=DatetimeArgs)
def to_datetime(args: DatetimeArgs, ctx: Context) -> Fn:
    """Instant in UTC from ISO 8601 (offset or Z), /Date(ms)/, or {format}; naive -> {tz}."""
    local = zone(args.tz) if args.tz else ctx.timezone
    parse = compile_format(args.format) if args.format else datetime.fromisoformat

    def read(value: Any) -> datetime:
        try:
            if isinstance(value, str):  # first: nearly every source sends text
                text = value.strip()
                instant = sap_instant(text) if text.startswith("/Date(") else None
                if instant is not None:
                    return instant
                moment = parse(text)
            elif isinstance(value, datetime):
                moment = value
            elif isinstance(value, date):
                moment = datetime(value.year, value.month, value.day)  # noqa: DTZ001 - zone below
            else:
                raise ValueError("not a datetime")
        except ValueError:
            raise DataError(
                f"cannot read {describe(value)} as a datetime", code="invalid_datetime"
            ) from None
        if moment.tzinfo is None:
            return local_to_utc(moment, local)
        return moment.astimezone(UTC)

    return read


def local_to_utc(naive: datetime, local: tzinfo) -> datetime:
    """`naive.replace(tzinfo=local).astimezone(UTC)`, about twice as fast.

    Same rule for the wall times a DST change skips or repeats: the offset in effect
    with fold=0 (the earlier one).
    """
    offset = local.utcoffset(naive)
    moment = naive - offset if offset else naive
    return datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        UTC,
    )


def _read_time(value: Any) -> time:
    """Edm.Time PT14H30M05S, SAP TIMS 143005, or ISO 14:30[:05]; empty is midnight."""
    if value is None or value == "":
        return time()
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise ValueError("not a time")
    text = value.strip()
    match = _EDM_TIME.fullmatch(text)
    if match is not None and text != "PT":
        hours, minutes, seconds, fraction = match.groups()
        return time(
            int(hours or 0),
            int(minutes or 0),
            int(seconds or 0),
            int(fraction.ljust(6, "0")) if fraction else 0,
        )
    if len(text) == 6 and text.isascii() and text.isdigit():
        return time(int(text[:2]), int(text[2:4]), int(text[4:]))
    return time.fromisoformat(text)


@register("sap_datetime", args=SapDatetimeArgs, primary="tz")
def sap_datetime(args: SapDatetimeArgs, ctx: Context) -> Fn:
    """Instant from [date, time]: SAP date (/Date(ms)/ or yyyyMMdd) + Edm.Time or HHMMSS, in {tz}.

    For SAP entities that keep a date and a time in two properties (A_BusinessPartner's
    LastChangeDate + LastChangeTime): `from: [LastChangeDate, LastChangeTime]`.
    """
    local = zone(args.tz) if args.tz else ctx.timezone

    def read(value: Any) -> datetime | None:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise DataError(
                f"sap_datetime expects [date, time], got {describe(value)}", code="invalid_datetime"
            )
        try:
            day = None if value[0] in (None, "") else _read_date(value[0], None)
            if day is None:
                return None
            moment = datetime.combine(day, _read_time(value[1]), tzinfo=local)
        except ValueError:
            raise DataError(
                f"cannot read {describe(list(value))} as a date and time", code="invalid_datetime"
            ) from None
        return moment.astimezone(UTC)

    return read
