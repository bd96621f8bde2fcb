"""Routing ladder and member pick (issue 5 item 2; l2c-anchors.md "Lead pools" table, §b2)."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import date
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from core.errors import ConfigError, DataError
from core.sales.routing import (
    Eq,
    In,
    LeadFacts,
    Leave,
    Member,
    Prefix,
    Present,
    RoutingLadder,
    RoutingRule,
    RoutingState,
    Target,
    Team,
    pick_member,
    route_lead,
    simulate,
)

ON = date(2024, 6, 10)
POOL_MFG = Target(kind="pool", id="pool-manufacturing")
TEAM_EAST = Target(kind="team", id="east")
POOL_GENERAL = Target(kind="pool", id="pool-general")

LADDER = RoutingLadder(
    rules=(
        RoutingRule(
            name="manufacturing",
            conditions=(Eq(attribute="industry", value="制造"),),
            target=POOL_MFG,
        ),
        RoutingRule(
            name="east-china", conditions=(Eq(attribute="region", value="华东"),), target=TEAM_EAST
        ),
        RoutingRule(name="catch-all", target=POOL_GENERAL),
    )
)


def _team(method: str, *members: Member, overflow: str = "pool-east-overflow") -> Team:
    return Team.model_validate(
        {"id": "east", "method": method, "members": members, "overflow_pool": overflow}
    )


def _lead(lead_id: str, **attrs: str | None) -> LeadFacts:
    return LeadFacts(lead_id, attrs)


def _east_leads(n: int) -> list[LeadFacts]:
    return [_lead(f"L{i}", region="华东") for i in range(1, n + 1)]


# ------------------------------------------------------------------ ladder


def test_first_matching_rule_wins_and_catch_all_takes_the_rest() -> None:
    team = _team("round_robin", Member(user_id="amy", capacity=5))
    leads = [
        _lead("L1", industry="制造", region="华东"),  # rule 1 matches before rule 2
        _lead("L2", industry="零售", region="华东"),
        _lead("L3", region="华北"),
    ]
    run = simulate(LADDER, leads, RoutingState(), teams=[team], on=ON)
    got = [(o.rule, o.target.id, o.owner, o.pool, o.code) for o in run.outcomes]
    assert got == [
        ("manufacturing", "pool-manufacturing", None, "pool-manufacturing", "pool"),
        ("east-china", "east", "amy", None, "assigned"),
        ("catch-all", "pool-general", None, "pool-general", "pool"),
    ]


def test_conditions_eq_in_prefix_present() -> None:
    lead = {"industry": "制造", "postcode": "200120", "email": "a@b.cn", "phone": "  "}
    assert Eq(attribute="industry", value="制造").matches(lead)
    assert not Eq(attribute="industry", value="制").matches(lead)
    assert In(attribute="industry", values=frozenset({"制造", "零售"})).matches(lead)
    assert not In(attribute="missing", values=frozenset({"x"})).matches(lead)
    assert Prefix(attribute="postcode", value="200").matches(lead)
    assert not Prefix(attribute="postcode", value="100").matches(lead)
    assert Present(attribute="email").matches(lead)
    assert not Present(attribute="phone").matches(lead)  # blank counts as absent
    assert not Present(attribute="fax").matches({"fax": None})


def test_all_conditions_of_a_rule_must_hold() -> None:
    rule = RoutingRule(
        name="sh-mfg",
        conditions=(
            Eq(attribute="industry", value="制造"),
            Prefix(attribute="postcode", value="20"),
        ),
        target=POOL_MFG,
    )
    assert rule.matches({"industry": "制造", "postcode": "200120"})
    assert not rule.matches({"industry": "制造", "postcode": "100000"})


def test_ladder_without_catch_all_is_refused() -> None:
    with pytest.raises(ValidationError, match="no catch-all"):
        RoutingLadder(rules=LADDER.rules[:2])
    with pytest.raises(ValidationError, match="no catch-all"):
        RoutingLadder(rules=())


def test_catch_all_before_the_end_is_refused_as_it_hides_later_rules() -> None:
    with pytest.raises(ValidationError, match="only the last rule may be a catch-all"):
        RoutingLadder(rules=(LADDER.rules[2], *LADDER.rules))


def test_duplicate_rule_names_are_refused() -> None:
    dup = RoutingRule(name="catch-all", conditions=(Present(attribute="x"),), target=POOL_MFG)
    with pytest.raises(ValidationError, match="unique"):
        RoutingLadder(rules=(dup, LADDER.rules[2]))


def test_ladder_loads_from_json_shaped_data() -> None:
    data = {
        "rules": [
            {
                "name": "east-china",
                "conditions": [{"op": "in", "attribute": "region", "values": ["华东", "华南"]}],
                "target": {"kind": "team", "id": "east"},
            },
            {"name": "catch-all", "target": {"kind": "pool", "id": "pool-general"}},
        ]
    }
    ladder = RoutingLadder.model_validate(data)
    assert ladder.match({"region": "华南"}).name == "east-china"
    assert ladder.catch_all.target == POOL_GENERAL
    with pytest.raises(ValidationError):
        RoutingLadder.model_validate(
            {"rules": [{"name": "x", "target": {"kind": "queue", "id": "q"}}]}
        )


def test_unknown_team_target_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown team"):
        simulate(LADDER, _east_leads(1), RoutingState(), teams=[], on=ON)


def test_duplicate_lead_in_batch_is_refused() -> None:
    team = _team("round_robin", Member(user_id="amy", capacity=5))
    with pytest.raises(DataError, match="twice"):
        simulate(LADDER, [*_east_leads(1), *_east_leads(1)], RoutingState(), teams=[team], on=ON)


# ------------------------------------------------------------------ round robin


def test_round_robin_skips_member_on_leave() -> None:
    bob_away = Leave(start=date(2024, 6, 1), end=date(2024, 6, 14))
    team = _team(
        "round_robin",
        Member(user_id="amy", capacity=10),
        Member(user_id="bob", capacity=10, leave=(bob_away,)),
        Member(user_id="cai", capacity=10),
    )
    run = simulate(LADDER, _east_leads(4), RoutingState(), teams=[team], on=ON)
    # order amy, bob, cai; bob is away on 06-10 -> amy, cai, amy, cai
    assert [o.owner for o in run.outcomes] == ["amy", "cai", "amy", "cai"]
    assert dict(run.state.open_leads) == {"amy": 2, "cai": 2}
    assert run.state.last_assigned["east"] == "cai"
    # leave is inclusive: still away on 06-14, back on 06-15; next after cai wraps to amy, bob
    on_last_day = simulate(LADDER, _east_leads(2), run.state, teams=[team], on=date(2024, 6, 14))
    assert [o.owner for o in on_last_day.outcomes] == ["amy", "cai"]
    back = simulate(LADDER, _east_leads(2), run.state, teams=[team], on=date(2024, 6, 15))
    assert [o.owner for o in back.outcomes] == ["amy", "bob"]


def test_round_robin_continues_after_last_assigned_and_skips_inactive() -> None:
    team = _team(
        "round_robin",
        Member(user_id="amy", capacity=10),
        Member(user_id="bob", capacity=10, active=False),
        Member(user_id="cai", capacity=10),
    )
    state = RoutingState(last_assigned={"east": "amy"})
    # after amy comes bob (inactive) then cai, then wrap to amy
    run = simulate(LADDER, _east_leads(3), state, teams=[team], on=ON)
    assert [o.owner for o in run.outcomes] == ["cai", "amy", "cai"]


def test_round_robin_restarts_at_first_member_when_last_one_left_the_team() -> None:
    team = _team(
        "round_robin", Member(user_id="amy", capacity=10), Member(user_id="bob", capacity=10)
    )
    state = RoutingState(last_assigned={"east": "gone"})
    owner, why = pick_member(team, state, ON)
    assert owner == "amy"
    assert "after gone" in why


def test_round_robin_skips_members_at_capacity() -> None:
    team = _team(
        "round_robin", Member(user_id="amy", capacity=1), Member(user_id="bob", capacity=3)
    )
    # amy takes 1 and is full (1/1); bob takes the rest up to 3/3; the 5th goes to the pool
    run = simulate(LADDER, _east_leads(5), RoutingState(), teams=[team], on=ON)
    assert [o.owner for o in run.outcomes] == ["amy", "bob", "bob", "bob", None]
    assert run.outcomes[-1].pool == "pool-east-overflow"


# ------------------------------------------------------------------ capacity weighted


def test_capacity_weighted_fill_order() -> None:
    team = _team(
        "capacity_weighted",
        Member(user_id="amy", capacity=3),
        Member(user_id="bob", capacity=2),
        Member(user_id="cai", capacity=4),
    )
    state = RoutingState(open_leads={"amy": 1, "cai": 3})
    # remaining (amy, bob, cai), ties to the earlier member:
    # (2,2,1) -> amy; (1,2,1) -> bob; (1,1,1) -> amy; (0,1,1) -> bob; (0,0,1) -> cai;
    # (0,0,0) -> nobody, overflow pool
    run = simulate(LADDER, _east_leads(6), state, teams=[team], on=ON)
    assert [o.owner for o in run.outcomes] == ["amy", "bob", "amy", "bob", "cai", None]
    assert dict(run.state.open_leads) == {"amy": 3, "bob": 2, "cai": 4}
    assert "(2)" in run.outcomes[0].reason


def test_all_members_full_routes_to_pool_with_reason() -> None:
    away = Leave(start=date(2024, 6, 10), end=date(2024, 6, 10))
    team = _team(
        "capacity_weighted",
        Member(user_id="amy", capacity=2),
        Member(user_id="bob", capacity=5, leave=(away,)),
        Member(user_id="cai", capacity=5, active=False),
    )
    state = RoutingState(open_leads={"amy": 2})
    run = simulate(LADDER, _east_leads(1), state, teams=[team], on=ON)
    (out,) = run.outcomes
    assert (out.owner, out.pool, out.code, out.rule) == (
        None,
        "pool-east-overflow",
        "no_available_member",
        "east-china",
    )
    assert "amy at capacity 2/2" in out.reason
    assert "bob on leave 2024-06-10..2024-06-10" in out.reason
    assert "cai inactive" in out.reason
    assert run.state == state  # nobody was assigned, nothing changes


def test_team_with_no_members_routes_to_overflow_pool() -> None:
    team = _team("round_robin")
    outcome, _ = route_lead(LADDER, _east_leads(1)[0], RoutingState(), teams=[team], on=ON)
    assert outcome.pool == "pool-east-overflow"
    assert "no members" in outcome.reason


def test_invalid_team_and_leave_are_refused() -> None:
    with pytest.raises(ValidationError, match="twice"):
        _team("round_robin", Member(user_id="amy", capacity=1), Member(user_id="amy", capacity=2))
    with pytest.raises(ValidationError, match="before it starts"):
        Leave(start=date(2024, 6, 2), end=date(2024, 6, 1))
    with pytest.raises(ValidationError):
        Member(user_id="amy", capacity=-1)
    with pytest.raises(ValidationError):
        _team("random", Member(user_id="amy", capacity=1))


# ------------------------------------------------------------------ simulation


def test_simulate_twice_from_same_state_gives_same_run() -> None:
    team = _team(
        "round_robin", Member(user_id="amy", capacity=2), Member(user_id="bob", capacity=2)
    )
    leads = [*_east_leads(5), _lead("X", industry="制造")]
    state = RoutingState(last_assigned={"east": "amy"}, open_leads={"bob": 1})
    first = simulate(LADDER, leads, state, teams=[team], on=ON)
    second = simulate(LADDER, leads, state, teams=[team], on=ON)
    assert first == second
    assert state == RoutingState(last_assigned={"east": "amy"}, open_leads={"bob": 1})


def test_state_is_a_copy_of_the_callers_mappings() -> None:
    opens = {"amy": 1}
    state = RoutingState(open_leads=opens)
    opens["amy"] = 99
    assert state.open_for("amy") == 1
    with pytest.raises(TypeError):
        state.open_leads["amy"] = 2  # type: ignore[index]


# ------------------------------------------------------------------ properties

_USERS = ["u1", "u2", "u3", "u4", "u5"]


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[list[Team], RoutingState, list[LeadFacts], date]:
    on = date(2024, 6, draw(st.integers(1, 30)))
    users = draw(st.permutations(_USERS))
    split = draw(st.integers(0, len(users)))
    teams = []
    for tid, uids in (("east", users[:split]), ("west", users[split:])):
        members = []
        for uid in uids:
            d1, d2 = sorted(draw(st.lists(st.integers(1, 30), min_size=2, max_size=2)))
            leave = (
                (Leave(start=date(2024, 6, d1), end=date(2024, 6, d2)),)
                if draw(st.booleans())
                else ()
            )
            members.append(
                Member(
                    user_id=uid,
                    capacity=draw(st.integers(0, 4)),
                    active=draw(st.booleans()),
                    leave=leave,
                )
            )
        method: Literal["round_robin", "capacity_weighted"] = draw(
            st.sampled_from(["round_robin", "capacity_weighted"])
        )
        teams.append(
            Team(id=tid, method=method, members=tuple(members), overflow_pool=f"{tid}-pool")
        )
    opens = {
        u: draw(st.integers(0, 5)) for u in draw(st.lists(st.sampled_from(_USERS), unique=True))
    }
    last = {"east": draw(st.sampled_from(_USERS))} if draw(st.booleans()) else {}
    n = draw(st.integers(0, 25))
    regions = st.sampled_from(["华东", "华西", "华北", None])
    leads = [
        _lead(f"L{i}", region=draw(regions), industry=draw(st.sampled_from(["制造", "零售"])))
        for i in range(n)
    ]
    return teams, RoutingState(last_assigned=last, open_leads=opens), leads, on


PROP_LADDER = RoutingLadder(
    rules=(
        RoutingRule(
            name="east", conditions=(Eq(attribute="region", value="华东"),), target=TEAM_EAST
        ),
        RoutingRule(
            name="west",
            conditions=(Prefix(attribute="region", value="华西"),),
            target=Target(kind="team", id="west"),
        ),
        RoutingRule(
            name="mfg",
            conditions=(In(attribute="industry", values=frozenset({"制造"})),),
            target=POOL_MFG,
        ),
        RoutingRule(name="catch-all", target=POOL_GENERAL),
    )
)


@given(_scenarios())
def test_no_member_is_ever_assigned_beyond_capacity(
    scenario: tuple[list[Team], RoutingState, list[LeadFacts], date],
) -> None:
    teams, state, leads, on = scenario
    run = simulate(PROP_LADDER, leads, state, teams=teams, on=on)
    assigned = Counter(o.owner for o in run.outcomes if o.owner is not None)
    for team in teams:
        for m in team.members:
            room = max(0, m.capacity - state.open_for(m.user_id))
            assert assigned[m.user_id] <= room
            assert run.state.open_for(m.user_id) == state.open_for(m.user_id) + assigned[m.user_id]
            if assigned[m.user_id]:
                assert m.active
                assert not any(lv.covers(on) for lv in m.leave)


@given(_scenarios())
def test_every_lead_gets_exactly_one_outcome(
    scenario: tuple[list[Team], RoutingState, list[LeadFacts], date],
) -> None:
    teams, state, leads, on = scenario
    run = simulate(PROP_LADDER, leads, state, teams=teams, on=on)
    assert [o.lead_id for o in run.outcomes] == [lead.lead_id for lead in leads]
    for o in run.outcomes:
        assert (o.owner is None) != (o.pool is None)
        assert (o.code == "assigned") == (o.owner is not None)


@given(_scenarios())
def test_simulate_does_not_mutate_its_inputs_and_is_repeatable(
    scenario: tuple[list[Team], RoutingState, list[LeadFacts], date],
) -> None:
    teams, state, leads, on = scenario
    before = copy.deepcopy((teams, dict(state.last_assigned), dict(state.open_leads), leads))
    run = simulate(PROP_LADDER, leads, state, teams=teams, on=on)
    assert (teams, dict(state.last_assigned), dict(state.open_leads), leads) == before
    assert simulate(PROP_LADDER, leads, state, teams=teams, on=on) == run
