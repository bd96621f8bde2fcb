"""Unified Social Credit Code (统一社会信用代码), GB 32100-2015.

18 characters from a 31-symbol alphabet (digits and capitals without I, O, S, V, Z).
The last one is a check character: weights 3**i mod 31 over the first 17, then
31 - (sum mod 31), where 31 maps to 0.
"""

from __future__ import annotations

import re

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_SHAPE = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{18}")
# One lookup table per position (value * weight mod 31), summed by map() in C: this runs
# for every synced account and lead, and is about three times faster than a Python loop.
_POSITION_TABLES = [
    {ch: value * pow(3, i, 31) % 31 for value, ch in enumerate(ALPHABET)} for i in range(17)
]
_lookup = dict.__getitem__


def check_character(first17: str) -> str:
    """The check character for the first 17 characters of a USCC."""
    if len(first17) != 17:
        raise ValueError("the check character is computed from 17 characters")
    return ALPHABET[-sum(map(_lookup, _POSITION_TABLES, first17)) % 31]


def validate_uscc(value: str) -> str:
    """Return the code normalised (trimmed, upper-case) or raise ValueError saying why."""
    code = value.strip().upper()
    if _SHAPE.fullmatch(code) is None:
        if len(code) != 18:
            raise ValueError(f"a USCC has 18 characters, got {len(code)}")
        bad = "".join(sorted({ch for ch in code if ch not in ALPHABET}))
        raise ValueError(f"a USCC uses digits and capitals except I, O, S, V, Z; found {bad!r}")
    expected = check_character(code[:17])
    if code[17] != expected:
        raise ValueError(f"check character is {code[17]!r} but should be {expected!r}")
    return code
