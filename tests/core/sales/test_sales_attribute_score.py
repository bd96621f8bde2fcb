"""Attribute (fit) score against an ICP profile and the A1–C3 grade (l2c-anchors.md ### Scoring)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from core.sales.attribute_score import (
    AttributeScore,
    GradeThresholds,
    IcpProfile,
    IcpRule,
    RuleResult,
    grade,
    score,
)

EAST_CHINA = ["上海", "江苏", "浙江", "安徽", "福建", "江西", "山东"]
FREE_MAIL = ["qq.com", "163.com", "126.com", "gmail.com"]

PROFILE = IcpProfile.model_validate(
    {
        "name": "East-China manufacturers",
        "rules": [
            {"field": "country", "op": "eq", "value": "CN", "gate": True, "label": "In China"},
            {"field": "industry", "op": "eq", "value": "manufacturing", "points": 20,
             "label": "Manufacturing"},
            {"field": "employees", "op": "gte", "value": 200, "points": 15, "label": "200+ staff"},
            {"field": "region", "op": "in", "value": EAST_CHINA, "points": 10,
             "label": "East China"},
            {"field": "email_domain", "op": "in", "value": FREE_MAIL, "points": -10,
             "label": "Free mail"},
        ],
    }
)  # fmt: skip


def _lead(**attrs: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "country": "CN",
        "industry": "manufacturing",
        "employees": 350,
        "region": "江苏",
        "email_domain": "acme.cn",
    }
    base.update(attrs)
    return {k: v for k, v in base.items() if v is not None}


def _rule(op: str, value: Any = None, **extra: Any) -> IcpRule:
    return IcpRule.model_validate({"field": "f", "op": op, "value": value, "label": "r", **extra})


# ------------------------------------------------------------------ the hand-computed profile


def test_max_points_is_the_sum_of_positive_points() -> None:
    # 0 (gate) + 20 + 15 + 10; the −10 rule does not raise the ceiling
    assert score(PROFILE, _lead()).max_points == 45


def test_ideal_lead_scores_full_marks_with_explanation_in_rule_order() -> None:
    result = score(PROFILE, _lead())
    # 20 + 15 + 10 = 45 of 45 → 100.00 %
    assert result == AttributeScore(
        points=45,
        max_points=45,
        percent=Decimal("100.00"),
        passed_gates=True,
        explanation=(
            RuleResult("In China", "country", 0, True),
            RuleResult("Manufacturing", "industry", 20, True),
            RuleResult("200+ staff", "employees", 15, True),
            RuleResult("East China", "region", 10, True),
            RuleResult("Free mail", "email_domain", 0, False),
        ),
        failed_gates=(),
    )


def test_small_free_mail_lead_scores_partial_percent() -> None:
    result = score(PROFILE, _lead(employees=120, region="浙江", email_domain="QQ.com "))
    # 20 (manufacturing) + 0 (120 < 200) + 10 (浙江) − 10 (qq.com) = 20; 20/45 = 44.444… → 44.44
    assert (result.points, result.percent) == (20, Decimal("44.44"))
    assert [r.points for r in result.explanation] == [0, 20, 0, 10, -10]


def test_percent_rounds_half_up_to_cents() -> None:
    profile = IcpProfile.model_validate(
        {
            "name": "p",
            "rules": [
                {"field": "a", "op": "present", "points": 1, "label": "a"},
                {"field": "b", "op": "present", "points": 7, "label": "b"},
            ],
        }
    )
    # 1/8 = 12.5 % exactly; 7/8 = 87.5 %
    assert score(profile, {"a": 1}).percent == Decimal("12.50")
    profile3 = IcpProfile.model_validate(
        {
            "name": "p",
            "rules": [
                {"field": "a", "op": "present", "points": 2, "label": "a"},
                {"field": "b", "op": "present", "points": 1, "label": "b"},
            ],
        }
    )
    # 2/3 = 66.666… → 66.67 (half-up at the third decimal)
    assert score(profile3, {"a": "x"}).percent == Decimal("66.67")


def test_failed_gate_caps_points_at_zero_and_says_which_gate() -> None:
    result = score(PROFILE, _lead(country="US"))
    # raw 45, but the country gate failed → min(45, 0) = 0, percent 0
    assert (result.points, result.percent, result.passed_gates) == (0, Decimal(0), False)
    assert result.failed_gates == ("In China",)
    assert result.explanation[0] == RuleResult("In China", "country", 0, False)
    # the other rules are still explained
    assert result.explanation[1] == RuleResult("Manufacturing", "industry", 20, True)


def test_failed_gate_keeps_a_negative_total_visible() -> None:
    result = score(PROFILE, _lead(country=None, industry="retail", employees=5, region="北京",
                                  email_domain="gmail.com"))  # fmt: skip
    # missing country fails the gate; 0 + 0 + 0 − 10 = −10, min(−10, 0) = −10
    assert (result.points, result.percent, result.failed_gates) == (-10, Decimal(0), ("In China",))


def test_negative_total_clamps_percent_at_zero() -> None:
    result = score(PROFILE, _lead(industry="retail", employees=5, region="北京",
                                  email_domain="163.com"))  # fmt: skip
    # −10 of 45 → −22.2 % clamped to 0
    assert (result.points, result.percent, result.passed_gates) == (-10, Decimal(0), True)


def test_profile_without_positive_points_scores_zero_percent() -> None:
    profile = IcpProfile.model_validate(
        {"name": "p", "rules": [{"field": "a", "op": "present", "points": -5, "label": "a"}]}
    )
    result = score(profile, {"a": 1})
    assert (result.points, result.max_points, result.percent) == (-5, 0, Decimal(0))


# ------------------------------------------------------------------ operators and comparison


def test_text_compares_case_insensitively_after_strip() -> None:
    assert score(PROFILE, _lead(country=" cn ", industry="MANUFACTURING\t")).points == 45


@pytest.mark.parametrize(
    ("rule", "value", "matched"),
    [
        (_rule("eq", 200), 200, True),
        (_rule("eq", 200), Decimal("200.0"), True),
        (_rule("eq", 200), 200.0, True),
        (_rule("eq", 200), "200", False),  # text is never read as a number
        (_rule("eq", "200"), 200, False),
        (_rule("eq", True), True, True),
        (_rule("eq", True), 1, False),  # booleans equal only booleans
        (_rule("eq", 1), True, False),
        (_rule("in", ["a", 2]), " A ", True),
        (_rule("in", ["a", 2]), 2, True),
        (_rule("in", ["a", 2]), "b", False),
        (_rule("not_in", ["a", "b"]), "c", True),
        (_rule("not_in", ["a", "b"]), "B", False),
        (_rule("in", ["a", "b"]), ["c", "B"], True),  # a collection: any item listed
        (_rule("in", ["a", "b"]), ["c"], False),
        (_rule("not_in", ["a", "b"]), ["c", "d"], True),  # no item listed
        (_rule("not_in", ["a", "b"]), ["c", "a"], False),
        (_rule("eq", "a"), ["a"], False),
        (_rule("gte", 0), [5], False),
        (_rule("gte", 200), 200, True),  # inclusive
        (_rule("gte", 200), Decimal("199.99"), False),
        (_rule("gte", 200), "300", False),
        (_rule("gte", 200), True, False),
        (_rule("lte", Decimal("1.5")), 1.5, True),
        (_rule("lte", Decimal("1.5")), 2, False),
        (_rule("between", [10, 20]), 10, True),  # both ends inclusive
        (_rule("between", [10, 20]), 20, True),
        (_rule("between", [10, 20]), Decimal("20.01"), False),
        (_rule("between", [10, 20]), 9, False),
        (_rule("contains", "steel"), "Shanghai STEEL Works", True),
        (_rule("contains", "steel"), "Shanghai Iron", False),
        (_rule("contains", "vip"), ["new", " VIP "], True),  # a collection: item equality
        (_rule("contains", "vip"), ["vipers"], False),
        (_rule("contains", 3), [1, 2, 3], True),
        (_rule("contains", "3"), 1234, False),
        (_rule("present"), 0, True),  # zero is a value, not missing
        (_rule("present"), False, True),
        (_rule("present"), "x", True),
        (_rule("absent"), "x", False),
    ],
)
def test_operator_matching(rule: IcpRule, value: Any, matched: bool) -> None:
    profile = IcpProfile(name="p", rules=(rule.model_copy(update={"points": 1}),))
    assert score(profile, {"f": value}).explanation[0].matched is matched


@pytest.mark.parametrize("missing", [None, "", "   ", [], (), float("nan"), Decimal("NaN")])
@pytest.mark.parametrize(
    "rule",
    [
        _rule("eq", "x"),
        _rule("in", ["x"]),
        _rule("not_in", ["x"]),  # unknown is not "outside the list"
        _rule("gte", 0),
        _rule("lte", 0),
        _rule("between", [0, 1]),
        _rule("contains", "x"),
        _rule("present"),
    ],
)
def test_missing_attribute_matches_nothing_but_absent(rule: IcpRule, missing: Any) -> None:
    profile = IcpProfile(name="p", rules=(rule, _rule("absent", label="absent")))
    for attrs in ({"f": missing}, {}):
        result = score(profile, attrs)
        assert [r.matched for r in result.explanation] == [False, True]


def test_unknown_types_equal_only_themselves_and_are_never_ordered() -> None:
    from datetime import date

    profile = IcpProfile(name="p", rules=(_rule("gte", 0), _rule("eq", "2024-01-01", label="d")))
    result = score(profile, {"f": date(2024, 1, 1)})
    assert [r.matched for r in result.explanation] == [False, False]


# ------------------------------------------------------------------ invalid profiles


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"field": "f", "op": "like", "value": "x", "label": "r"}, "Input should be 'eq'"),
        ({"field": "f", "op": "eq", "value": "x", "label": "r", "weight": 3}, "Extra inputs"),
        ({"field": "f", "op": "eq", "value": "x"}, "label\n  Field required"),
        ({"field": " ", "op": "eq", "value": "x", "label": "r"}, "at least 1 character"),
        ({"field": "f", "op": "eq", "value": "x", "label": "r", "points": "10"}, "valid integer"),
        ({"field": "f", "op": "eq", "value": "x", "label": "r", "points": 1.5}, "valid integer"),
        ({"field": "f", "op": "eq", "value": "x", "label": "r", "gate": "yes"}, "valid boolean"),
        ({"field": "f", "op": "eq", "label": "r"}, "eq: needs one value"),
        ({"field": "f", "op": "eq", "value": ["a"], "label": "r"}, "eq: needs one value"),
        ({"field": "f", "op": "eq", "value": "  ", "label": "r"}, "must not be blank"),
        ({"field": "f", "op": "in", "value": [], "label": "r"}, "needs a non-empty list"),
        ({"field": "f", "op": "in", "value": "a", "label": "r"}, "needs a non-empty list"),
        ({"field": "f", "op": "gte", "value": "200", "label": "r"}, "gte: needs a number"),
        ({"field": "f", "op": "lte", "value": True, "label": "r"}, "lte: needs a number"),
        ({"field": "f", "op": "gte", "value": float("nan"), "label": "r"}, "must be finite"),
        ({"field": "f", "op": "between", "value": [20, 10], "label": "r"}, "low <= high"),
        ({"field": "f", "op": "between", "value": [1, 2, 3], "label": "r"}, "[low, high]"),
        ({"field": "f", "op": "between", "value": ["1", 2], "label": "r"}, "[low, high]"),
        ({"field": "f", "op": "present", "value": "x", "label": "r"}, "takes no value"),
        ({"field": "f", "op": "absent", "value": 0, "label": "r"}, "takes no value"),
    ],
)
def test_invalid_rules_are_refused_with_a_clear_error(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        IcpProfile.model_validate({"name": "p", "rules": [rule]})
    assert message in str(err.value)


def test_profile_needs_rules_with_distinct_labels() -> None:
    with pytest.raises(ValidationError, match="at least 1 item"):
        IcpProfile.model_validate({"name": "p", "rules": []})
    dup = {"field": "f", "op": "present", "label": "Same"}
    with pytest.raises(ValidationError, match="duplicate rule label 'same'"):
        IcpProfile.model_validate({"name": "p", "rules": [dup, {**dup, "label": "same"}]})


def test_profile_is_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        PROFILE.name = "other"


def test_profile_round_trips_through_json_with_numbers_kept_numbers() -> None:
    profile = IcpProfile.model_validate(
        {
            "name": "p",
            "rules": [
                {"field": "f", "op": "between", "value": [1, 2.5], "points": 3, "label": "a"},
                {"field": "g", "op": "eq", "value": "2.5", "label": "b"},
            ],
        }
    )
    text = profile.model_dump_json()
    assert '"value":[1,2.5]' in text and '"value":"2.5"' in text
    assert IcpProfile.model_validate_json(text) == profile
    assert IcpProfile.model_validate(json.loads(text)) == profile
    assert IcpProfile.model_validate_json(PROFILE.model_dump_json()) == PROFILE


# ------------------------------------------------------------------ grade


@pytest.mark.parametrize(
    ("percent", "behaviour", "expected"),
    [
        (Decimal(100), 999, "A1"),
        (Decimal(70), 50, "A1"),  # both lower bounds inclusive
        (Decimal("69.99"), 50, "B1"),
        (Decimal(70), Decimal("49.99"), "A2"),
        (Decimal(40), 20, "B2"),
        (Decimal("39.99"), 20, "C2"),
        (Decimal(40), Decimal("19.99"), "B3"),
        (0, 0, "C3"),
        (0, -5, "C3"),
        (Decimal(55), 60, "B1"),
    ],
)
def test_grade_boundaries_with_default_thresholds(
    percent: Decimal | int, behaviour: Decimal | int, expected: str
) -> None:
    assert grade(percent, behaviour) == expected


def test_grade_uses_configured_thresholds() -> None:
    thresholds = GradeThresholds.model_validate(
        {"attribute_a": 90, "attribute_b": 60, "behaviour_1": 100, "behaviour_2": 12.5}
    )
    assert grade(Decimal(89), Decimal("12.5"), thresholds) == "B2"
    assert grade(Decimal(90), 100, thresholds) == "A1"
    assert grade(Decimal(59), 12, thresholds) == "C3"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"attribute_a": 40, "attribute_b": 40}, "attribute thresholds must descend"),
        ({"attribute_a": 30}, "attribute thresholds must descend"),  # 30 < default B 40
        ({"attribute_a": 101}, "within 0..100"),
        ({"attribute_b": -1}, "within 0..100"),
        ({"behaviour_1": 20}, "behaviour thresholds must descend"),
        ({"behaviour_2": float("inf")}, "must be finite"),
        ({"behaviour_2": Decimal("-Infinity")}, "must be finite"),
        ({"behaviour_1": "50"}, "instance of Decimal"),
        ({"behaviour_1": True}, "instance of Decimal"),
        ({"extra": 1}, "Extra inputs"),
    ],
)
def test_invalid_thresholds_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        GradeThresholds.model_validate(overrides)
    assert message in str(err.value)


def test_grade_refuses_non_finite_inputs() -> None:
    with pytest.raises(ValueError, match="finite"):
        grade(Decimal("NaN"), 0)


def test_thresholds_round_trip_through_json() -> None:
    thresholds = GradeThresholds.model_validate({"attribute_a": 80, "behaviour_2": 12.5})
    text = thresholds.model_dump_json()
    assert text == '{"attribute_a":80,"attribute_b":40,"behaviour_1":50,"behaviour_2":12.5}'
    assert GradeThresholds.model_validate(json.loads(text)) == thresholds


# ------------------------------------------------------------------ properties

_FIELDS = ("a", "b", "c")
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-50, 50),
    st.decimals(-50, 50, places=2, allow_nan=False, allow_infinity=False),
    st.sampled_from(["x", " X ", "y", ""]),
    st.lists(st.sampled_from(["x", "y", 1]), max_size=3),
)
_num = st.integers(-50, 50)


@st.composite
def _rules(draw: st.DrawFn, label: str) -> IcpRule:
    op = draw(st.sampled_from(["eq", "in", "not_in", "gte", "lte", "between", "present",
                               "absent", "contains"]))  # fmt: skip
    value: Any
    if op in ("eq", "contains"):
        value = draw(st.sampled_from(["x", "y", 1, True]))
    elif op in ("in", "not_in"):
        value = draw(st.lists(st.sampled_from(["x", "y", 1, 2]), min_size=1, max_size=3))
    elif op in ("gte", "lte"):
        value = draw(_num)
    elif op == "between":
        value = sorted([draw(_num), draw(_num)])
    else:
        value = None
    return IcpRule.model_validate(
        {
            "field": draw(st.sampled_from(_FIELDS)),
            "op": op,
            "value": value,
            "points": draw(st.integers(-30, 30)),
            "gate": draw(st.integers(0, 3)) == 0,  # gates are rarer than plain rules
            "label": label,
        }
    )


@st.composite
def _profiles(draw: st.DrawFn) -> IcpProfile:
    n = draw(st.integers(1, 6))
    return IcpProfile(name="p", rules=tuple(draw(_rules(f"r{i}")) for i in range(n)))


_leads = st.dictionaries(st.sampled_from(_FIELDS), _values)


@given(_profiles(), _leads)
def test_percent_is_within_0_and_100_and_points_never_exceed_max(
    profile: IcpProfile, lead: dict[str, Any]
) -> None:
    result = score(profile, lead)
    assert Decimal(0) <= result.percent <= Decimal(100)
    assert result.points <= result.max_points
    assert len(result.explanation) == len(profile.rules)
    assert [r.label for r in result.explanation] == [r.label for r in profile.rules]
    if not result.passed_gates:
        assert result.percent == 0 and result.points <= 0 and result.failed_gates


@given(_profiles(), _leads, st.integers(1, 30), st.booleans())
def test_adding_a_positive_rule_moves_percent_the_right_way(
    profile: IcpProfile, lead: dict[str, Any], points: int, lead_matches: bool
) -> None:
    # a "present"/"absent" rule on field z, which the lead has or not, matches iff lead_matches
    extra = IcpRule(field="z", op="present", points=points, label="extra")
    lead_z = {**lead, "z": "yes"} if lead_matches else dict(lead)
    before = score(profile, lead_z).percent
    after = score(IcpProfile(name="p", rules=(*profile.rules, extra)), lead_z).percent
    if lead_matches:
        assert after >= before  # (p+k)/(M+k) ≥ p/M since p ≤ M
    else:
        assert after <= before  # p/(M+k) ≤ p/M for p ≥ 0; clamped to 0 otherwise


@given(
    st.decimals(-10, 110, places=2, allow_nan=False, allow_infinity=False),
    st.decimals(-10, 200, places=2, allow_nan=False, allow_infinity=False),
    st.decimals(0, 10, places=2, allow_nan=False, allow_infinity=False),
)
def test_grade_never_gets_worse_as_fit_or_engagement_rise(
    percent: Decimal, behaviour: Decimal, step: Decimal
) -> None:
    base = grade(percent, behaviour)
    # "A1" < "B1" < "C3" as strings: a lower string is a better grade, per letter and digit
    assert grade(percent + step, behaviour)[0] <= base[0]
    assert grade(percent, behaviour + step)[1] <= base[1]
