"""Predictive lead scoring reproduces Odoo's naive Bayes (l2c-anchors.md §b1).

The shared history below, learned by `rebuild`, gives these rows (every new row starts at +0.1):

    team 1  stage 1 (New)       won 1.1  lost 2.1   W1 won; L1 lost at New; L2 lost at Proposal
            stage 2 (Proposal)  won 1.1  lost 1.1   W1; L2 (stage <= Proposal)
            stage 3 (Won)       won 1.1  lost 0.1   W1 only (a won lead counts every stage)
            email correct       won 1.1  lost 1.1   W1, L2
            email incorrect     won 0.1  lost 1.1   L1
            source 7            won 1.1  lost 1.1   W1, L1 (L2 has no source: skipped)
            tag 5               won 1.1  lost 1.1   W1, L1
            tag 6               won 1.1  lost 0.1   W1
    team 2  stages 1, 2, 3      won 1.1  lost 0.1   W2 won
            email False         won 1.1  lost 0.1   W2 (email_state None counts as False)
    no team stage 1             won 0.1  lost 1.1   L3 lost at New
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DataError
from core.sales.pls import (
    Counts,
    FieldValue,
    FrequencyTable,
    Lead,
    Stage,
    learn,
    probability,
    rebuild,
    unlearn,
)

NEW = Stage(1, 1)
PROPOSAL = Stage(2, 2)
WON = Stage(3, 3, is_won=True)
STAGES = (NEW, PROPOSAL, WON)

HISTORY = (
    Lead(WON, 1, {"email_state": "correct", "source_id": 7}, frozenset({5, 6}), "won"),
    Lead(NEW, 1, {"email_state": "incorrect", "source_id": 7}, frozenset({5}), "lost"),
    Lead(PROPOSAL, 1, {"email_state": "correct", "source_id": None}, state="lost"),
    Lead(PROPOSAL, 2, {"email_state": None}, state="won"),
    Lead(NEW, None, {}, state="lost"),
    Lead(PROPOSAL, 1, {"email_state": "correct"}, state="open"),  # open: not counted
)


def _pair(
    table: FrequencyTable, team: int | None, field: str, value: FieldValue
) -> tuple[float, float] | None:
    """(won, lost) of a row, or None when the row does not exist."""
    counts = table.get(team, field, value)
    return None if counts is None else (counts.won, counts.lost)


@pytest.fixture
def table() -> FrequencyTable:
    return rebuild(HISTORY, stages=STAGES)


def test_rebuild_counts_won_on_every_stage_and_lost_up_to_its_stage(table: FrequencyTable) -> None:
    assert _pair(table, 1, "stage_id", 1) == pytest.approx((1.1, 2.1))
    assert _pair(table, 1, "stage_id", 2) == pytest.approx((1.1, 1.1))
    assert _pair(table, 1, "stage_id", 3) == pytest.approx((1.1, 0.1))
    assert _pair(table, 1, "email_state", "incorrect") == pytest.approx((0.1, 1.1))
    assert _pair(table, 1, "source_id", None) is None  # empty values are skipped
    assert _pair(table, 1, "tag_id", 6) == pytest.approx((1.1, 0.1))
    assert _pair(table, 2, "email_state", False) == pytest.approx((1.1, 0.1))
    assert _pair(table, None, "stage_id", 1) == pytest.approx((0.1, 1.1))
    assert len(table.rows) == 13


def test_team_score_multiplies_prior_by_each_fields_share(table: FrequencyTable) -> None:
    lead = Lead(PROPOSAL, 1, {"email_state": "correct", "source_id": 7})
    # prior (stage 1): won 1.1/3.2, lost 2.1/3.2
    # stage 2 over team totals: won 1.1/1.1, lost 1.1/2.1
    # email correct over email totals (won 1.2, lost 2.2): won 1.1/1.2, lost 1.1/2.2
    # source 7 over source totals (1.1, 1.1): 1 and 1
    # S_won = 1.1*1.1/(3.2*1.2) = 1.21/3.84 ; S_lost = 1.1/3.2 * 0.5 = 0.66/3.84
    # P = 1.21 / (1.21 + 0.66) = 0.647058... -> 64.71
    assert probability(table, lead) == 64.71


def test_second_team_uses_its_own_rows(table: FrequencyTable) -> None:
    lead = Lead(NEW, 2, {"email_state": False})
    # team 2 prior (stage 1): won 1.1/1.2, lost 0.1/1.2; stage 1 share 1 and 1;
    # email False is the only email row of team 2: 1.1/1.1 and 0.1/0.1 -> 1 and 1
    # P = 1.1/1.2 = 0.91666... -> 91.67
    assert probability(table, lead) == 91.67


def test_unknown_team_and_no_team_fall_back_to_the_all_teams_aggregate(
    table: FrequencyTable,
) -> None:
    # aggregate stage 1: won 1.1+1.1+0.1 = 2.3, lost 2.1+0.1+1.1 = 3.3 -> prior 2.3/5.6, 3.3/5.6
    # stage 1 share: 2.3/2.3, 3.3/3.3 -> 1, 1
    # email rows: correct (1.1, 1.1), incorrect (0.1, 1.1), False (1.1, 0.1): totals 2.3, 2.3
    # False share: won 1.1/2.3, lost 0.1/2.3
    # S_won = 2.3/5.6 * 1.1/2.3 = 1.1/5.6 ; S_lost = 3.3/5.6 * 0.1/2.3 = 0.143478.../5.6
    # P = 1.1 / 1.243478... = 0.884615... -> 88.46
    assert probability(table, Lead(NEW, 9, {"email_state": False})) == 88.46
    assert probability(table, Lead(NEW, None, {"email_state": False})) == 88.46


def test_tag_is_ignored_under_the_threshold_and_counted_over_it(table: FrequencyTable) -> None:
    lead = Lead(PROPOSAL, 1, {"email_state": "correct", "source_id": 7}, frozenset({6}))
    # tag 6 row: won 1.1 + lost 0.1 = 1.2 < 2 -> ignored: same as without tags, 64.71
    assert probability(table, lead, tag_threshold=2) == 64.71
    # threshold 1: tags 5 (1.1, 1.1) and 6 (1.1, 0.1) both count: totals won 2.2, lost 1.2
    # tag 6 share: won 1.1/2.2 = 0.5, lost 0.1/1.2 = 1/12
    # S_won = 1.21/3.84 * 0.5 = 0.605/3.84 ; S_lost = 0.66/3.84 / 12 = 0.055/3.84
    # P = 0.605 / 0.66 = 0.916666... -> 91.67
    assert probability(table, lead, tag_threshold=1) == 91.67
    # the default threshold (50) ignores every tag of this small history
    assert probability(table, lead) == 64.71


def test_no_stage_scores_zero_and_won_stage_scores_hundred(table: FrequencyTable) -> None:
    assert probability(table, Lead(None, 1, {"email_state": "correct"})) == 0.0
    assert probability(table, Lead(WON, 1, {"email_state": "incorrect"})) == 100.0


def test_team_without_a_first_stage_row_cannot_be_scored() -> None:
    # team 4 only learned a stageless lead: the team is known but has no won/lost totals
    table = learn(FrequencyTable.empty(STAGES), Lead(None, 4, {"source_id": 1}), "lost")
    assert probability(table, Lead(NEW, 4, {"source_id": 1})) is None
    assert probability(FrequencyTable.empty(STAGES), Lead(NEW, 1)) is None
    assert probability(FrequencyTable.empty(()), Lead(NEW, 1)) is None


def test_result_is_clamped_like_odoo() -> None:
    sure = FrequencyTable(STAGES, {(1, "stage_id", "1"): Counts(10_000.0, 0.1)})
    hopeless = FrequencyTable(STAGES, {(1, "stage_id", "1"): Counts(0.1, 10_000.0)})
    # 10000/10000.1 = 0.99999 -> 100.0 -> clamped to 99.99; the mirror case 0.0 -> 0.01
    assert probability(sure, Lead(NEW, 1)) == 99.99
    assert probability(hopeless, Lead(NEW, 1)) == 0.01


def test_new_row_is_smoothed_by_a_tenth_on_both_sides() -> None:
    table = learn(FrequencyTable.empty(STAGES), Lead(NEW, 1, {"source_id": 3}), "lost")
    # lost at New (sequence 1): only stage 1 is counted, 0 + 0.1 won, 1 + 0.1 lost
    assert _pair(table, 1, "stage_id", 1) == pytest.approx((0.1, 1.1))
    assert _pair(table, 1, "stage_id", 2) is None
    assert _pair(table, 1, "source_id", 3) == pytest.approx((0.1, 1.1))


def test_decrement_floors_at_a_tenth_and_skips_missing_rows() -> None:
    lead = Lead(NEW, 1, {"source_id": 3})
    table = learn(FrequencyTable.empty(STAGES), lead, "lost")  # lost 1.1
    once = unlearn(table, lead, "lost")  # 1.1 - 1 = 0.1
    twice = unlearn(once, lead, "lost")  # 0.1 - 1 = -0.9 <= 0 -> 0.1
    assert _pair(once, 1, "source_id", 3) == pytest.approx((0.1, 0.1))
    assert twice.get(1, "source_id", 3) == Counts(0.1, 0.1)
    # a row never learned stays absent (Odoo would insert it with +1)
    other = unlearn(table, Lead(NEW, 2, {"source_id": 3}), "lost")
    assert other.get(2, "source_id", 3) is None


def test_learn_is_pure() -> None:
    empty = FrequencyTable.empty(STAGES)
    learn(empty, Lead(NEW, 1), "won")
    assert empty.rows == {}


def test_lead_in_a_stage_the_table_does_not_know_is_a_data_error() -> None:
    with pytest.raises(DataError):
        learn(FrequencyTable.empty(STAGES), Lead(Stage(99, 1), 1), "lost")


# ---------------------------------------------------------------- properties

TEAMS = st.sampled_from([None, 1, 2])
LEAD_VALUES = st.fixed_dictionaries(
    {
        "email_state": st.sampled_from([None, "correct", "incorrect"]),
        "source_id": st.sampled_from([None, 1, 2]),
    }
)
TAGS = st.frozensets(st.sampled_from([5, 6]))
CLOSED_LEADS = st.builds(
    Lead,
    stage=st.sampled_from([None, *STAGES]),
    team=TEAMS,
    values=LEAD_VALUES,
    tags=TAGS,
    state=st.sampled_from(["won", "lost"]),
)
ANY_LEADS = st.builds(
    Lead,
    stage=st.sampled_from([None, *STAGES]),
    team=st.sampled_from([None, 1, 2, 3]),
    values=LEAD_VALUES,
    tags=TAGS,
)


def _close(a: FrequencyTable, b: FrequencyTable) -> bool:
    return a.rows.keys() == b.rows.keys() and all(
        a.rows[k].won == pytest.approx(b.rows[k].won)
        and a.rows[k].lost == pytest.approx(b.rows[k].lost)
        for k in a.rows
    )


@settings(deadline=None)
@given(
    history=st.lists(CLOSED_LEADS, max_size=25),
    lead=ANY_LEADS,
    threshold=st.sampled_from([1, 2, 50]),
)
def test_probability_is_a_percentage_or_unscorable(
    history: list[Lead], lead: Lead, threshold: int
) -> None:
    result = probability(rebuild(history, stages=STAGES), lead, tag_threshold=threshold)
    assert result is None or 0 <= result <= 100


@settings(deadline=None)
@given(history=st.lists(CLOSED_LEADS, max_size=25))
def test_rebuild_equals_learning_one_by_one(history: list[Lead]) -> None:
    table = FrequencyTable.empty(STAGES)
    for lead in history:
        assert lead.state != "open"
        table = learn(table, lead, lead.state)
    assert _close(rebuild(history, stages=STAGES), table)


@settings(deadline=None)
@given(history=st.lists(CLOSED_LEADS, max_size=25), lead=CLOSED_LEADS)
def test_learn_then_unlearn_restores_the_table(history: list[Lead], lead: Lead) -> None:
    before = rebuild(history, stages=STAGES)
    assert lead.state != "open"
    after = unlearn(learn(before, lead, lead.state), lead, lead.state)
    # rows that existed come back; rows the lead created keep only their smoothing
    for key, counts in after.rows.items():
        expected = before.rows.get(key, Counts(0.1, 0.1))
        assert counts.won == pytest.approx(expected.won)
        assert counts.lost == pytest.approx(expected.lost)
    assert before.rows.keys() <= after.rows.keys()
