"""Vectorised twins of the per-lead scorers, for rescoring a million leads at once.

The per-lead functions (attribute_score.score, behaviour.points, pls.probability) stay the
reference: a property test asserts these give the same numbers on random leads and events.
How the batch path keeps them identical:

- Attribute: each rule is evaluated once per *distinct* value of its field with the reference
  matcher, then spread to the column by the value's code; presence rules use a fast blank test.
  The percent is integer arithmetic (half up), as the reference's Decimal quantize.
- Behaviour: decay factors are the same float `0.5 ** (age_days / half_life)` (ages in whole
  microseconds, as timedelta division gives), turned into integers of 1e-10 (the reference's
  10 places, half even; values within 1e-4 of a tie are settled by Decimal) and multiplied by
  the points exactly in int64; sums, caps and the half-up rounding to cents are exact integers.
  Caps must have at most 10 decimal places (they are points; the reference allows more).
- PLS: the same float products in the same order (a skipped value multiplies by 1.0, which is
  exact) and Python's own `round(x, 2)` on the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from core.sales.attribute_score import _MISSING, IcpProfile, _matches, _norm
from core.sales.behaviour import PLACES, BehaviourModel
from core.sales.pls import FALSY_IS_VALUE_FIELDS, STAGE_FIELD, FieldValue, FrequencyTable

Ints = npt.NDArray[np.int64]
UNIT = 10**10  # one point in units of the reference's 10th decimal place
_DAY_US = 86_400_000_000


def factorize(values: Sequence[Any]) -> tuple[Ints, list[Any]]:
    """Codes per value and the distinct values in first-seen order."""
    distinct = list(dict.fromkeys(values))
    index = {v: i for i, v in enumerate(distinct)}
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
    return codes, distinct


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is str:
        return not value.strip()
    return _norm(value) is _MISSING


# ----------------------------------------------------------------------------- attribute
@dataclass(frozen=True)
class AttributeBatch:
    points: Ints
    percent_cents: Ints  # percent × 100
    matched: npt.NDArray[np.bool_]  # n × rules
    failed_gate: npt.NDArray[np.bool_]


def attribute(profile: IcpProfile, columns: Mapping[str, Sequence[Any]], n: int) -> AttributeBatch:
    """`attribute_score.score` over n leads given as columns (absent field: all missing)."""
    rules = profile.rules
    matched = np.zeros((n, len(rules)), dtype=np.bool_)
    factorized: dict[str, tuple[Ints, list[Any]]] = {}
    missing: dict[str, npt.NDArray[np.bool_]] = {}
    for j, rule in enumerate(rules):
        column = columns.get(rule.field)
        if column is None:
            matched[:, j] = _matches(rule, None)
            continue
        if rule.op in ("present", "absent"):
            if rule.field not in missing:
                missing[rule.field] = np.fromiter(
                    ((v == "" or v.isspace()) if type(v) is str else _missing(v) for v in column),
                    np.bool_,
                    count=n,
                )
            gone = missing[rule.field]
            matched[:, j] = gone if rule.op == "absent" else ~gone
            continue
        if rule.field not in factorized:
            factorized[rule.field] = factorize(column)
        codes, distinct = factorized[rule.field]
        verdicts = np.fromiter((_matches(rule, v) for v in distinct), np.bool_, len(distinct))
        matched[:, j] = verdicts[codes]
    weights = np.array([r.points for r in rules], dtype=np.int64)
    points = matched.astype(np.int64) @ weights
    gates = np.array([r.gate for r in rules], dtype=np.bool_)
    failed: npt.NDArray[np.bool_] = np.asarray((~matched & gates).any(axis=1))
    points = np.where(failed, np.minimum(points, 0), points)
    max_points = int(weights[weights > 0].sum())
    cents = np.zeros(n, dtype=np.int64)
    if max_points > 0:
        positive = points > 0
        scaled = points[positive] * 10_000
        cents[positive] = np.minimum((2 * scaled + max_points) // (2 * max_points), 10_000)
    return AttributeBatch(points, cents, matched, failed)


# ----------------------------------------------------------------------------- behaviour
@dataclass(frozen=True)
class BehaviourBatch:
    total_cents: Ints
    pair_lead: Ints  # per (lead, type) with a scored event: the lead
    pair_type: list[str]
    pair_cents: Ints


def _half_even_div(numerator: Ints, divisor: int) -> Ints:
    quotient = numerator // divisor
    remainder = numerator - quotient * divisor
    up = (2 * remainder > divisor) | ((2 * remainder == divisor) & (quotient % 2 == 1))
    return np.asarray(quotient + up, dtype=np.int64)


def _cents_half_up(units: Ints) -> Ints:
    step = UNIT // 100
    return np.asarray(np.sign(units) * ((np.abs(units) + step // 2) // step), dtype=np.int64)


def _factor_units(age_us: Ints, half_life: Decimal) -> Ints:
    exponent = (age_us.astype(np.float64) / _DAY_US) / float(half_life)
    factor = np.power(0.5, exponent)
    scaled = factor * UNIT
    units = np.floor(scaled + 0.5).astype(np.int64)
    near = np.nonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-4)[0]
    for i in near.tolist():
        exact = Decimal(float(factor[i])).quantize(PLACES, ROUND_HALF_EVEN)
        units[i] = int(exact * UNIT)
    return units


def _contribution(points: Decimal, factor: Ints) -> Ints:
    exponent = points.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent >= 0:
        return factor * int(points)
    mantissa = int(points.scaleb(-exponent))
    return _half_even_div(factor * mantissa, 10**-exponent)


def behaviour(
    model: BehaviourModel, lead: Ints, types: Sequence[str], age_us: Ints, n: int
) -> BehaviourBatch:
    """`behaviour.points` over n leads; events as parallel arrays (lead index, type, age µs)."""
    codes, distinct = factorize(types)
    return behaviour_codes(model, lead, codes, distinct, age_us, n)


def behaviour_codes(
    model: BehaviourModel, lead: Ints, codes: Ints, distinct: Sequence[str], age_us: Ints, n: int
) -> BehaviourBatch:
    """`behaviour` with the event types given as codes into `distinct` (each name once)."""
    units = np.zeros(len(codes), dtype=np.int64)
    group_of = np.full(len(codes), -1, dtype=np.int64)
    scored = np.zeros(len(codes), dtype=np.bool_)
    groups: list[str] = []
    in_range = age_us >= 0
    if model.window_days is not None:
        in_range &= age_us <= model.window_days * _DAY_US
    for code, kind in enumerate(distinct):
        rule = model.rule_for(kind)
        if rule is None:
            continue
        rows = np.nonzero((codes == code) & in_range)[0]
        if rule.half_life_days is None:
            factor = np.full(len(rows), UNIT, dtype=np.int64)
        else:
            factor = _factor_units(age_us[rows], rule.half_life_days)
        units[rows] = _contribution(rule.points, factor)
        scored[rows] = True
        if rule.group is not None:
            if rule.group not in groups:
                groups.append(rule.group)
            group_of[rows] = groups.index(rule.group)
    total = np.zeros(n, dtype=np.int64)
    negative = scored & (units < 0)
    np.add.at(total, lead[negative], units[negative])
    positive = scored & (units >= 0)
    plain = positive & (group_of < 0)
    np.add.at(total, lead[plain], units[plain])
    for g, name in enumerate(groups):
        rows = positive & (group_of == g)
        raw = np.zeros(n, dtype=np.int64)
        np.add.at(raw, lead[rows], units[rows])
        cap = model.group_caps.get(name)
        if cap is not None:
            raw = np.minimum(raw, int(cap * UNIT))
        total += raw
    keys = lead[scored] * max(len(distinct), 1) + codes[scored]
    pairs, inverse = np.unique(keys, return_inverse=True)
    sums = np.zeros(len(pairs), dtype=np.int64)
    np.add.at(sums, inverse, units[scored])
    width = max(len(distinct), 1)
    return BehaviourBatch(
        total_cents=_cents_half_up(total),
        pair_lead=pairs // width,
        pair_type=[distinct[c] for c in (pairs % width).tolist()],
        pair_cents=_cents_half_up(sums),
    )


# ----------------------------------------------------------------------------- PLS
def pls(
    table: FrequencyTable, values: Mapping[str, Sequence[FieldValue]], n: int
) -> list[float | None]:
    """`pls.probability` of n open leads at the first stage with no team (all-teams view).

    `values` holds the configured fields in the order the per-lead `Lead.values` lists them.
    """
    if not table.stages:
        return [None] * n
    first = min(table.stages, key=lambda s: (s.sequence, s.id))
    totals: dict[str, dict[str, list[float]]] = {}
    field_totals: dict[str, list[float]] = {}  # running sums in row order, as the reference
    for (_team, name, value), counts in table.rows.items():
        row = totals.setdefault(name, {}).setdefault(value, [0.0, 0.0])
        row[0] += counts.won
        row[1] += counts.lost
        running = field_totals.setdefault(name, [0.0, 0.0])
        running[0] += counts.won
        running[1] += counts.lost
    prior = totals.get(STAGE_FIELD, {}).get(str(first.id))
    if prior is None or not prior[0] or not prior[1]:
        return [None] * n
    team_won, team_lost = prior
    won = np.full(n, team_won / (team_won + team_lost))
    lost = np.full(n, team_lost / (team_won + team_lost))
    won *= prior[0] / team_won  # the stage feature (first stage: its own totals)
    lost *= prior[1] / team_lost
    for name, column in values.items():
        field_rows = totals.get(name, {})
        won_total, lost_total = field_totals.get(name, [0.0, 0.0])
        if not won_total or not lost_total:
            continue
        falsy_value = name in FALSY_IS_VALUE_FIELDS
        codes, distinct = factorize(column)
        won_f, lost_f = np.ones(len(distinct)), np.ones(len(distinct))
        for i, value in enumerate(distinct):
            key = str(value) if value else (str(False) if falsy_value else None)
            pair = field_rows.get(key) if key is not None else None
            if pair is not None:
                won_f[i], lost_f[i] = pair[0] / won_total, pair[1] / lost_total
        won *= won_f[codes]
        lost *= lost_f[codes]
    out: list[float | None] = []
    for w, total in zip(won.tolist(), (won + lost).tolist(), strict=True):
        if total == 0:
            out.append(None)
        else:
            out.append(min(max(round(100 * w / total, 2), 0.01), 99.99))
    return out
