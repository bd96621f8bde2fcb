"""Pool invariants under random sequences of owner changes (hypothesis).

Whatever reps, managers, edits and the schedule do, in any order:
- a lead has at most one owner, and the canonical `lead.owner_id` is the pool's owner;
- an owned open lead always has a recycle deadline;
- no rep ever claims more from a pool in one period than the pool's budget.
Refused operations (409/403/422) are part of the game: they must leave nothing behind.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import HubError
from core.model.entities import ENTITIES
from core.model.tables import LeadAssignment, LeadOwnershipEvent, Tenant, User
from core.sales.leads import ownership, pools, recycling
from core.sales.leads.ownership import Actor
from core.store.direct import create_record, patch_record
from core.store.engine import make_engine, make_session_factory
from core.store.migrate import upgrade

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BUDGET = 2
N_LEADS, N_REPS = 4, 3
_tenants = itertools.count()

Op = tuple[str, int, int, int]  # (kind, lead index, user index, hours later)
ops = st.lists(
    st.tuples(
        st.sampled_from(["claim", "return", "assign", "deposit", "edit", "recycle", "release"]),
        st.integers(0, N_LEADS - 1),
        st.integers(0, N_REPS - 1),
        st.integers(0, 60),
    ),
    min_size=1,
    max_size=30,
)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    path: Path = tmp_path_factory.mktemp("invariants") / "l2c.db"
    engine: Engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _setup(
    sessions: sessionmaker[Session],
) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID], list[uuid.UUID], uuid.UUID]:
    with sessions.begin() as s:
        n = next(_tenants)
        tenant = Tenant(slug=f"t{n}", name=f"T{n}")
        s.add(tenant)
        s.flush()
        manager = User(tenant_id=tenant.id, email="m@x.cn", name="M", role="manager")
        reps = [User(tenant_id=tenant.id, email=f"r{i}@x.cn", name=f"R{i}") for i in range(N_REPS)]
        s.add_all([manager, *reps])
        s.flush()
        rules = {
            "claim_budget": BUDGET,
            "budget_period": "day",
            "timezone": "UTC",  # the check below counts claims per UTC date
            "wip_cap": 3,
            "cooldown_days": 1,
            "deadlines": {"followup_days": 1, "convert_days": 2},
        }
        pool = pools.create_pool(s, tenant.id, "P", rules=rules).id
        for rep in reps:
            pools.add_member(s, tenant.id, pool, user_id=rep.id)
        leads = [
            uuid.UUID(str(create_record(s, tenant.id, ENTITIES["lead"], {"name": f"L{i}"})["id"]))
            for i in range(N_LEADS)
        ]
        ownership.deposit(s, tenant.id, leads, pool, Actor.user(manager.id), now=T0)
        return tenant.id, manager.id, [r.id for r in reps], leads, pool


def _run(
    s: Session,
    op: Op,
    tenant: uuid.UUID,
    manager: uuid.UUID,
    reps: list[uuid.UUID],
    leads: list[uuid.UUID],
    pool: uuid.UUID,
    now: datetime,
) -> None:
    kind, li, ui, _ = op
    lead, rep = leads[li], reps[ui]
    if kind == "claim":
        ownership.claim(s, tenant, lead, rep, Actor.user(rep), now=now)
    elif kind == "return":
        owner = ownership.get_assignment(s, tenant, lead).owner_id
        ownership.return_lead(s, tenant, lead, "other", Actor.user(owner or rep), now=now)
    elif kind == "assign":
        ownership.assign(s, tenant, [lead], rep, Actor.user(manager), now=now)
    elif kind == "deposit":
        ownership.deposit(s, tenant, [lead], pool, Actor.user(manager), now=now)
    elif kind == "edit":
        patch_record(s, tenant, ENTITIES["lead"], lead, {"owner_id": rep}, now=now)
    elif kind == "release":
        patch_record(s, tenant, ENTITIES["lead"], lead, {"owner_id": None}, now=now)
    else:
        recycling.recycle_due(s, tenant, now=now)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=ops)
def test_pool_invariants_hold_under_any_sequence(
    sessions: sessionmaker[Session], sequence: list[Op]
) -> None:
    tenant, manager, reps, leads, pool = _setup(sessions)
    now = T0
    for op in sequence:
        now += timedelta(hours=op[3])
        try:
            with sessions.begin() as s:
                _run(s, op, tenant, manager, reps, leads, pool, now)
        except HubError:
            pass  # refused: the transaction rolled back
        _check(sessions, tenant, leads)


def _check(sessions: sessionmaker[Session], tenant: uuid.UUID, leads: list[uuid.UUID]) -> None:
    table = ownership.LEAD
    with sessions() as s:
        owners = dict(
            s.execute(select(table.c.id, table.c.owner_id).where(table.c.tenant_id == tenant)).all()
        )
        for a in s.scalars(select(LeadAssignment).where(LeadAssignment.tenant_id == tenant)):
            assert owners[a.lead_id] == a.owner_id, "canonical owner and pool owner disagree"
            if a.owner_id is not None:
                assert a.recycle_at is not None, "an owned lead without a recycle deadline"
                assert a.owned_since is not None and a.recycle_at > a.owned_since
        claims = Counter(
            (e.to_owner, e.pool_id, e.at.date())
            for e in s.scalars(
                select(LeadOwnershipEvent).where(
                    LeadOwnershipEvent.tenant_id == tenant, LeadOwnershipEvent.action == "claim"
                )
            )
        )
        assert all(n <= BUDGET for n in claims.values()), f"budget exceeded: {claims}"
