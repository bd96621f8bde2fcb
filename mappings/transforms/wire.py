"""Outbound wire formats of ERP payloads: what outbound mappings turn canonical values into.

`odata_date` writes SAP OData V2's `/Date(ms)/` (midnight UTC for a date, the instant for
a datetime), `dats` SAP's DATS `YYYYMMDD` used in IDocs and BAPIs. Both read what the
canonical record holds (date, datetime, or ISO text, as JSON gives it back).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from core.errors import DataError
from mappings.transforms.registry import Context, Fn, describe, register


def _instant(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            raise DataError(
                f"cannot read {describe(value)} as a date", code="invalid_date"
            ) from None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    raise DataError(f"cannot read {describe(value)} as a date", code="invalid_date")


@register("odata_date")
def odata_date(_: None, __: Context) -> Fn:
    """SAP OData V2 date: a date or datetime as /Date(ms)/ (dates at midnight UTC)."""

    def write(value: Any) -> str:
        instant = _instant(value)
        millis = int(instant.timestamp() * 1000)
        return f"/Date({millis})/"

    return write


@register("dats")
def dats(_: None, __: Context) -> Fn:
    """SAP DATS: a date or datetime as YYYYMMDD (IDoc and BAPI date fields)."""

    def write(value: Any) -> str:
        instant = _instant(value)
        day = (
            value if isinstance(value, date) and not isinstance(value, datetime) else instant.date()
        )
        return day.strftime("%Y%m%d")

    return write
