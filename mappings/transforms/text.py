"""Text transforms: cleaning, normalising and reshaping strings."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from mappings.transforms.registry import Args, Context, Fn, as_key, as_text, register


def _listify(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


@register("text")
def text(_: None, __: Context) -> Fn:
    """Numbers to their text (1000042 -> '1000042'); text unchanged."""
    return as_text


@register("trim")
def trim(_: None, __: Context) -> Fn:
    """Strip leading and trailing white space, including the ideographic space U+3000."""
    return lambda value: value.strip() if value.__class__ is str else as_text(value).strip()


@register("upper")
def upper(_: None, __: Context) -> Fn:
    """Upper-case."""
    return lambda value: value.upper() if value.__class__ is str else as_text(value).upper()


@register("lower")
def lower(_: None, __: Context) -> Fn:
    """Lower-case."""
    return lambda value: value.lower() if value.__class__ is str else as_text(value).lower()


@register("nfkc")
def nfkc(_: None, __: Context) -> Fn:
    """Unicode NFKC: full-width letters, digits and punctuation become half-width."""
    return nfkc_text


def nfkc_text(value: Any) -> str:
    """NFKC of a text value; ASCII is already normal, so it skips the lookup."""
    text = value if value.__class__ is str else as_text(value)
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


@register("collapse_space")
def collapse_space(_: None, __: Context) -> Fn:
    """Runs of white space (tabs, newlines, U+3000) become one space; ends are trimmed."""

    def collapse(value: Any) -> str:  # split() cuts at runs of str.isspace(), as \s+ does
        return " ".join((value if value.__class__ is str else as_text(value)).split())

    return collapse


@register("strip_zeros")
def strip_zeros(_: None, __: Context) -> Fn:
    """SAP ALPHA output conversion: '0001000042' -> '1000042', '0000' -> '0'.

    Only all-digit values lose their zeros, as in SAP: 'A0001' is kept.
    """

    def strip(value: Any) -> str:
        text = as_text(value)
        if text.isascii() and text.isdigit():
            return text.lstrip("0") or "0"
        return text

    return strip


class TruncateArgs(Args):
    length: Annotated[int, Field(ge=1)]


@register("truncate", args=TruncateArgs, primary="length")
def truncate(args: TruncateArgs, _: Context) -> Fn:
    """Keep the first `length` characters."""
    length = args.length
    return lambda value: as_text(value)[:length]


class NullIfArgs(Args):
    values: Annotated[list[Any], BeforeValidator(_listify)]


@register("null_if", args=NullIfArgs, primary="values")
def null_if(args: NullIfArgs, _: Context) -> Fn:
    """Null when the value is one of `values` (compared as text), e.g. '-' or 'N/A'."""
    blanks = frozenset(as_key(v) for v in args.values)
    return lambda value: None if as_key(value) in blanks else value


class DefaultArgs(Args):
    value: Any


@register("default", args=DefaultArgs, primary="value", accepts_none=True)
def default(args: DefaultArgs, _: Context) -> Fn:
    """`value` when the value is null or empty; later steps then see it."""
    fallback = args.value
    return lambda value: fallback if value is None or value == "" else value


class JoinArgs(Args):
    sep: str = " "


@register("join", args=JoinArgs, primary="sep")
def join(args: JoinArgs, _: Context) -> Fn:
    """Join a list's non-empty items with `sep` (default one space); null if none is left."""
    sep = args.sep

    def joined(value: Any) -> str | None:
        if not isinstance(value, list | tuple):
            return as_text(value)
        parts = [as_text(v) for v in value if v is not None and v != ""]
        return sep.join(parts) if parts else None

    return joined


class SplitArgs(Args):
    sep: Annotated[str, Field(min_length=1)] = ","


@register("split", args=SplitArgs, primary="sep")
def split(args: SplitArgs, _: Context) -> Fn:
    """Split text on `sep` (default ','), trim each part and drop empty parts."""
    sep = args.sep

    def parts(value: Any) -> list[str]:
        return [p.strip() for p in as_text(value).split(sep) if p.strip()]

    return parts


@register("coalesce")
def coalesce(_: None, __: Context) -> Fn:
    """The first item of a list that is neither null nor ''; a non-list is kept."""

    def first(value: Any) -> Any:
        if not isinstance(value, list | tuple):
            return value
        return next((v for v in value if v is not None and v != ""), None)

    return first
