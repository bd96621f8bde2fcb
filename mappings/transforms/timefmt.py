"""A fast subset of `datetime.strptime` for the numeric formats files actually use.

strptime costs about 7-10 µs a call (it takes a lock and consults the locale every
time), which alone would cap a mapping near 100k records/s. Formats made only of %Y %y
%m %d %H %M %S %f and literal text compile here instead:

- fixed-width text (zero-padded fields, ASCII digits: '2024/05/06 14:30') is checked by
  one regular expression and read by `datetime.fromisoformat` (about 1 µs);
- anything else those directives allow goes through strptime's own patterns (1-2 digit
  fields, %f up to 6 digits, any Unicode digit, white space matching a run of white
  space, %y pivoting at 69), read here (about 3 µs);
- any other directive falls back to strptime itself.

The property test in tests/mappings compares all three paths with strptime.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

Parser = Callable[[str], datetime]

_DIRECTIVES = {
    "Y": r"(?P<Y>\d{4})",
    "y": r"(?P<y>\d{2})",
    "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
    "d": r"(?P<d>3[01]|[12]\d|0[1-9]|[1-9]| [1-9])",
    "H": r"(?P<H>2[0-3]|[0-1]\d|\d)",
    "M": r"(?P<M>[0-5]\d|\d)",
    "S": r"(?P<S>6[0-1]|[0-5]\d|\d)",
    "f": r"(?P<f>[0-9]{1,6})",
}


_WIDTH = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}
_ISO_ORDER = (("Y", "1900"), ("m", "01"), ("d", "01"), ("H", "00"), ("M", "00"), ("S", "00"))


def compile_format(fmt: str) -> Parser:
    """A parser equivalent to `datetime.strptime(text, fmt)` (raises ValueError likewise)."""
    pattern = _translate(fmt)
    if pattern is None:
        return lambda text: datetime.strptime(text, fmt)  # noqa: DTZ007 - zone applied by caller
    slow = _pattern_parser(fmt, pattern)
    fixed = _fixed_width(fmt)
    if fixed is None:
        return slow
    regex, template = fixed
    match = regex.fullmatch

    def parse(text: str) -> datetime:
        found = match(text)
        if found is None:
            return slow(text)
        return datetime.fromisoformat(template.format(*found.groups()) if template else text)

    return parse


def _fixed_width(fmt: str) -> tuple[re.Pattern[str], str] | None:
    """For formats of %Y %m %d %H %M %S and literals: a regex of the zero-padded form and
    the ISO template its groups fill ('' when the text is ISO already). Every field at its
    full width leaves strptime no other way to split the text, so the results agree."""
    parts = re.split(r"(%.)", fmt)
    codes = [p[1] for p in parts if p.startswith("%")]
    if not codes or any(c not in _WIDTH for c in codes) or len(set(codes)) != len(codes):
        return None
    if not {"Y", "m", "d"} <= set(codes):
        return None
    pattern = "".join(
        rf"(\d{{{_WIDTH[p[1]]}}})" if p.startswith("%") else re.escape(p) for p in parts
    )
    position = {code: i for i, code in enumerate(codes)}
    fields = [f"{{{position[c]}}}" if c in position else default for c, default in _ISO_ORDER]
    template = "{}-{}-{}T{}:{}:{}".format(*fields)
    iso_shaped = fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
    return re.compile(pattern, re.ASCII), "" if iso_shaped else template


def _pattern_parser(fmt: str, pattern: str) -> Parser:
    regex = re.compile(pattern, re.IGNORECASE)

    def parse(text: str) -> datetime:
        match = regex.match(text)  # match + end check, not fullmatch: strptime's own rule
        if match is None or match.end() != len(text):
            raise ValueError(f"time data {text!r} does not match format {fmt!r}")
        parts = match.groupdict()
        if parts.get("Y") is not None:
            year = int(parts["Y"])
        elif parts.get("y") is not None:
            short = int(parts["y"])
            year = 2000 + short if short < 69 else 1900 + short
        else:
            year = 1900
        fraction = parts.get("f")
        return datetime(  # noqa: DTZ001 - naive on purpose: the zone is applied by the caller
            year,
            int(parts.get("m") or 1),
            int(parts.get("d") or 1),
            int(parts.get("H") or 0),
            int(parts.get("M") or 0),
            int(parts.get("S") or 0),
            int(fraction.ljust(6, "0")) if fraction else 0,
        )

    return parse


def _translate(fmt: str) -> str | None:
    """The regular expression for `fmt`, or None when it uses a directive not handled here."""
    out: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            if i + 1 >= len(fmt):
                return None
            code = fmt[i + 1]
            if code == "%":
                out.append("%")
            elif (
                code in _DIRECTIVES
                and code not in seen
                and not (seen & {"Y", "y"} and code in "Yy")
            ):
                seen.add(code)
                out.append(_DIRECTIVES[code])
            else:
                return None
            i += 2
        elif ch.isspace():
            while i < len(fmt) and fmt[i].isspace():
                i += 1
            out.append(r"\s+")
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)
