"""Attribute (fit) score against a declarative ideal-customer profile, and the A1–C3 grade.

Issue 5 item 3(a); research note l2c-anchors.md "### Scoring", row "Attribute score vs target
profile (fit)": HubSpot's fit score is static properties with points, and its combined score maps
Fit × Engagement onto an A1–C3 matrix. Ours adds must-have gates, negative points and a
per-rule explanation, and keeps the profile declarative (pydantic, strict, frozen, no extra
keys) so it can be stored as JSON and validated on the way in.

Definitions (fixed, tested):

- ``points`` = sum of the points of the matched rules (negative rules subtract).
- ``max_points`` = sum of the **positive** points of all rules, matched or not: the best a lead
  can reach. Negative rules only ever take points away, so they do not raise the ceiling.
- ``percent`` = ``100 × points / max_points`` rounded half-up to 0.01, clamped to 0..100;
  0 when ``max_points`` is 0. Because ``points ≤ max_points`` always holds, adding a positive
  rule the lead matches never lowers the percent ((p+k)/(M+k) ≥ p/M when p ≤ M), and adding one
  it does not match never raises it.
- A failed gate caps ``points`` at 0 (``min(points, 0)``: a negative total stays visible),
  so the percent is 0; ``failed_gates`` names the gates that failed, in rule order.

Value comparison is type-safe: numbers (int, float, Decimal) compare as Decimal; text compares
case-insensitively after strip (``casefold``); booleans equal only booleans; text is never read
as a number (the canonical store types its attributes; guessing "200" = 200 hides mapping bugs).
A missing attribute (key absent, None, blank text, empty collection, NaN) never matches any
operator except ``absent`` (so ``not_in`` is False for it: unknown is not "outside the list").
A collection attribute (tags) matches ``in`` when any item is listed, ``not_in`` when none is,
and ``contains`` when one item equals the value; ``eq`` and the number operators never match it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal, NamedTuple, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_serializer,
    field_validator,
    model_validator,
)

Operator = Literal["eq", "in", "not_in", "gte", "lte", "between", "present", "absent", "contains"]
Scalar = bool | int | Decimal | str
RuleValue = Scalar | tuple[Scalar, ...] | None
Grade = Literal["A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "C3"]

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)
_GRADES: tuple[tuple[Grade, Grade, Grade], ...] = (
    ("A1", "A2", "A3"),
    ("B1", "B2", "B3"),
    ("C1", "C2", "C3"),
)
_STRICT = ConfigDict(strict=True, frozen=True, extra="forbid")


def _json_friendly(value: Any) -> Any:
    """Accept what ``json.loads`` gives (lists, floats) while the models stay strict.

    Strict pydantic refuses a list for a tuple and a float for a Decimal in Python mode; a
    profile read from a JSON column arrives exactly so. Floats go through ``str`` so 0.1 stays
    0.1, not its binary expansion. Nothing else is coerced: "10" stays text, True stays bool.
    """
    if isinstance(value, list | tuple):
        return tuple(_json_friendly(item) for item in value)
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        raise ValueError(f"numbers must be finite, got {value}")
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _number_for_json(value: Any) -> Any:
    """Write Decimals as JSON numbers, not strings, so a stored profile reads back the same.

    Text stays text on the way in (no guessing), so "2.5" must not come back for 2.5. Integral
    values are written as ints; others as the shortest float, which ``_json_friendly`` turns
    back into the same Decimal (exact up to 15 significant digits, ample for thresholds).
    """
    if isinstance(value, tuple):
        return [_number_for_json(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


class IcpRule(BaseModel):
    """One rule: ``field`` ``op`` ``value`` earns ``points``; a ``gate`` is a must-have."""

    model_config = _STRICT

    field: _Text
    op: Operator
    value: RuleValue = None
    points: int = 0
    gate: bool = False
    label: _Text

    @field_validator("value", mode="before")
    @classmethod
    def _accept_json(cls, value: Any) -> Any:
        return _json_friendly(value)

    @field_serializer("value", when_used="json")
    def _value_as_json(self, value: RuleValue) -> Any:
        return _number_for_json(value)

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Self:
        """Refuse a value the operator cannot use, so a stored profile never fails at scoring."""
        problem = _value_problem(self.op, self.value)
        if problem:
            raise ValueError(f"{self.op}: {problem}")
        return self


def _value_problem(op: Operator, value: RuleValue) -> str | None:
    """What is wrong with ``value`` for ``op``, or None when it fits."""
    items = value if isinstance(value, tuple) else (value,)
    if any(isinstance(v, str) and not v.strip() for v in items):
        return "text values must not be blank"
    if op in ("present", "absent"):
        return None if value is None else f"takes no value, got {value!r}"
    if op in ("eq", "contains"):
        single = value is not None and not isinstance(value, tuple)
        return None if single else "needs one value (text, number or boolean)"
    if op in ("in", "not_in"):
        listed = isinstance(value, tuple) and len(value) > 0
        return None if listed else "needs a non-empty list of values"
    if op in ("gte", "lte"):
        return None if _is_number(value) else f"needs a number, got {value!r}"
    # between
    if not (isinstance(value, tuple) and len(value) == 2 and all(_is_number(v) for v in value)):
        return f"needs [low, high] numbers, got {value!r}"
    low, high = (Decimal(v) for v in value)
    return None if low <= high else f"needs low <= high, got {value!r}"


class IcpProfile(BaseModel):
    """An ideal-customer profile: rules evaluated independently, reported in this order."""

    model_config = _STRICT

    name: _Text
    rules: Annotated[tuple[IcpRule, ...], Field(min_length=1)]

    @field_validator("rules", mode="before")
    @classmethod
    def _accept_list(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _labels_unique(self) -> Self:
        """The explanation is read by label, so two rules may not share one."""
        seen: set[str] = set()
        for rule in self.rules:
            key = rule.label.casefold()
            if key in seen:
                raise ValueError(f"duplicate rule label {rule.label!r}")
            seen.add(key)
        return self


class RuleResult(NamedTuple):
    """One line of the explanation: what the rule is, what it gave, whether it matched."""

    label: str
    field: str
    points: int
    matched: bool


@dataclass(frozen=True, slots=True)
class AttributeScore:
    """The fit of one lead: totals, percent (module docstring) and one line per rule."""

    points: int
    max_points: int
    percent: Decimal
    passed_gates: bool
    explanation: tuple[RuleResult, ...]
    failed_gates: tuple[str, ...] = ()


class _Missing:
    """Marker for an attribute that is absent, None, blank, empty or NaN."""


_MISSING = _Missing()


def _norm(value: Any) -> Any:
    """The comparable form of one value (see the module docstring), or ``_MISSING``."""
    if value is None:
        return _MISSING
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return _MISSING if math.isnan(value) else Decimal(str(value))
    if isinstance(value, Decimal):
        return _MISSING if value.is_nan() else value
    if isinstance(value, str):
        text = value.strip().casefold()
        return text if text else _MISSING
    if isinstance(value, list | tuple | set | frozenset):
        items = tuple(n for n in (_norm(v) for v in value) if n is not _MISSING)
        return items if items else _MISSING
    return value  # another type (a date, say): equal only to itself, never ordered


def _same(left: Any, right: Any) -> bool:
    """Equality that keeps booleans apart from numbers (True == 1 in Python)."""
    return isinstance(left, bool) == isinstance(right, bool) and bool(left == right)


def _matches(rule: IcpRule, raw: Any) -> bool:
    lead = _norm(raw)
    if rule.op == "absent":
        return lead is _MISSING
    if lead is _MISSING:
        return False
    if rule.op == "present":
        return True
    target = _norm(rule.value)
    if rule.op == "eq":
        return _same(lead, target)
    if rule.op in ("in", "not_in"):
        items = lead if isinstance(lead, tuple) else (lead,)  # a collection: any item
        found = any(_same(item, t) for item in items for t in target)
        return found if rule.op == "in" else not found
    if rule.op == "contains":
        if isinstance(lead, tuple):
            return any(_same(item, target) for item in lead)
        return isinstance(lead, str) and isinstance(target, str) and target in lead
    if not _is_number(lead):
        return False
    if rule.op == "gte":
        return bool(lead >= target)
    if rule.op == "lte":
        return bool(lead <= target)
    low, high = target
    return bool(low <= lead <= high)


def score(profile: IcpProfile, lead_attributes: Mapping[str, Any]) -> AttributeScore:
    """Score one lead's attributes against ``profile``; pure and deterministic."""
    explanation: list[RuleResult] = []
    failed_gates: list[str] = []
    points = 0
    for rule in profile.rules:
        matched = _matches(rule, lead_attributes.get(rule.field))
        earned = rule.points if matched else 0
        points += earned
        if rule.gate and not matched:
            failed_gates.append(rule.label)
        explanation.append(RuleResult(rule.label, rule.field, earned, matched))
    max_points = sum(r.points for r in profile.rules if r.points > 0)
    if failed_gates:
        points = min(points, 0)
    percent = Decimal(0)
    if max_points > 0 and points > 0:
        ratio = Decimal(points) * _HUNDRED / Decimal(max_points)
        percent = min(ratio.quantize(_CENT, rounding=ROUND_HALF_UP), _HUNDRED)
    return AttributeScore(
        points=points,
        max_points=max_points,
        percent=percent,
        passed_gates=not failed_gates,
        explanation=tuple(explanation),
        failed_gates=tuple(failed_gates),
    )


class GradeThresholds(BaseModel):
    """Lower bounds (inclusive) of the A/B letters and the 1/2 digits; below them C / 3.

    Defaults after the HubSpot-style A1–C3 matrix (l2c-anchors.md "### Scoring"): letter from
    fit (A ≥ 70 %, B ≥ 40 %), digit from engagement (1 ≥ 50 points, 2 ≥ 20 points).
    """

    model_config = _STRICT

    attribute_a: Decimal = Decimal(70)
    attribute_b: Decimal = Decimal(40)
    behaviour_1: Decimal = Decimal(50)
    behaviour_2: Decimal = Decimal(20)

    @field_validator("*", mode="before")
    @classmethod
    def _accept_numbers(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
        return _json_friendly(value)

    @field_serializer("*", when_used="json")
    def _as_json_number(self, value: Decimal) -> Any:
        return _number_for_json(value)

    @model_validator(mode="after")
    def _descending(self) -> Self:
        if not Decimal(0) <= self.attribute_b < self.attribute_a <= _HUNDRED:
            raise ValueError(
                "attribute thresholds must descend within 0..100: "
                f"A ({self.attribute_a}) > B ({self.attribute_b})"
            )
        if not self.behaviour_2 < self.behaviour_1:
            raise ValueError(
                "behaviour thresholds must descend: "
                f"1 ({self.behaviour_1}) > 2 ({self.behaviour_2})"
            )
        return self


DEFAULT_THRESHOLDS = GradeThresholds()


def grade(
    attribute_percent: Decimal | int,
    behaviour_points: Decimal | int,
    thresholds: GradeThresholds = DEFAULT_THRESHOLDS,
) -> Grade:
    """The combined grade: letter = fit (attribute percent), digit = engagement (points)."""
    fit, engagement = Decimal(attribute_percent), Decimal(behaviour_points)
    if not (fit.is_finite() and engagement.is_finite()):
        raise ValueError("grade needs finite numbers")
    letter = _band(fit, thresholds.attribute_a, thresholds.attribute_b)
    digit = _band(engagement, thresholds.behaviour_1, thresholds.behaviour_2)
    return _GRADES[letter][digit]


def _band(value: Decimal, top: Decimal, middle: Decimal) -> int:
    """0 at or above ``top``, 1 at or above ``middle``, else 2 (bounds inclusive)."""
    if value >= top:
        return 0
    return 1 if value >= middle else 2
