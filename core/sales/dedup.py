"""Duplicate detection for leads against leads, accounts and contacts (issue 5 item 5).

Each record gives match keys; two records score by the keys they share:

=============  ======  ============================================================
signal         points  key
=============  ======  ============================================================
uscc           100     a valid USCC (core/model/uscc.py); invalid codes are ignored
email          90      trimmed, NFKC, lower-cased; gmail-style dots and ``+tags`` are
                       kept, because only some providers ignore them and a wrong
                       merge costs more than a missed one
phone          80      E.164 (core/sales/phones.py); equal when the numbers are equal
                       and the extensions are equal or one side has none
company_name   70      core/model/names.py, plus (集团)/(Group) markers and a trailing
                       集团 dropped here, so 上海汽车(集团)有限公司 = 上海汽车集团有限公司
=============  ======  ============================================================

The score is the sum over distinct signals (a signal counts once however many emails or
phones match), capped at 100: one strong signal is enough to show a candidate, two make
it certain. Two valid but different USCCs are two legal persons, so a shared company name
then counts for nothing (branches and namesakes); email and phone still count, since a
person moves between companies.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from core.model.names import normalize_company_name
from core.model.uscc import validate_uscc
from core.sales.phones import Phone, normalize_phone

RecordKind = Literal["lead", "account", "contact"]
Signal = Literal["uscc", "email", "phone", "company_name"]

WEIGHTS: Final[Mapping[Signal, int]] = MappingProxyType(
    {"uscc": 100, "email": 90, "phone": 80, "company_name": 70}
)
MAX_SCORE: Final = 100

_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)
_GROUP_MARKER = re.compile(r"[(（\[【]\s*(?:集团|集團|group)\s*[)）\]】]", re.IGNORECASE)
_GROUP_TAILS = ("集团", "集團")


@dataclass(frozen=True, slots=True)
class DedupRecord:
    """The fields of a lead, account or contact that duplicate detection looks at."""

    id: str
    kind: RecordKind
    company_name: str | None = None
    uscc: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DedupKeys:
    """Normalised keys of one record; None or empty where the input gave nothing usable."""

    uscc: str | None
    company: str | None
    emails: frozenset[str]
    phones: frozenset[Phone]


@dataclass(frozen=True, slots=True)
class MatchReason:
    """One shared key: which signal, the shared normalised value, the points it adds."""

    signal: Signal
    value: str
    points: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A possible duplicate of the lead, with its score and why."""

    record: DedupRecord
    score: int
    reasons: tuple[MatchReason, ...]


def uscc_key(raw: str | None) -> str | None:
    """The normalised USCC, or None when absent or not a valid code."""
    if raw is None:
        return None
    try:
        return validate_uscc(unicodedata.normalize("NFKC", raw))
    except ValueError:
        return None


def company_key(name: str | None) -> str | None:
    """The company-name key (names.py, plus group markers), or None if nothing is left."""
    if name is None:
        return None
    key = normalize_company_name(_GROUP_MARKER.sub(" ", unicodedata.normalize("NFKC", name)))
    for tail in _GROUP_TAILS:
        if key.endswith(tail) and len(key) > len(tail):
            key = key[: -len(tail)]
    return key or None


def email_key(raw: str | None) -> str | None:
    """The lower-cased address, or None if it does not look like one (no dot-stripping)."""
    if raw is None:
        return None
    text = _MAILTO.sub("", unicodedata.normalize("NFKC", raw).strip()).strip().strip("<>")
    text = text.lower()
    return text if _EMAIL.fullmatch(text) else None


def record_keys(record: DedupRecord) -> DedupKeys:
    """All match keys of a record; unusable values are dropped, not errors."""
    emails = {key for raw in record.emails if (key := email_key(raw)) is not None}
    phones = {phone for raw in record.phones if (phone := normalize_phone(raw)) is not None}
    return DedupKeys(
        uscc=uscc_key(record.uscc),
        company=company_key(record.company_name),
        emails=frozenset(emails),
        phones=frozenset(phones),
    )


def score_keys(a: DedupKeys, b: DedupKeys) -> tuple[int, tuple[MatchReason, ...]]:
    """Score two key sets (0..100) with the reasons, strongest signal first; symmetric."""
    reasons: list[MatchReason] = []
    if a.uscc is not None and a.uscc == b.uscc:
        reasons.append(MatchReason("uscc", a.uscc, WEIGHTS["uscc"]))
    if shared_emails := a.emails & b.emails:
        reasons.append(MatchReason("email", min(shared_emails), WEIGHTS["email"]))
    shared_phones = {
        p.e164
        for p in a.phones
        for q in b.phones
        if p.e164 == q.e164
        and (p.extension is None or q.extension is None or p.extension == q.extension)
    }
    if shared_phones:
        reasons.append(MatchReason("phone", min(shared_phones), WEIGHTS["phone"]))
    uscc_conflict = a.uscc is not None and b.uscc is not None and a.uscc != b.uscc
    if a.company is not None and a.company == b.company and not uscc_conflict:
        reasons.append(MatchReason("company_name", a.company, WEIGHTS["company_name"]))
    score = min(MAX_SCORE, sum(reason.points for reason in reasons))
    return score, tuple(reasons)


def match_score(a: DedupRecord, b: DedupRecord) -> tuple[int, tuple[MatchReason, ...]]:
    """How likely ``a`` and ``b`` are one party: score 0..100 and the shared keys."""
    return score_keys(record_keys(a), record_keys(b))


def candidates(
    lead: DedupRecord, others: Iterable[DedupRecord], threshold: int = 70
) -> list[Candidate]:
    """Records scoring at least ``threshold`` (and above 0) against ``lead``, best first.

    The lead itself (same kind and id) is skipped; ties are ordered by kind, then id, so
    the list is stable from run to run.
    """
    if not 0 <= threshold <= MAX_SCORE:
        raise ValueError(f"threshold must be within 0..{MAX_SCORE}, got {threshold}")
    lead_keys = record_keys(lead)
    found: list[Candidate] = []
    for other in others:
        if other.kind == lead.kind and other.id == lead.id:
            continue
        score, reasons = score_keys(lead_keys, record_keys(other))
        if score > 0 and score >= threshold:
            found.append(Candidate(other, score, reasons))
    found.sort(key=lambda c: (-c.score, c.record.kind, c.record.id))
    return found
