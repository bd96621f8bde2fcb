"""Number and flag transforms: decimal, int, bool.

Money is Decimal in the canonical model, never float, so `decimal` reads text exactly as
written ('1,200,000.00' -> Decimal('1200000.00')). Floats (JSON numbers, spreadsheet
cells) are read through their shortest repr, so 0.1 becomes Decimal('0.1'), not the
binary approximation.
"""

from __future__ import annotations

import math
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from core.errors import DataError
from mappings.transforms.registry import Args, Context, Fn, as_key, describe, register


class DecimalArgs(Args):
    thousands: Annotated[str, Field(max_length=1)] = ","
    decimal: Annotated[str, Field(min_length=1, max_length=1)] = "."

    @model_validator(mode="after")
    def _distinct(self) -> DecimalArgs:
        if self.thousands == self.decimal:
            raise ValueError("thousands and decimal separators must differ")
        return self


def _read_decimal(value: Any, thousands: str, point: str) -> Decimal | None:
    """The Decimal a value spells, or None if it spells none (caller raises)."""
    if isinstance(value, str):
        return _decimal_from_text(value, thousands, point)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    if isinstance(value, float):
        value = Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    number = Decimal(value)
    return number if number.is_finite() else None


def _decimal_from_text(value: str, thousands: str, point: str) -> Decimal | None:
    text = value.strip()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if thousands:
        text = text.replace(thousands, "")
    if point != ".":
        text = text.replace(point, ".")
    negative = text[-1:] == "-" and len(text) > 1  # SAP writes negatives as '12.50-'
    if negative:
        text = text[:-1]
    try:
        # Decimal would read '1_000' as 1000; a source never means that
        number = Decimal(text) if "_" not in text else None
    except InvalidOperation:
        return None
    if number is None or not number.is_finite():
        return None
    return -number if negative else number


@register("decimal", args=DecimalArgs)
def decimal(args: DecimalArgs, _: Context) -> Fn:
    """Exact decimal from text or number; {thousands: ',', decimal: '.'} are the defaults.

    A trailing minus (SAP: '1.234,56-') means negative. NaN, infinity and text that is
    not a number are refused.
    """
    thousands, point = args.thousands, args.decimal

    def to_decimal(value: Any) -> Decimal:
        if value.__class__ is str:
            number = _decimal_from_text(value, thousands, point)
        else:
            number = _read_decimal(value, thousands, point)
        if number is None:
            raise DataError(f"cannot read {describe(value)} as a decimal", code="invalid_decimal")
        return number

    return to_decimal


@register("int")
def integer(_: None, __: Context) -> Fn:
    """Whole number from text or number; '42', '42.00' and 42.0 give 42, '4.2' is refused."""

    def to_int(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        number = _read_decimal(value, "", ".")
        if number is None or number != number.to_integral_value():
            raise DataError(f"cannot read {describe(value)} as a whole number", code="invalid_int")
        return int(number)

    return to_int


_TRUE = ("true", "1", "yes", "y", "x", "是")
_FALSE = ("false", "0", "no", "n", "", "否")


def _keys(value: Any) -> Any:
    items = value if isinstance(value, list | tuple) else [value]
    return tuple(as_key(v).strip().casefold() for v in items)


class BoolArgs(Args):
    true: Annotated[tuple[str, ...], BeforeValidator(_keys)] = _TRUE
    false: Annotated[tuple[str, ...], BeforeValidator(_keys)] = _FALSE

    @model_validator(mode="after")
    def _disjoint(self) -> BoolArgs:
        both = sorted(set(self.true) & set(self.false))
        if both:
            raise ValueError(f"{both} cannot be both true and false")
        return self


@register("bool", args=BoolArgs)
def boolean(args: BoolArgs, _: Context) -> Fn:
    """Flag from text: true/false, 1/0, yes/no, Y/N, X/'' (SAP), 是/否; case-insensitive.

    Giving `true` or `false` replaces that default list, e.g. {true: [启用], false: [停用]}.
    """
    table = dict.fromkeys(args.true, True) | dict.fromkeys(args.false, False)

    def to_bool(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        found = table.get(as_key(value).strip().casefold())
        if found is None:
            raise DataError(f"cannot read {describe(value)} as true or false", code="invalid_bool")
        return found

    return to_bool
