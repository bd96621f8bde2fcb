"""Behaviour points: touchpoints scored with per-type half-life decay and per-group caps.

The engagement half of triple scoring (issue 5, item 3(b); research note l2c-anchors.md §(a)
"Scoring", row "Behavior points", after HubSpot's engagement score with group limits). The
decay is the one §b9 uses for time-decay attribution, with age measured up to `as_of`:

    contribution = points × 0.5 ** (age_days / half_life_days)     (no half-life: no decay)

Rules, in order:

1. An event's rule is the rule of its type; a dotted type falls back to its prefix, so
   `returned.no_budget` uses `returned` unless it has a rule of its own (per-reason penalties).
   Types with no rule score nothing and are reported, never refused: connectors deliver custom
   types before anyone configures them.
2. Events after `as_of` are **ignored** (and counted), not refused: scoring as of a past date
   (backtests, "why was this lead A1 last week") must not see later events, and connector clock
   skew must not cost a lead its score. Events older than the model's window are ignored too
   (an event exactly `window_days` old still counts).
3. A group's positive contributions are capped **after decay**: min(sum of positives, cap).
   Negative contributions in the group are added after the cap, so a penalty always bites and
   a heavy e-mail reader cannot hide a return. The event's own `group` wins over its rule's.

Precision. The decay factor is computed with float (`0.5 ** x`, ~0.1 µs against ~50 µs for
Decimal power, which matters when a million leads are rescored) and quantized to 10 decimal
places; each contribution is quantized to 10 places too, so every sum after that is exact and
the result does not depend on event order. One half-life gives exactly 0.5, two give 0.25.
Totals and per-type figures are rounded once, to 2 places, half up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from core.errors import DataError

EMAIL_OPEN = "email_open"
EMAIL_CLICK = "email_click"
WEBINAR = "webinar"
DOWNLOAD = "download"
VISIT = "visit"
FORM = "form"
RETURNED = "returned"  # a rep returned the lead to a pool; `returned.<reason_code>` per reason

PLACES = Decimal("0.0000000001")  # 10 places for factors and contributions: sums stay exact
CENT = Decimal("0.01")
MAX_POINTS = Decimal(1_000_000)  # bounds keep every exact sum well inside 28 digits
_ZERO = Decimal(0)
_DAY = timedelta(days=1)

IGNORED_FUTURE = "after_as_of"
IGNORED_OLD = "outside_window"
IGNORED_UNSCORED = "no_rule"


class EventRule(BaseModel):
    """Points of one event type; `half_life_days` None means the points never decay."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    points: Decimal = Field(ge=-MAX_POINTS, le=MAX_POINTS)
    half_life_days: Decimal | None = Field(default=None, gt=0)
    group: str | None = Field(default=None, min_length=1)


class BehaviourModel(BaseModel):
    """Rules per event type, caps per group (max points a group adds) and an optional window.

    A group without a cap is only a label. `window_days` None keeps events of any age.
    """

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    rules: dict[str, EventRule]
    group_caps: dict[str, Annotated[Decimal, Field(ge=0, le=MAX_POINTS)]] = Field(
        default_factory=dict
    )
    window_days: int | None = Field(default=None, gt=0)

    def rule_for(self, event_type: str) -> EventRule | None:
        """The rule of `event_type`, else of its dotted prefixes, longest first."""
        key = event_type
        while True:
            rule = self.rules.get(key)
            if rule is not None or "." not in key:
                return rule
            key = key.rsplit(".", 1)[0]


DEFAULT_MODEL = BehaviourModel(
    rules={
        EMAIL_OPEN: EventRule(points=Decimal(1), half_life_days=Decimal(30), group="email"),
        EMAIL_CLICK: EventRule(points=Decimal(3), half_life_days=Decimal(30), group="email"),
        WEBINAR: EventRule(points=Decimal(10), half_life_days=Decimal(60)),
        DOWNLOAD: EventRule(points=Decimal(5), half_life_days=Decimal(60)),
        VISIT: EventRule(points=Decimal(1), half_life_days=Decimal(14), group="web"),
        FORM: EventRule(points=Decimal(15), half_life_days=Decimal(90)),
        RETURNED: EventRule(points=Decimal(-20)),
    },
    group_caps={"email": Decimal(30), "web": Decimal(20)},
    window_days=365,
)


@dataclass(frozen=True, slots=True)
class Touchpoint:
    """One behaviour event of a lead; `occurred_at` must be timezone-aware."""

    type: str
    occurred_at: datetime
    group: str | None = None


def return_penalty(returned_at: datetime, reason_code: str) -> Touchpoint:
    """The negative event a return to a pool produces: type `returned.<reason_code>`."""
    if not reason_code:
        raise DataError("a return needs a reason code", field="reason_code", code="missing")
    return Touchpoint(f"{RETURNED}.{reason_code}", returned_at)


@dataclass(frozen=True, slots=True)
class CappedGroup:
    """A group whose cap bit: its positive points after decay, and the cap that replaced them."""

    raw: Decimal
    cap: Decimal


@dataclass(frozen=True, slots=True)
class BehaviourScore:
    """The score and why. `by_type` is decayed points per type *before* caps (2 places)."""

    total: Decimal
    by_type: Mapping[str, Decimal]
    capped_groups: Mapping[str, CappedGroup]
    ignored: Mapping[str, int]
    explanation: tuple[str, ...]


def decay_factor(age: timedelta, half_life_days: Decimal | None) -> Decimal:
    """0.5 ** (age in days / half-life), float-computed, quantized to 10 places (see module)."""
    if half_life_days is None:
        return Decimal(1)
    exponent = (age / _DAY) / float(half_life_days)
    return Decimal(0.5**exponent).quantize(PLACES, ROUND_HALF_EVEN)


def points(
    model: BehaviourModel, events: Iterable[Touchpoint], *, as_of: datetime
) -> BehaviourScore:
    """Score `events` as of `as_of` under `model` (rules in the module docstring)."""
    if not _aware(as_of):
        raise ValueError(f"as_of must be timezone-aware: {as_of!r}")
    by_type: dict[str, Decimal] = {}
    counts: Counter[str] = Counter()
    ignored: Counter[str] = Counter()
    unscored: set[str] = set()
    positives: dict[str | None, Decimal] = {}  # per group; None = ungrouped
    negatives = _ZERO
    for event in events:
        age = _age(event, as_of)
        rule = model.rule_for(event.type)
        skip = _skip_reason(model, age, rule)
        if skip is not None or rule is None:
            ignored[skip or IGNORED_UNSCORED] += 1
            if skip in (None, IGNORED_UNSCORED):
                unscored.add(event.type)
            continue
        value = (rule.points * decay_factor(age, rule.half_life_days)).quantize(
            PLACES, ROUND_HALF_EVEN
        )
        by_type[event.type] = by_type.get(event.type, _ZERO) + value
        counts[event.type] += 1
        if value < 0:
            negatives += value
        else:
            group = event.group or rule.group
            positives[group] = positives.get(group, _ZERO) + value

    total = negatives
    capped: dict[str, CappedGroup] = {}
    for group, raw in positives.items():
        cap = None if group is None else model.group_caps.get(group)
        if group is not None and cap is not None and raw > cap:
            capped[group] = CappedGroup(raw=_cents(raw), cap=cap)
            total += cap
        else:
            total += raw
    rounded = {t: _cents(v) for t, v in sorted(by_type.items())}
    return BehaviourScore(
        total=_cents(total),
        by_type=MappingProxyType(rounded),
        capped_groups=MappingProxyType(dict(sorted(capped.items()))),
        ignored=MappingProxyType(dict(ignored)),
        explanation=_explain(model, as_of, rounded, counts, capped, ignored, unscored),
    )


def _age(event: Touchpoint, as_of: datetime) -> timedelta:
    if not _aware(event.occurred_at):
        raise DataError(
            f"touchpoint {event.type!r} has a naive timestamp", field="occurred_at", code="naive"
        )
    return as_of - event.occurred_at


def _skip_reason(model: BehaviourModel, age: timedelta, rule: EventRule | None) -> str | None:
    if age < timedelta(0):
        return IGNORED_FUTURE
    if model.window_days is not None and age > timedelta(days=model.window_days):
        return IGNORED_OLD
    return IGNORED_UNSCORED if rule is None else None


def _explain(
    model: BehaviourModel,
    as_of: datetime,
    by_type: Mapping[str, Decimal],
    counts: Mapping[str, int],
    capped: Mapping[str, CappedGroup],
    ignored: Mapping[str, int],
    unscored: set[str],
) -> tuple[str, ...]:
    lines = [f"{t}: {counts[t]} event(s), {v} points after decay" for t, v in by_type.items()]
    lines += [f"group {g}: {c.raw} points capped at {c.cap}" for g, c in sorted(capped.items())]
    if ignored.get(IGNORED_FUTURE):
        lines.append(f"{ignored[IGNORED_FUTURE]} event(s) after {as_of.isoformat()} ignored")
    if ignored.get(IGNORED_OLD):
        lines.append(f"{ignored[IGNORED_OLD]} event(s) older than {model.window_days} days ignored")
    if unscored:
        lines.append(f"no rule, 0 points: {', '.join(sorted(unscored))}")
    return tuple(lines)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def _aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None
