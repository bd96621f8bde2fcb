"""RFM scores, cells and segments (research note l2c-anchors.md §b10).

Recency is days since the last purchase (smaller is better), Frequency the number of
purchases, Monetary the total spend, all as of one date. Each is scored 1..5 by quintile,
5 best, and the R×F pair picks one of CleverTap's ten segments.

Tie rule (fixed): ``score = 1 + floor(5 * worse / n)`` where ``worse`` counts the values
strictly worse than this one and ``n`` the scored accounts. It is pandas'
``rank(method="min")`` cut into fifths, so tied values share the lower bucket boundary.
We chose it over the common ``qcut(rank(method="first"))`` workaround because that one
splits equal inputs across buckets by row order: the same data loaded in another order
would get other scores. This rule is deterministic, order-independent, monotone (a better
value never scores lower) and never gives equal inputs different scores. Consequences to
know: when everyone ties, everyone scores 1 (nobody is better than anyone); with fewer
than five accounts some scores are skipped (two distinct values score 1 and 3).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from core.errors import DataError

QUINTILES = 5


class Segment(StrEnum):
    """CleverTap's ten R×F segments (§b10); values are stable keys for storage."""

    HIBERNATING = "hibernating"
    AT_RISK = "at_risk"
    CANT_LOSE = "cant_lose"
    ABOUT_TO_SLEEP = "about_to_sleep"
    NEED_ATTENTION = "need_attention"
    LOYAL = "loyal"
    PROMISING = "promising"
    NEW_CUSTOMERS = "new_customers"
    POTENTIAL_LOYALISTS = "potential_loyalists"
    CHAMPIONS = "champions"


# (R scores, F scores) -> segment, exactly the CleverTap patterns of §b10. The ten
# patterns cover the 25 R×F cells once each (checked by a test).
_SEGMENT_PATTERNS: tuple[tuple[frozenset[int], frozenset[int], Segment], ...] = (
    (frozenset({1, 2}), frozenset({1, 2}), Segment.HIBERNATING),  # [1-2][1-2]
    (frozenset({1, 2}), frozenset({3, 4}), Segment.AT_RISK),  # [1-2][3-4]
    (frozenset({1, 2}), frozenset({5}), Segment.CANT_LOSE),  # [1-2]5
    (frozenset({3}), frozenset({1, 2}), Segment.ABOUT_TO_SLEEP),  # 3[1-2]
    (frozenset({3}), frozenset({3}), Segment.NEED_ATTENTION),  # 33
    (frozenset({3, 4}), frozenset({4, 5}), Segment.LOYAL),  # [3-4][4-5]
    (frozenset({4}), frozenset({1}), Segment.PROMISING),  # 41
    (frozenset({5}), frozenset({1}), Segment.NEW_CUSTOMERS),  # 51
    (frozenset({4, 5}), frozenset({2, 3}), Segment.POTENTIAL_LOYALISTS),  # [4-5][2-3]
    (frozenset({5}), frozenset({4, 5}), Segment.CHAMPIONS),  # 5[4-5]
)


def segment_for(r: int, f: int) -> Segment:
    """Return the CleverTap segment of an R and F score (each 1..5)."""
    for r_scores, f_scores, segment in _SEGMENT_PATTERNS:
        if r in r_scores and f in f_scores:
            return segment
    raise ValueError(f"R and F scores must be 1..5, got R={r} F={f}")


@dataclass(frozen=True, slots=True)
class AccountActivity:
    """What RFM needs of one account, as of the scoring date.

    An account with no purchases has ``purchases == 0`` and ``last_purchase is None``.
    """

    account_id: str
    last_purchase: date | None
    purchases: int
    monetary: Decimal


@dataclass(frozen=True, slots=True)
class RfmScore:
    """One account's raw values, quintile scores and segment."""

    account_id: str
    recency_days: int
    frequency: int
    monetary: Decimal
    r: int
    f: int
    m: int

    @property
    def cell(self) -> str:
        """The "RFM" cell text, e.g. "545" (555 best, 111 worst)."""
        return f"{self.r}{self.f}{self.m}"

    @property
    def total(self) -> int:
        """R + F + M (3..15), the summed score of §b10."""
        return self.r + self.f + self.m

    @property
    def segment(self) -> Segment:
        return segment_for(self.r, self.f)


@dataclass(frozen=True, slots=True)
class RfmResult:
    """Scores sorted by account id, and the ids left out for having no purchases."""

    scores: tuple[RfmScore, ...]
    excluded: tuple[str, ...]

    def segments(self) -> dict[str, Segment]:
        """Account id -> segment, the shape `transitions` compares."""
        return {s.account_id: s.segment for s in self.scores}


@dataclass(frozen=True, slots=True)
class SegmentTransition:
    """An account whose segment changed; None means absent from that snapshot."""

    account_id: str
    before: Segment | None
    after: Segment | None


def quintile_scores(values: Sequence[int | Decimal], *, higher_is_better: bool) -> list[int]:
    """Score each value 1..5 with the min-rank rule of the module docstring.

    ``worse`` is found by bisection on the sorted values, so this is O(n log n).
    """
    n = len(values)
    ordered = sorted(values)
    scores = []
    for value in values:
        if higher_is_better:
            worse = bisect.bisect_left(ordered, value)  # values strictly below
        else:
            worse = n - bisect.bisect_right(ordered, value)  # values strictly above
        scores.append(1 + (QUINTILES * worse) // n)
    return scores


def score_accounts(accounts: Iterable[AccountActivity], *, as_of: date) -> RfmResult:
    """Score every account with purchases; report the ones without.

    Raises DataError for a record that contradicts itself (purchases without a date or
    the reverse, a negative count, a purchase after ``as_of``) or a repeated account id.
    """
    active: list[AccountActivity] = []
    excluded: list[str] = []
    seen: set[str] = set()
    for account in accounts:
        _check(account, as_of=as_of, seen=seen)
        if account.purchases == 0:
            excluded.append(account.account_id)
        else:
            active.append(account)
    if not active:
        return RfmResult(scores=(), excluded=tuple(sorted(excluded)))

    recencies = [(as_of - _last(a)).days for a in active]
    frequencies = [a.purchases for a in active]
    monetaries = [a.monetary for a in active]
    r_scores = quintile_scores(recencies, higher_is_better=False)
    f_scores = quintile_scores(frequencies, higher_is_better=True)
    m_scores = quintile_scores(monetaries, higher_is_better=True)
    scores = [
        RfmScore(a.account_id, rec, a.purchases, a.monetary, r, f, m)
        for a, rec, r, f, m in zip(active, recencies, r_scores, f_scores, m_scores, strict=True)
    ]
    scores.sort(key=lambda s: s.account_id)
    return RfmResult(scores=tuple(scores), excluded=tuple(sorted(excluded)))


def transitions(
    previous: Mapping[str, Segment], current: Mapping[str, Segment]
) -> list[SegmentTransition]:
    """Accounts whose segment differs between two snapshots, sorted by account id.

    An account in only one snapshot is a change too (``before`` or ``after`` is None),
    so the segment-history table records entries and exits as well as moves.
    """
    changed = []
    for account_id in sorted(previous.keys() | current.keys()):
        before, after = previous.get(account_id), current.get(account_id)
        if before != after:
            changed.append(SegmentTransition(account_id, before, after))
    return changed


def _last(account: AccountActivity) -> date:
    assert account.last_purchase is not None  # guaranteed by _check for active accounts
    return account.last_purchase


def _check(account: AccountActivity, *, as_of: date, seen: set[str]) -> None:
    aid = account.account_id
    if aid in seen:
        raise DataError(f"account {aid!r} appears twice", field="account_id", code="duplicate")
    seen.add(aid)
    if account.purchases < 0:
        raise DataError(f"account {aid!r}: negative purchase count", field="purchases")
    if (account.purchases == 0) != (account.last_purchase is None):
        raise DataError(
            f"account {aid!r}: purchase count and last purchase date disagree",
            field="last_purchase",
        )
    if account.last_purchase is not None and account.last_purchase > as_of:
        raise DataError(
            f"account {aid!r}: last purchase {account.last_purchase} is after {as_of}",
            field="last_purchase",
        )
