"""Company-name normalisation for matching (not for display).

Two spellings of one company should give one key: full-width and half-width forms,
brackets, spacing, case and legal-form suffixes (有限公司, 股份有限公司, Co., Ltd., ...) are
ignored, and a country marker such as (中国) is dropped. Other bracketed words are kept
without the brackets: 腾讯科技(深圳) and 腾讯科技(北京) are different legal persons.

Runs once per synced account, so suffixes are tested with str.endswith and the Latin
pattern only on the tail of the name.
"""

from __future__ import annotations

import re
import unicodedata

_COUNTRY_MARKER = re.compile(r"\(\s*(?:中国|中國|china|prc|p\.\s*r\.\s*c\.?)\s*\)")
_CJK_FORMS = tuple(
    sorted(
        [
            "股份有限公司",
            "有限责任公司",
            "有限責任公司",
            "集团有限公司",
            "集團有限公司",
            "有限公司",
            "股份公司",
            "公司",
        ],
        key=len,
        reverse=True,
    )
)
_LATIN_FORMS = (
    r"co\.?\s*,?\s*ltd\.?|co\.?\s*,?\s*limited|company\s+limited|limited|ltd\.?|inc\.?"
    r"|incorporated|corporation|corp\.?|llc|gmbh|ag|s\.\s*a\.?|plc|co\.?|company"
)
# A Latin legal form must stand as a word: "Siemens AG" loses "AG", "Hoffmag" keeps "ag".
_LATIN_TAIL = re.compile(rf"(?<=[\s,.)])(?:{_LATIN_FORMS})[\s,.]*$")
_TAIL = 40
_BRACKETS = str.maketrans("【】[]", "()()")
_NOISE = re.compile(r"[\s\-_,.·•'\"&/()]+")


def _without_legal_form(text: str) -> str:
    if text.endswith(_CJK_FORMS):
        for form in _CJK_FORMS:
            if text.endswith(form):
                return text[: -len(form)]
    if not text or not text[-1].isascii():
        return text
    found = _LATIN_TAIL.search(text, max(0, len(text) - _TAIL))
    return text[: found.start()] if found else text


def normalize_company_name(name: str) -> str:
    """Return the matching key of a company name ('' if nothing meaningful is left)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    if "[" in text or "【" in text:
        text = text.translate(_BRACKETS)
    if "(" in text:
        text = _COUNTRY_MARKER.sub(" ", text)
    text = text.strip(" ,.")
    while (stripped := _without_legal_form(text).rstrip(" ,.")) != text and stripped:
        text = stripped
    return _NOISE.sub("", text)
