"""Predictive lead scoring (PLS): Odoo's naive Bayes over won/lost frequencies, reproduced.

Formulas and quirks follow ../shared/research/l2c-anchors.md §b1 (Odoo `crm_lead.py`, section
"PLS"), so a customer moving from Odoo sees the same numbers:

- a frequency row counts, per team, how often a (field, value) pair was seen on won and on lost
  leads; a new row starts at +0.1 on both sides (smoothing), a decrement never leaves a count at
  or below zero (it snaps to 0.1);
- a won lead counts for **every** stage, a lost lead for every stage up to its own sequence, so
  the first stage's counts are the team's won and lost totals (the prior);
- scoring multiplies the prior by each known value's share of its field (the stage's share of the
  team totals), and compares the won score with the lost score.

Everything is pure: tables are immutable values, `learn`/`unlearn` return a new table. Rows of
leads without a team (team None) feed only the all-teams aggregate, which is what a lead with no
team, or with a team the table has never seen, is scored against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from core.errors import DataError

STAGE_FIELD = "stage_id"
TAG_FIELD = "tag_id"
# Odoo keeps False as a real value for these two (an unknown e-mail/phone quality is a signal).
FALSY_IS_VALUE_FIELDS = frozenset({"email_state", "phone_state"})
SMOOTHING = 0.1  # "should be +1 but it weights too much on small recordsets" (Odoo)
DEFAULT_TAG_THRESHOLD = 50

Outcome = Literal["won", "lost"]
LeadState = Literal["open", "won", "lost"]
FieldValue = str | int | bool | None
TeamId = int | None
RowKey = tuple[TeamId, str, str]  # (team, field, value as text, as Odoo stores it)


@dataclass(frozen=True, slots=True)
class Stage:
    """A pipeline stage; `sequence` orders it, a won stage scores 100 outright."""

    id: int
    sequence: int
    is_won: bool = False


@dataclass(frozen=True, slots=True)
class Lead:
    """The PLS view of a lead: its stage, team, configured field values and tags.

    `values` holds only the configured PLS fields (Odoo's `crm.pls_fields`); empty values are
    skipped except for `email_state`/`phone_state`, where a falsy value is the value "False".
    """

    stage: Stage | None
    team: TeamId = None
    values: Mapping[str, FieldValue] = field(default_factory=dict)
    tags: frozenset[int] = frozenset()
    state: LeadState = "open"


@dataclass(frozen=True, slots=True)
class Counts:
    """Won and lost counts of one row (floats because of the 0.1 smoothing)."""

    won: float
    lost: float


@dataclass(frozen=True)
class FrequencyTable:
    """The frequency rows of every team, plus the stages they were learned against."""

    stages: tuple[Stage, ...]
    rows: Mapping[RowKey, Counts] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def empty(cls, stages: Iterable[Stage]) -> FrequencyTable:
        return cls(stages=tuple(stages))

    def get(self, team: TeamId, field_name: str, value: FieldValue) -> Counts | None:
        return self.rows.get((team, field_name, str(value)))


def _features(lead: Lead) -> list[tuple[str, str]]:
    """The (field, value-as-text) pairs Odoo reads from a lead, stage first, tags last."""
    pairs: list[tuple[str, str]] = []
    if lead.stage is not None:
        pairs.append((STAGE_FIELD, str(lead.stage.id)))
    for name, value in lead.values.items():
        if name in (STAGE_FIELD, TAG_FIELD, "team_id"):
            continue
        if value:
            pairs.append((name, str(value)))
        elif name in FALSY_IS_VALUE_FIELDS:
            pairs.append((name, str(False)))
    pairs.extend((TAG_FIELD, str(tag)) for tag in sorted(lead.tags))
    return pairs


def _contributions(
    stages: tuple[Stage, ...], lead: Lead, outcome: Outcome
) -> dict[RowKey, tuple[int, int]]:
    """The (won, lost) increments one closed lead brings to each row (§b1 "Training")."""
    won, lost = (1, 0) if outcome == "won" else (0, 1)
    out: dict[RowKey, tuple[int, int]] = {}
    for name, value in _features(lead):
        if name != STAGE_FIELD:
            out[(lead.team, name, value)] = (won, lost)
            continue
        assert lead.stage is not None
        if not any(s.id == lead.stage.id for s in stages):
            raise DataError(
                f"lead stage {lead.stage.id} is not a stage of the frequency table",
                hint="build the table with every stage of the pipeline",
            )
        if outcome == "won":
            counted = stages
        else:
            counted = tuple(s for s in stages if s.sequence <= lead.stage.sequence)
        for stage in counted:
            out[(lead.team, STAGE_FIELD, str(stage.id))] = (won, lost)
    return out


def _apply(table: FrequencyTable, lead: Lead, outcome: Outcome, step: int) -> FrequencyTable:
    rows = dict(table.rows)
    for key, (won, lost) in _contributions(table.stages, lead, outcome).items():
        current = rows.get(key)
        if current is not None:
            new_won = current.won + won * step
            new_lost = current.lost + lost * step
            rows[key] = Counts(
                new_won if new_won > 0 else SMOOTHING, new_lost if new_lost > 0 else SMOOTHING
            )
        elif step > 0:
            rows[key] = Counts(won + SMOOTHING, lost + SMOOTHING)
        # Decrementing a row that does not exist leaves it absent. Odoo would insert it with
        # +1 (its create path ignores the step's sign); nothing was learned, so nothing to undo.
    return FrequencyTable(stages=table.stages, rows=MappingProxyType(rows))


def learn(table: FrequencyTable, lead: Lead, outcome: Outcome) -> FrequencyTable:
    """Count a lead that was just won or lost (Odoo's live increment)."""
    return _apply(table, lead, outcome, 1)


def unlearn(table: FrequencyTable, lead: Lead, outcome: Outcome) -> FrequencyTable:
    """Take back a lead leaving `outcome` (reactivated or reopened); counts floor at 0.1."""
    return _apply(table, lead, outcome, -1)


def rebuild(leads: Iterable[Lead], *, stages: Iterable[Stage]) -> FrequencyTable:
    """Recount from scratch over the closed leads, as Odoo's nightly cron does.

    Counts are summed first and smoothed once, which equals learning the leads one by one
    (up to float rounding). Open leads are ignored; the caller applies the training window
    (Odoo: created on or after `crm.pls_start_date`).
    """
    stage_tuple = tuple(stages)
    sums: dict[RowKey, tuple[int, int]] = {}
    for lead in leads:
        if lead.state == "open":
            continue
        for key, (won, lost) in _contributions(stage_tuple, lead, lead.state).items():
            old_won, old_lost = sums.get(key, (0, 0))
            sums[key] = (old_won + won, old_lost + lost)
    rows = {key: Counts(won + SMOOTHING, lost + SMOOTHING) for key, (won, lost) in sums.items()}
    return FrequencyTable(stages=stage_tuple, rows=MappingProxyType(rows))


@dataclass
class _FieldView:
    values: dict[str, Counts] = field(default_factory=dict)
    won_total: float = 0.0
    lost_total: float = 0.0


def _view(
    table: FrequencyTable, team: TeamId, fields: set[str], tag_threshold: float
) -> dict[str, _FieldView]:
    """The rows a lead is scored against: its team's, or the sum over all teams (team None).

    Tag rows under the threshold are dropped row by row before summing, as Odoo does.
    """
    view: dict[str, _FieldView] = {name: _FieldView() for name in fields}
    for (row_team, name, value), counts in table.rows.items():
        if name not in fields or (team is not None and row_team != team):
            continue
        if name == TAG_FIELD and counts.won + counts.lost < tag_threshold:
            continue
        fv = view[name]
        old = fv.values.get(value, Counts(0.0, 0.0))
        fv.values[value] = Counts(old.won + counts.won, old.lost + counts.lost)
        fv.won_total += counts.won
        fv.lost_total += counts.lost
    return view


def probability(
    table: FrequencyTable, lead: Lead, *, tag_threshold: float = DEFAULT_TAG_THRESHOLD
) -> float | None:
    """The lead's chance to be won, in percent with 2 decimals (§b1 "Scoring a lead").

    No stage scores 0 and a won stage 100. None means "cannot score": the team's won or lost
    total (read on the first stage) is zero. Like Odoo, the result is clamped to
    [0.01, 99.99] so an open lead never reads as certain.
    """
    if lead.stage is None:
        return 0.0
    if lead.stage.is_won:
        return 100.0
    features = _features(lead)
    fields = {name for name, _ in features}
    known_team = lead.team is not None and any(
        row_team == lead.team and name in fields for row_team, name, _ in table.rows
    )
    view = _view(table, lead.team if known_team else None, fields, tag_threshold)

    if not table.stages:
        return None
    first = min(table.stages, key=lambda s: (s.sequence, s.id))
    prior = view[STAGE_FIELD].values.get(str(first.id), Counts(0.0, 0.0))
    team_won, team_lost = prior.won, prior.lost
    if not team_won or not team_lost:
        return None

    score_won = team_won / (team_won + team_lost)
    score_lost = team_lost / (team_won + team_lost)
    for name, value in features:
        fv = view[name]
        counts = fv.values.get(value)
        if counts is None:
            continue
        total_won, total_lost = (
            (team_won, team_lost) if name == STAGE_FIELD else (fv.won_total, fv.lost_total)
        )
        if not total_won or not total_lost:
            continue
        score_won *= counts.won / total_won
        score_lost *= counts.lost / total_lost
    if score_won + score_lost == 0:  # only by float underflow; Odoo would divide by zero
        return None
    percent = round(100 * score_won / (score_won + score_lost), 2)
    return min(max(percent, 0.01), 99.99)
