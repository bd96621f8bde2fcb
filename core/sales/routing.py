"""Lead routing: an ordered rule ladder, then a member pick inside the target team.

Issue 5 item 2 and research note l2c-anchors.md, "Lead pools" table (rows "Pools per
industry/region" and "Rule-based assignment / capacity") and §b2. Where Odoo picks a team
by weighted random and breaks member ties at random (§b2 steps 2–3), we are deterministic
on purpose: the same batch routed from the same state gives the same answer, so the
simulation ("what would tonight's run do") is exactly what the real run will do.

1. The ladder: rules in order, each a conjunction of conditions on lead attributes
   (``eq`` / ``in`` / ``prefix`` / ``present``); the first rule that matches wins. The last
   rule must be a catch-all (no conditions) and no earlier rule may be one, so every lead
   has exactly one rule and no rule is unreachable. Outcomes name the rule, so counting
   catch-all hits is the "monitored catch-all" of the note.
2. A pool target: the lead lands in the pool with no owner.
3. A team target: ``round_robin`` takes the next available member after the last one
   assigned (in the team's member order); ``capacity_weighted`` takes the available member
   with the most remaining capacity (capacity − open leads), ties to the earlier member.
   Available means active, not on leave on the routing date (inclusive ranges) and below
   capacity, for both methods. With nobody available the lead goes to the team's overflow
   pool with no owner, and the reason lists why each member was skipped.

The state a run carries (last member per team, open leads per user) is an explicit input
and every call returns a new state; nothing here mutates its arguments. Open leads are
counted per user, not per team membership: a rep's load is the rep's load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import ConfigError, DataError

LeadAttributes = Mapping[str, str | None]
OutcomeCode = Literal["pool", "assigned", "no_available_member"]


class _Frozen(BaseModel):
    """Strict, frozen, closed: a rule set is configuration, typos must fail loudly."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


# ------------------------------------------------------------------ conditions


class Eq(_Frozen):
    """The attribute equals ``value`` exactly (normalise case and spaces upstream)."""

    op: Literal["eq"] = "eq"
    attribute: str = Field(min_length=1)
    value: str

    def matches(self, lead: LeadAttributes) -> bool:
        return lead.get(self.attribute) == self.value


class In(_Frozen):
    """The attribute is one of ``values``."""

    op: Literal["in"] = "in"
    attribute: str = Field(min_length=1)
    values: frozenset[str] = Field(min_length=1, strict=False)

    def matches(self, lead: LeadAttributes) -> bool:
        v = lead.get(self.attribute)
        return v is not None and v in self.values


class Prefix(_Frozen):
    """The attribute starts with ``value`` (postcodes, area codes, region codes)."""

    op: Literal["prefix"] = "prefix"
    attribute: str = Field(min_length=1)
    value: str = Field(min_length=1)

    def matches(self, lead: LeadAttributes) -> bool:
        v = lead.get(self.attribute)
        return v is not None and v.startswith(self.value)


class Present(_Frozen):
    """The attribute is there and not blank (None and whitespace-only count as absent)."""

    op: Literal["present"] = "present"
    attribute: str = Field(min_length=1)

    def matches(self, lead: LeadAttributes) -> bool:
        v = lead.get(self.attribute)
        return v is not None and v.strip() != ""


Condition = Annotated[Eq | In | Prefix | Present, Field(discriminator="op")]


# ------------------------------------------------------------------ ladder


class Target(_Frozen):
    """Where a rule sends a lead: a pool (no owner) or a team (a member is picked)."""

    kind: Literal["pool", "team"]
    id: str = Field(min_length=1)


class RoutingRule(_Frozen):
    """All conditions must hold; no conditions makes the rule a catch-all."""

    name: str = Field(min_length=1)
    conditions: tuple[Condition, ...] = Field(default=(), strict=False)
    target: Target

    @property
    def is_catch_all(self) -> bool:
        return not self.conditions

    def matches(self, lead: LeadAttributes) -> bool:
        return all(c.matches(lead) for c in self.conditions)


class RoutingLadder(_Frozen):
    """Rules in precedence order, first match wins, ending in exactly one catch-all."""

    rules: tuple[RoutingRule, ...] = Field(strict=False)

    @model_validator(mode="after")
    def _one_catch_all_last(self) -> RoutingLadder:
        if not self.rules or not self.rules[-1].is_catch_all:
            raise ValueError(
                "routing ladder has no catch-all: add a last rule with no conditions "
                "(e.g. to a general pool) so that every lead has a destination"
            )
        early = [r.name for r in self.rules[:-1] if r.is_catch_all]
        if early:
            raise ValueError(
                f"rule(s) {early} have no conditions and would hide every later rule: "
                "only the last rule may be a catch-all"
            )
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique (outcomes cite them): {dupes}")
        return self

    @property
    def catch_all(self) -> RoutingRule:
        return self.rules[-1]

    def match(self, lead: LeadAttributes) -> RoutingRule:
        """The first rule that matches; the catch-all guarantees there is one."""
        return next(r for r in self.rules if r.matches(lead))


# ------------------------------------------------------------------ teams


class Leave(_Frozen):
    """An absence, both ends inclusive."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Leave:
        if self.end < self.start:
            raise ValueError(f"leave ends ({self.end}) before it starts ({self.start})")
        return self

    def covers(self, on: date) -> bool:
        return self.start <= on <= self.end


class Member(_Frozen):
    """A team member; ``capacity`` is the most open leads the member may hold."""

    user_id: str = Field(min_length=1)
    capacity: int = Field(ge=0)
    active: bool = True
    leave: tuple[Leave, ...] = Field(default=(), strict=False)


class Team(_Frozen):
    """Members in their stable order (the round-robin order and the tie-break)."""

    id: str = Field(min_length=1)
    method: Literal["round_robin", "capacity_weighted"]
    members: tuple[Member, ...] = Field(strict=False)
    overflow_pool: str = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_members(self) -> Team:
        ids = [m.user_id for m in self.members]
        dupes = sorted({u for u in ids if ids.count(u) > 1})
        if dupes:
            raise ValueError(f"team {self.id!r} lists member(s) twice: {dupes}")
        return self


# ------------------------------------------------------------------ inputs, state, outcomes


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """The attributes routing looks at (industry, region, source, …) of one lead."""

    lead_id: str
    attributes: LeadAttributes


_K = TypeVar("_K")
_V = TypeVar("_V")


def _frozen_map(m: Mapping[_K, _V]) -> Mapping[_K, _V]:
    return MappingProxyType(dict(m))


@dataclass(frozen=True, slots=True)
class RoutingState:
    """What a run carries between leads: last member per team, open leads per user.

    The mappings are copied and read-only, so a state never changes after it is made.
    """

    last_assigned: Mapping[str, str] = field(default_factory=dict)
    open_leads: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "last_assigned", _frozen_map(self.last_assigned))
        object.__setattr__(self, "open_leads", _frozen_map(self.open_leads))

    def open_for(self, user_id: str) -> int:
        return self.open_leads.get(user_id, 0)


@dataclass(frozen=True, slots=True)
class RoutingOutcome:
    """One lead's fate: exactly one of ``owner`` and ``pool`` is set."""

    lead_id: str
    rule: str
    target: Target
    owner: str | None
    pool: str | None
    code: OutcomeCode
    reason: str


@dataclass(frozen=True, slots=True)
class RoutingRun:
    outcomes: tuple[RoutingOutcome, ...]
    state: RoutingState


# ------------------------------------------------------------------ member pick


def _skip_reason(member: Member, state: RoutingState, on: date) -> str | None:
    """Why the member cannot take a lead on ``on``, or None when available."""
    if not member.active:
        return "inactive"
    for lv in member.leave:
        if lv.covers(on):
            return f"on leave {lv.start.isoformat()}..{lv.end.isoformat()}"
    if state.open_for(member.user_id) >= member.capacity:
        return f"at capacity {state.open_for(member.user_id)}/{member.capacity}"
    return None


def pick_member(team: Team, state: RoutingState, on: date) -> tuple[str | None, str]:
    """The member the team's method picks and why, or (None, why nobody could)."""
    skipped = {m.user_id: _skip_reason(m, state, on) for m in team.members}
    available = [m for m in team.members if skipped[m.user_id] is None]
    if not available:
        why = "; ".join(f"{u} {r}" for u, r in skipped.items()) or "no members"
        return None, f"team {team.id!r} has no available member ({why})"
    if team.method == "capacity_weighted":
        # max() keeps the first of equal keys, i.e. the earlier member in team order.
        best = max(available, key=lambda m: m.capacity - state.open_for(m.user_id))
        room = best.capacity - state.open_for(best.user_id)
        return best.user_id, f"most remaining capacity in team {team.id!r} ({room})"
    order = [m.user_id for m in team.members]
    last = state.last_assigned.get(team.id)
    start = order.index(last) + 1 if last in order else 0
    for i in range(len(order)):
        uid = order[(start + i) % len(order)]
        if skipped[uid] is None:
            after = f" after {last}" if last is not None else ""
            return uid, f"round robin in team {team.id!r}{after}"
    raise AssertionError("unreachable: an available member exists")  # pragma: no cover


# ------------------------------------------------------------------ routing


def _teams_by_id(ladder: RoutingLadder, teams: Iterable[Team]) -> dict[str, Team]:
    by_id: dict[str, Team] = {}
    for t in teams:
        if t.id in by_id:
            raise ConfigError(f"team {t.id!r} is given twice", hint="pass each team once")
        by_id[t.id] = t
    missing = sorted({r.target.id for r in ladder.rules if r.target.kind == "team"} - by_id.keys())
    if missing:
        raise ConfigError(
            f"routing rules target unknown team(s) {missing}",
            hint="create the team or point the rule at an existing team or pool",
        )
    return by_id


def _route_one(
    ladder: RoutingLadder,
    teams: Mapping[str, Team],
    lead: LeadFacts,
    state: RoutingState,
    on: date,
) -> tuple[RoutingOutcome, RoutingState]:
    rule = ladder.match(lead.attributes)
    tgt = rule.target
    if tgt.kind == "pool":
        why = f"rule {rule.name!r} routes to pool {tgt.id!r}"
        return RoutingOutcome(lead.lead_id, rule.name, tgt, None, tgt.id, "pool", why), state
    team = teams[tgt.id]
    owner, why = pick_member(team, state, on)
    if owner is None:
        why = f"rule {rule.name!r}: {why}; left in pool {team.overflow_pool!r}"
        out = RoutingOutcome(
            lead.lead_id, rule.name, tgt, None, team.overflow_pool, "no_available_member", why
        )
        return out, state
    new_state = RoutingState(
        last_assigned={**state.last_assigned, team.id: owner},
        open_leads={**state.open_leads, owner: state.open_for(owner) + 1},
    )
    why = f"rule {rule.name!r}: {why}"
    return RoutingOutcome(lead.lead_id, rule.name, tgt, owner, None, "assigned", why), new_state


def route_lead(
    ladder: RoutingLadder,
    lead: LeadFacts,
    state: RoutingState,
    *,
    teams: Sequence[Team],
    on: date,
) -> tuple[RoutingOutcome, RoutingState]:
    """Route one lead; returns its outcome and the state after it."""
    return _route_one(ladder, _teams_by_id(ladder, teams), lead, state, on)


def simulate(
    ladder: RoutingLadder,
    leads: Sequence[LeadFacts],
    state: RoutingState,
    *,
    teams: Sequence[Team],
    on: date,
) -> RoutingRun:
    """Route a batch in order from ``state`` without persisting anything.

    A real run is this plus storing the outcomes and the returned state, so the
    simulation is what the run would do. Pure: the same inputs give the same run.
    """
    by_id = _teams_by_id(ladder, teams)
    seen: set[str] = set()
    for lead in leads:
        if lead.lead_id in seen:
            raise DataError(
                f"lead {lead.lead_id!r} appears twice in the batch",
                field="lead_id",
                code="duplicate",
            )
        seen.add(lead.lead_id)
    outcomes: list[RoutingOutcome] = []
    for lead in leads:
        out, state = _route_one(ladder, by_id, lead, state, on)
        outcomes.append(out)
    return RoutingRun(tuple(outcomes), state)
