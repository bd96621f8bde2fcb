"""Behaviour points: decay, caps, window, penalties (issue 5 3(b); l2c-anchors.md §(a), §b9)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from core.errors import DataError
from core.sales.behaviour import (
    DEFAULT_MODEL,
    IGNORED_FUTURE,
    IGNORED_OLD,
    IGNORED_UNSCORED,
    BehaviourModel,
    CappedGroup,
    EventRule,
    Touchpoint,
    decay_factor,
    points,
    return_penalty,
)

D = Decimal
NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


MODEL = BehaviourModel(
    rules={
        "email_open": EventRule(points=D(10), half_life_days=D(30), group="email"),
        "email_click": EventRule(points=D(20), half_life_days=D(30), group="email"),
        "webinar": EventRule(points=D(40), half_life_days=D(10)),
        "form": EventRule(points=D(15)),  # no decay
        "returned": EventRule(points=D(-20)),
        "returned.spam": EventRule(points=D(-50)),
    },
    group_caps={"email": D(30)},
    window_days=90,
)


def test_one_half_life_halves_and_two_quarter() -> None:
    # 40 × 0.5^(10/10) = 20; 40 × 0.5^(20/10) = 10
    assert points(MODEL, [Touchpoint("webinar", ago(10))], as_of=NOW).total == D("20.00")
    assert points(MODEL, [Touchpoint("webinar", ago(20))], as_of=NOW).total == D("10.00")
    assert decay_factor(timedelta(days=10), D(10)) == D("0.5")
    assert decay_factor(timedelta(days=20), D(10)) == D("0.25")


def test_fractional_age_decays_smoothly() -> None:
    # 0.5^(5/10) = 1/√2 = 0.70710678118…; 40 × that = 28.28427… → 28.28
    assert decay_factor(timedelta(days=5), D(10)) == D("0.7071067812")
    assert points(MODEL, [Touchpoint("webinar", ago(5))], as_of=NOW).total == D("28.28")


def test_no_half_life_means_no_decay() -> None:
    # form: 15, 80 days old, no half-life → 15
    assert points(MODEL, [Touchpoint("form", ago(80))], as_of=NOW).total == D("15.00")


def test_cap_bites_after_decay() -> None:
    # clicks 20 + 20 (today) + open 10 (today) = 50 > cap 30 → 30; webinar 40 today → 70
    events = [
        Touchpoint("email_click", NOW),
        Touchpoint("email_click", NOW),
        Touchpoint("email_open", NOW),
        Touchpoint("webinar", NOW),
    ]
    score = points(MODEL, events, as_of=NOW)
    assert score.total == D("70.00")
    assert score.capped_groups == {"email": CappedGroup(raw=D("50.00"), cap=D(30))}
    assert score.by_type == {
        "email_click": D("40.00"),
        "email_open": D("10.00"),
        "webinar": D("40.00"),
    }
    assert "group email: 50.00 points capped at 30" in score.explanation


def test_cap_does_not_bite_once_decay_brings_group_under_it() -> None:
    # same e-mail events 30 days old: (20 + 20 + 10) × 0.5 = 25 ≤ 30 → 25, no cap
    events = [Touchpoint(t, ago(30)) for t in ("email_click", "email_click", "email_open")]
    score = points(MODEL, events, as_of=NOW)
    assert score.total == D("25.00")
    assert score.capped_groups == {}


def test_event_group_overrides_rule_group() -> None:
    # webinar tagged "email": 40 + 40 = 80 in group email, capped at 30
    events = [Touchpoint("webinar", NOW, group="email")] * 2
    assert points(MODEL, events, as_of=NOW).total == D("30.00")


def test_window_excludes_older_events_but_keeps_the_boundary() -> None:
    # window 90: form at exactly 90 days counts (15), at 90 days + 1 s is ignored
    events = [Touchpoint("form", ago(90)), Touchpoint("form", NOW - timedelta(days=90, seconds=1))]
    score = points(MODEL, events, as_of=NOW)
    assert score.total == D("15.00")
    assert score.ignored == {IGNORED_OLD: 1}
    assert "1 event(s) older than 90 days ignored" in score.explanation


def test_negative_points_from_a_return_are_not_decayed() -> None:
    # form 15 + returned (generic reason, falls back to "returned") −20 = −5, 60 days old
    events = [Touchpoint("form", ago(1)), return_penalty(ago(60), "no_budget")]
    score = points(MODEL, events, as_of=NOW)
    assert score.total == D("-5.00")
    assert score.by_type["returned.no_budget"] == D("-20.00")


def test_per_reason_penalty_overrides_the_generic_one() -> None:
    assert points(MODEL, [return_penalty(NOW, "spam")], as_of=NOW).total == D("-50.00")


def test_penalty_bites_even_inside_a_capped_group() -> None:
    # a negative type in group email: positives 20+20 = 40 → cap 30, then −20 → 10
    model = MODEL.model_copy(
        update={"rules": {**MODEL.rules, "unsubscribe": EventRule(points=D(-20), group="email")}}
    )
    events = [Touchpoint("email_click", NOW)] * 2 + [Touchpoint("unsubscribe", NOW)]
    assert points(model, events, as_of=NOW).total == D("10.00")


def test_return_needs_a_reason_code() -> None:
    with pytest.raises(DataError):
        return_penalty(NOW, "")


def test_future_events_are_ignored_and_counted() -> None:
    # as_of in the past: the form after it does not count (backtest semantics)
    score = points(MODEL, [Touchpoint("form", ago(-1)), Touchpoint("form", ago(2))], as_of=NOW)
    assert score.total == D("15.00")
    assert score.ignored == {IGNORED_FUTURE: 1}


def test_unknown_types_score_nothing_and_are_reported() -> None:
    score = points(MODEL, [Touchpoint("podcast", NOW)], as_of=NOW)
    assert score.total == D("0.00")
    assert score.ignored == {IGNORED_UNSCORED: 1}
    assert "no rule, 0 points: podcast" in score.explanation


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(DataError) as err:
        points(MODEL, [Touchpoint("form", datetime(2025, 1, 1))], as_of=NOW)
    assert err.value.field == "occurred_at"
    with pytest.raises(ValueError, match="timezone-aware"):
        points(MODEL, [], as_of=datetime(2025, 1, 1))


def test_model_is_strict_and_frozen() -> None:
    with pytest.raises(ValidationError):
        EventRule(points=D(1), half_life_days=D(0))
    with pytest.raises(ValidationError):
        BehaviourModel(rules={}, group_caps={"email": D(-1)})
    with pytest.raises(ValidationError):
        BehaviourModel(rules={}, window_days=0)
    with pytest.raises(ValidationError):
        MODEL.window_days = 10  # type: ignore[misc]


def test_default_model_scores_a_typical_lead() -> None:
    # click 3 today + webinar 10 × 0.5^(60/60) = 5 + form 15 → 23
    events = [
        Touchpoint("email_click", NOW),
        Touchpoint("webinar", ago(60)),
        Touchpoint("form", NOW),
    ]
    assert points(DEFAULT_MODEL, events, as_of=NOW).total == D("23.00")


# ------------------------------------------------------------------ properties

TYPES = ["email_open", "email_click", "webinar", "form", "returned", "podcast"]
events_st = st.lists(
    st.builds(
        Touchpoint,
        st.sampled_from(TYPES),
        st.integers(min_value=-86_400 * 5, max_value=86_400 * 120).map(
            lambda s: NOW - timedelta(seconds=s)
        ),
        st.sampled_from([None, None, "email"]),
    ),
    max_size=30,
)


@given(events_st)
def test_total_never_exceeds_caps_plus_uncapped_positives(events: list[Touchpoint]) -> None:
    # upper bound: every cap in full + every undecayed positive outside capped groups
    bound = sum(MODEL.group_caps.values(), D(0))
    for e in events:
        rule = MODEL.rule_for(e.type)
        if rule and rule.points > 0 and (e.group or rule.group) not in MODEL.group_caps:
            bound += rule.points
    assert points(MODEL, events, as_of=NOW).total <= bound


@given(events_st, st.randoms())
def test_score_is_order_independent(events: list[Touchpoint], rnd: random.Random) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert points(MODEL, events, as_of=NOW) == points(MODEL, shuffled, as_of=NOW)


@given(
    st.sampled_from(["email_open", "webinar", "form", "returned"]),
    st.integers(min_value=0, max_value=86_400 * 100),
    st.integers(min_value=0, max_value=86_400 * 100),
)
def test_older_events_never_count_more_than_newer_identical_ones(
    kind: str, age_a: int, age_b: int
) -> None:
    newer, older = sorted((age_a, age_b))

    def value(age_s: int) -> Decimal:
        return points(MODEL, [Touchpoint(kind, NOW - timedelta(seconds=age_s))], as_of=NOW).total

    # in magnitude: a penalty fades (or stays) too, it never grows with age
    assert abs(value(older)) <= abs(value(newer))
