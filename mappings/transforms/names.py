"""Joining name and address parts the way each script writes them.

ERPs cut long names into fixed-width fields (SAP: Name1..Name4 of 35 or 40 characters,
street and house number apart). Chinese text is written without spaces and Latin words
with them: `join` with one separator gets one of the two wrong. `join_words` puts a space
only between two parts whose touching characters are both narrow (Latin letters, digits),
so 上海华东精密机械 + 有限公司 stays one word and Precision + Machinery stays two.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from mappings.transforms.registry import Context, Fn, as_text, register


def _wide(char: str) -> bool:
    """East Asian wide or full-width characters: Han, kana, hangul, CJK punctuation."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def join_parts(parts: list[Any] | tuple[Any, ...]) -> str | None:
    """Non-empty parts, white space collapsed, joined as described above; None if none."""
    out = ""
    for part in parts:
        if part is None:
            continue
        text = " ".join(as_text(part).split())
        if not text:
            continue
        if out and not (_wide(out[-1]) or _wide(text[0])):
            out += " "
        out += text
    return out or None


@register("join_words")
def join_words(_: None, __: Context) -> Fn:
    """Join name parts: a space between Latin words, none next to a Chinese character."""

    def joined(value: Any) -> str | None:
        if isinstance(value, list | tuple):
            return join_parts(value)
        return join_parts([value])

    return joined
