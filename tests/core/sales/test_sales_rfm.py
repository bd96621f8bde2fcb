"""RFM quintile scores, cells, segments and transitions (l2c-anchors.md §b10)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import DataError
from core.sales.rfm import (
    AccountActivity,
    Segment,
    SegmentTransition,
    quintile_scores,
    score_accounts,
    segment_for,
    transitions,
)

AS_OF = date(2024, 6, 30)


def _acct(aid: str, last: date | None, purchases: int, monetary: str) -> AccountActivity:
    return AccountActivity(aid, last, purchases, Decimal(monetary))


# ------------------------------------------------------------------ quintile scores


def test_five_distinct_values_get_one_score_each() -> None:
    # worse = 0..4, score = 1 + floor(5*worse/5) = 1 + worse
    assert quintile_scores([10, 20, 30, 40, 50], higher_is_better=True) == [1, 2, 3, 4, 5]


def test_ten_values_fill_equal_count_quintiles() -> None:
    # worse = k for value k+1; score = 1 + floor(5k/10) = 1 + k//2
    values = list(range(1, 11))
    assert quintile_scores(values, higher_is_better=True) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_ties_share_the_lower_bucket() -> None:
    # n = 6. value 1: worse 0 -> 1; value 2: worse 2 -> 1 + floor(10/6) = 2;
    # value 3: worse 3 -> 1 + floor(15/6) = 3 (all three 3s, not split across buckets)
    assert quintile_scores([3, 1, 2, 3, 1, 3], higher_is_better=True) == [3, 1, 2, 3, 1, 3]


def test_all_equal_values_all_score_one() -> None:
    # nobody is strictly worse than anyone: worse = 0 -> score 1
    assert quintile_scores([7, 7, 7], higher_is_better=True) == [1, 1, 1]
    assert quintile_scores([7, 7, 7], higher_is_better=False) == [1, 1, 1]


def test_fewer_than_five_values_skip_scores() -> None:
    # n = 1: worse 0 -> 1
    assert quintile_scores([42], higher_is_better=True) == [1]
    # n = 2: worse 0, 1 -> 1, 1 + floor(5/2) = 3
    assert quintile_scores([9, 5], higher_is_better=True) == [3, 1]
    # n = 3: worse 0, 1, 2 -> 1, 1 + floor(5/3) = 2, 1 + floor(10/3) = 4
    assert quintile_scores([1, 2, 3], higher_is_better=True) == [1, 2, 4]


def test_recency_is_inverted_smaller_is_better() -> None:
    # n = 4, worse = values strictly larger. 3 days: worse 3 -> 1 + floor(15/4) = 4;
    # 30 days (twice): worse 1 -> 1 + floor(5/4) = 2; 400 days: worse 0 -> 1
    assert quintile_scores([30, 3, 400, 30], higher_is_better=False) == [2, 4, 1, 2]


def test_no_values_no_scores() -> None:
    assert quintile_scores([], higher_is_better=True) == []


values_st = st.lists(st.integers(min_value=-50, max_value=50), min_size=1, max_size=40)


@given(values_st, st.booleans())
def test_scores_are_always_one_to_five(values: list[int], higher: bool) -> None:
    assert all(1 <= s <= 5 for s in quintile_scores(values, higher_is_better=higher))


@given(values_st, st.booleans())
def test_a_better_value_never_scores_lower_and_ties_score_equal(
    values: list[int], higher: bool
) -> None:
    scores = quintile_scores(values, higher_is_better=higher)
    for v1, s1 in zip(values, scores, strict=True):
        for v2, s2 in zip(values, scores, strict=True):
            if v1 == v2:
                assert s1 == s2
            elif (v1 > v2) == higher:  # v1 is better
                assert s1 >= s2


@given(values_st.flatmap(lambda v: st.tuples(st.just(v), st.permutations(v))), st.booleans())
def test_scores_do_not_depend_on_input_order(
    pair: tuple[list[int], list[int]], higher: bool
) -> None:
    values, shuffled = pair
    by_value = dict(zip(values, quintile_scores(values, higher_is_better=higher), strict=True))
    again = dict(zip(shuffled, quintile_scores(shuffled, higher_is_better=higher), strict=True))
    assert by_value == again


# ------------------------------------------------------------------ accounts


def _five_accounts() -> list[AccountActivity]:
    return [
        _acct("a", date(2024, 6, 29), 10, "1000.00"),  # 1 day
        _acct("b", date(2024, 6, 20), 5, "500.00"),  # 10 days
        _acct("c", date(2024, 5, 31), 5, "250.00"),  # 30 days
        _acct("d", date(2024, 3, 2), 2, "100.00"),  # 29 + 30 + 31 + 30 = 120 days
        _acct("e", date(2023, 7, 1), 1, "40.00"),  # 366 - 1 = 365 days (2024 is leap)
        _acct("f", None, 0, "0"),  # never bought: excluded
    ]


def test_accounts_get_cells_and_segments() -> None:
    result = score_accounts(_five_accounts(), as_of=AS_OF)
    # R: recencies 1, 10, 30, 120, 365 -> 5, 4, 3, 2, 1
    # F: 10 -> worse 4 -> 5; 5 and 5 -> worse 2 -> 1 + floor(10/5) = 3; 2 -> 2; 1 -> 1
    # M: 1000, 500, 250, 100, 40 -> 5, 4, 3, 2, 1
    got = {s.account_id: (s.recency_days, s.cell, s.segment) for s in result.scores}
    assert got == {
        "a": (1, "555", Segment.CHAMPIONS),
        "b": (10, "434", Segment.POTENTIAL_LOYALISTS),
        "c": (30, "333", Segment.NEED_ATTENTION),
        "d": (120, "222", Segment.HIBERNATING),
        "e": (365, "111", Segment.HIBERNATING),
    }
    assert result.excluded == ("f",)
    assert result.scores[0].total == 15  # 5 + 5 + 5


def test_only_accounts_without_purchases_give_empty_scores() -> None:
    result = score_accounts([_acct("z", None, 0, "0"), _acct("y", None, 0, "0")], as_of=AS_OF)
    assert result.scores == ()
    assert result.excluded == ("y", "z")


@pytest.mark.parametrize(
    ("accounts", "field"),
    [
        ([_acct("a", AS_OF, 1, "1"), _acct("a", AS_OF, 1, "1")], "account_id"),
        ([_acct("a", AS_OF, -1, "1")], "purchases"),
        ([_acct("a", None, 2, "1")], "last_purchase"),
        ([_acct("a", AS_OF, 0, "0")], "last_purchase"),
        ([_acct("a", date(2024, 7, 1), 1, "1")], "last_purchase"),
    ],
)
def test_contradictory_records_are_refused(accounts: list[AccountActivity], field: str) -> None:
    with pytest.raises(DataError) as caught:
        score_accounts(accounts, as_of=AS_OF)
    assert caught.value.field == field


activity_st = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=400),
        st.integers(min_value=1, max_value=20),
        st.decimals(min_value=0, max_value=10_000, places=2),
    ),
    min_size=1,
    max_size=25,
)


@given(activity_st.flatmap(lambda v: st.permutations(list(enumerate(v)))))
def test_account_scores_do_not_depend_on_input_order(
    rows: list[tuple[int, tuple[int, int, Decimal]]],
) -> None:
    def build(order: list[tuple[int, tuple[int, int, Decimal]]]) -> list[AccountActivity]:
        return [
            AccountActivity(f"acct-{i:03d}", date.fromordinal(AS_OF.toordinal() - d), f, m)
            for i, (d, f, m) in order
        ]

    assert score_accounts(build(rows), as_of=AS_OF) == score_accounts(
        build(sorted(rows)), as_of=AS_OF
    )


# ------------------------------------------------------------------ segments


def test_the_ten_patterns_cover_every_rf_cell_once() -> None:
    cells = {(r, f): segment_for(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert len(cells) == 25
    assert set(cells.values()) == set(Segment)


@pytest.mark.parametrize(
    ("r", "f", "segment"),
    [
        (1, 1, Segment.HIBERNATING),
        (2, 2, Segment.HIBERNATING),
        (1, 3, Segment.AT_RISK),
        (2, 4, Segment.AT_RISK),
        (2, 5, Segment.CANT_LOSE),
        (3, 1, Segment.ABOUT_TO_SLEEP),
        (3, 2, Segment.ABOUT_TO_SLEEP),
        (3, 3, Segment.NEED_ATTENTION),
        (3, 4, Segment.LOYAL),
        (4, 5, Segment.LOYAL),
        (4, 1, Segment.PROMISING),
        (5, 1, Segment.NEW_CUSTOMERS),
        (4, 2, Segment.POTENTIAL_LOYALISTS),
        (5, 3, Segment.POTENTIAL_LOYALISTS),
        (5, 4, Segment.CHAMPIONS),
        (5, 5, Segment.CHAMPIONS),
    ],
)
def test_segment_map_follows_clevertap(r: int, f: int, segment: Segment) -> None:
    assert segment_for(r, f) is segment


@pytest.mark.parametrize(("r", "f"), [(0, 3), (3, 6)])
def test_scores_outside_one_to_five_have_no_segment(r: int, f: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.5"):
        segment_for(r, f)


# ------------------------------------------------------------------ transitions


def test_transitions_list_moves_entries_and_exits_sorted() -> None:
    previous = {"a": Segment.LOYAL, "b": Segment.HIBERNATING, "c": Segment.CHAMPIONS}
    current = {"a": Segment.LOYAL, "b": Segment.AT_RISK, "d": Segment.NEW_CUSTOMERS}
    assert transitions(previous, current) == [
        SegmentTransition("b", Segment.HIBERNATING, Segment.AT_RISK),
        SegmentTransition("c", Segment.CHAMPIONS, None),
        SegmentTransition("d", None, Segment.NEW_CUSTOMERS),
    ]


def test_transitions_from_results_are_empty_when_nothing_moved() -> None:
    segments = score_accounts(_five_accounts(), as_of=AS_OF).segments()
    assert transitions(segments, dict(segments)) == []
