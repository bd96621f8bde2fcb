"""Phone numbers to E.164 for duplicate detection, without a phone-number library.

Only the rules that matter for Chinese CRM data are implemented (issue 5 item 5):

* mobiles: 11 digits ``1[3-9]xxxxxxxxx`` (a leading trunk 0, once dialled between
  cities, is accepted) → ``+86…``, kind ``mobile``;
* landlines: area code with or without the trunk 0 — 2 digits for 10 and 2x (Beijing,
  Shanghai, Guangzhou …), 3 digits otherwise — and a 7- or 8-digit subscriber number
  not starting with 0 (2-digit areas: 8 digits) → ``+86…``, kind ``landline``. Real
  subscriber numbers start with 2–9, but placeholder data like 010-12345678 is common and
  the length rules alone already keep mobiles and landlines apart.
  400/800 service numbers fit this shape (``+864008108888``) and are reported as landlines;
* prefixes ``+86``, ``0086`` and a bare ``86`` (the bare one only when the rest is a valid
  Chinese number; by the lengths above no digit string reads validly both with and
  without it);
* other countries only when written with ``+`` (7–15 digits, kind ``unknown``); anything
  else — a local number without area code, letters, ``00``-prefixed foreign numbers — is
  ``None``: an unsure key would merge records that are not duplicates.

Extensions are split off after 转/轉/分机/ext/x/# or, for landlines only, after a final
``-`` group that does not fit in the number (``010-12345678-123``). Full-width digits and
punctuation are folded by NFKC first; other scripts' digits (٠١٢…) are not phone digits here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

PhoneKind = Literal["mobile", "landline", "unknown"]

_DASHES = str.maketrans("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-------")
_TEL_SCHEME = re.compile(r"^tel:\s*", re.IGNORECASE)
_EXPLICIT_EXT = re.compile(
    r"\s*(?:转|轉|分机|分機|ext\.?|extension|x|#)\s*[:.]?\s*(\d{1,6})\s*$", re.IGNORECASE | re.ASCII
)
_HYPHEN_EXT = re.compile(r"\s*-\s*(\d{1,5})$", re.ASCII)
_PHONE_CHARS = re.compile(r"\+?[\d\s\-.()/]*\d[\d\s\-.()/]*", re.ASCII)
_NON_DIGIT = re.compile(r"\D", re.ASCII)
_MOBILE = re.compile(r"0?(1[3-9]\d{9})", re.ASCII)


@dataclass(frozen=True, slots=True)
class Phone:
    """A normalised number: ``e164`` without extension, the extension digits apart."""

    e164: str
    kind: PhoneKind
    extension: str | None = None


def normalize_phone(raw: str | None) -> Phone | None:
    """Return the E.164 form of ``raw`` with its kind and extension, or None if unsure."""
    if raw is None:
        return None
    text = _TEL_SCHEME.sub("", unicodedata.normalize("NFKC", raw).translate(_DASHES).strip())
    extension: str | None = None
    if found := _EXPLICIT_EXT.search(text):
        extension = found.group(1)
        text = text[: found.start()]
    text = text.strip()
    if _PHONE_CHARS.fullmatch(text) is None:
        return None
    parsed = _parse(text)
    if parsed is None and extension is None and (found := _HYPHEN_EXT.search(text)):
        shorter = _parse(text[: found.start()])
        if shorter is not None and shorter[1] == "landline":
            parsed, extension = shorter, found.group(1)
    if parsed is None:
        return None
    return Phone(e164=parsed[0], kind=parsed[1], extension=extension)


def _parse(text: str) -> tuple[str, PhoneKind] | None:
    digits = _NON_DIGIT.sub("", text)
    if text.startswith("+"):
        if digits.startswith("86"):
            return _chinese(digits[2:])
        if 7 <= len(digits) <= 15 and not digits.startswith("0"):
            return "+" + digits, "unknown"
        return None
    if digits.startswith("0086"):
        return _chinese(digits[4:])
    if digits.startswith("86") and (hit := _chinese(digits[2:])) is not None:
        return hit
    return _chinese(digits)


def _chinese(national: str) -> tuple[str, PhoneKind] | None:
    """A Chinese national number (country code removed) in E.164, or None."""
    if found := _MOBILE.fullmatch(national):
        return "+86" + found.group(1), "mobile"
    number = national.removeprefix("0")
    lengths: tuple[int, ...]
    if number.startswith(("10", "2")):
        area, subscriber, lengths = number[:2], number[2:], (8,)
    elif number and number[0] in "3456789":
        area, subscriber, lengths = number[:3], number[3:], (7, 8)
    else:
        return None
    if len(subscriber) not in lengths or subscriber.startswith("0"):
        return None
    return "+86" + area + subscriber, "landline"
