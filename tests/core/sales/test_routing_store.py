"""Routing over the store on both databases: the ladder, teams with inactive users and
leave, the audit row, idempotent runs, and a simulation that writes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConfigError
from core.model.entities import ENTITIES
from core.model.tables import (
    LeadAssignment,
    LeadOwnershipEvent,
    LeadRouting,
    SalesSetting,
    Tenant,
    User,
)
from core.sales import documents
from core.sales.leads import pools, routing_run
from core.store.direct import create_record

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _users(s: Session, tenant: Tenant, *names: str, inactive: str = "") -> list[uuid.UUID]:
    ids = []
    for name in names:
        user = User(tenant_id=tenant.id, email=f"{name}@x.cn", name=name, active=name != inactive)
        s.add(user)
        s.flush()
        ids.append(user.id)
    return ids


def _ladder(s: Session, tenant: Tenant, members: list[dict[str, object]]) -> None:
    pools.create_pool(s, tenant.id, "East")
    documents.put(
        s,
        tenant.id,
        "teams",
        [{"id": "east", "method": "round_robin", "members": members, "overflow_pool": "East"}],
    )
    documents.put(
        s,
        tenant.id,
        "routing",
        {
            "rules": [
                {
                    "name": "shanghai",
                    "conditions": [{"op": "eq", "attribute": "province", "value": "上海市"}],
                    "target": {"kind": "team", "id": "east"},
                },
                {"name": "rest", "target": {"kind": "pool", "id": "General"}},
            ]
        },
    )


def _leads(s: Session, tenant: Tenant, *provinces: str) -> list[uuid.UUID]:
    return [
        uuid.UUID(
            str(
                create_record(
                    s, tenant.id, ENTITIES["lead"], {"name": f"L{i}", "province": p}, now=T0
                )["id"]
            )
        )
        for i, p in enumerate(provinces)
    ]


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_round_robin_skips_an_inactive_user_and_routes_the_rest_to_the_catch_all(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as s:
        li, wang, zhao = _users(s, tenant, "li", "wang", "zhao", inactive="wang")
        _ladder(
            s,
            tenant,
            [{"user_id": str(u), "capacity": 5} for u in (li, wang, zhao)],
        )
        leads = _leads(s, tenant, "上海市", "上海市", "上海市", "广东省")
    with sessions.begin() as s:
        report = routing_run.route(s, tenant.id, now=T0)
    owners = [o.owner for o in report.outcomes]
    assert owners == [str(li), str(zhao), str(li), None]  # wang is inactive in the hub
    assert (report.catch_all, report.by_rule) == (1, {"shanghai": 3, "rest": 1})
    with sessions() as s:
        general = pools.pool_by_name(s, tenant.id, "General")
        assert general is not None
        placed = s.get_one(LeadAssignment, leads[3])
        assert (placed.pool_id, placed.owner_id) == (general.id, None)
        east_lead = s.get_one(LeadAssignment, leads[0])
        assert east_lead.owner_id == li and east_lead.recycle_at is not None
        assert s.get_one(LeadRouting, leads[0]).rule == "shanghai"


def test_a_member_on_leave_is_skipped_and_a_full_team_overflows(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as s:
        li, wang = _users(s, tenant, "li", "wang")
        _ladder(
            s,
            tenant,
            [
                {"user_id": str(li), "capacity": 1},
                {
                    "user_id": str(wang),
                    "capacity": 5,
                    "leave": [{"start": "2026-03-01", "end": "2026-03-05"}],
                },
            ],
        )
        _leads(s, tenant, "上海市", "上海市")
    with sessions.begin() as s:
        report = routing_run.route(s, tenant.id, now=T0)
    first, second = report.outcomes
    assert (first.owner, first.code) == (str(li), "assigned")
    assert (second.owner, second.pool, second.code) == (None, "East", "no_available_member")
    assert "on leave 2026-03-01..2026-03-05" in second.reason


def test_simulation_writes_nothing_and_predicts_the_run(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as s:
        li, zhao = _users(s, tenant, "li", "zhao")
        _ladder(s, tenant, [{"user_id": str(u), "capacity": 5} for u in (li, zhao)])
        _leads(s, tenant, "上海市", "广东省", "上海市")
    before = [
        _count(sessions, m) for m in (LeadRouting, LeadAssignment, LeadOwnershipEvent, SalesSetting)
    ]
    with sessions.begin() as s:
        predicted = routing_run.simulate(s, tenant.id, now=T0)
    after = [
        _count(sessions, m) for m in (LeadRouting, LeadAssignment, LeadOwnershipEvent, SalesSetting)
    ]
    assert before == after
    with sessions.begin() as s:
        done = routing_run.route(s, tenant.id, now=T0)
    assert [(o.lead_id, o.owner, o.pool) for o in predicted.outcomes] == [
        (o.lead_id, o.owner, o.pool) for o in done.outcomes
    ]


def test_a_second_run_routes_nothing_and_round_robin_continues_across_runs(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as s:
        li, zhao = _users(s, tenant, "li", "zhao")
        _ladder(s, tenant, [{"user_id": str(u), "capacity": 5} for u in (li, zhao)])
        _leads(s, tenant, "上海市")
    with sessions.begin() as s:
        assert [o.owner for o in routing_run.route(s, tenant.id, now=T0).outcomes] == [str(li)]
    with sessions.begin() as s:
        assert routing_run.route(s, tenant.id, now=T0).outcomes == ()
        _leads(s, tenant, "上海市")
    with sessions.begin() as s:
        assert [o.owner for o in routing_run.route(s, tenant.id, now=T0).outcomes] == [str(zhao)]


def test_a_ladder_naming_a_missing_pool_is_a_configuration_error(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as s:
        documents.put(
            s,
            tenant.id,
            "routing",
            {
                "rules": [
                    {
                        "name": "north",
                        "conditions": [{"op": "eq", "attribute": "province", "value": "北京市"}],
                        "target": {"kind": "pool", "id": "North"},
                    },
                    {"name": "rest", "target": {"kind": "pool", "id": "General"}},
                ]
            },
        )
        _leads(s, tenant, "北京市")
    with sessions.begin() as s, pytest.raises(ConfigError, match="'North'"):
        routing_run.route(s, tenant.id, now=T0)
