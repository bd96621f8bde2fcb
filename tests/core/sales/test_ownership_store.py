"""The one ownership service on both databases: every rule with hand-computed deadlines,
and owner changes from sync, import and plain edits going through it too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConflictError, DataError, ForbiddenError
from core.model.entities import ENTITIES
from core.model.tables import (
    Connection,
    LeadAssignment,
    LeadOwnershipEvent,
    LeadScore,
    RecordChange,
    Subscription,
    Tenant,
    User,
)
from core.sales.leads import ownership, pools, recycling, touchpoints
from core.sales.leads.ownership import Actor
from core.store.direct import create_record, patch_record
from core.store.external import upsert_external

LEAD = ENTITIES["lead"]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
RULES = {
    "claim_budget": 2,
    "budget_period": "week",
    "wip_cap": 3,
    "cooldown_days": 5,
    "deadlines": {"followup_days": 3, "convert_days": 10},
    "by_grade": {"A": {"followup_days": 5, "convert_days": 20}},
    "remind_days_before": 1,
}


class World:
    def __init__(self, sessions: sessionmaker[Session], tenant: Tenant) -> None:
        self.sessions, self.tenant = sessions, tenant
        with sessions.begin() as s:
            self.manager = self._user(s, "boss@acme.cn", "Boss", "manager")
            self.rep = self._user(s, "li@acme.cn", "Li", "rep")
            self.rep2 = self._user(s, "wang@acme.cn", "Wang", "rep")
            self.outsider = self._user(s, "zhao@acme.cn", "Zhao", "rep")
            self.pool = pools.create_pool(s, tenant.id, "East", rules=RULES).id
            for rep in (self.rep, self.rep2):
                pools.add_member(s, tenant.id, self.pool, user_id=rep)

    def _user(self, s: Session, email: str, name: str, role: str) -> uuid.UUID:
        user = User(tenant_id=self.tenant.id, email=email, name=name, role=role)
        s.add(user)
        s.flush()
        return user.id

    def lead(self, name: str = "张三", **values: object) -> uuid.UUID:
        with self.sessions.begin() as s:
            record = create_record(s, self.tenant.id, LEAD, {"name": name, **values}, now=T0)
            return uuid.UUID(str(record["id"]))

    def pooled(self, n: int = 1) -> list[uuid.UUID]:
        leads = [self.lead(f"lead {i}") for i in range(n)]
        with self.sessions.begin() as s:
            ownership.deposit(
                s, self.tenant.id, leads, self.pool, Actor.user(self.manager), now=T0 - HOUR
            )
        return leads

    def claim(self, lead: uuid.UUID, user: uuid.UUID, at: datetime) -> LeadAssignment:
        with self.sessions.begin() as s:
            ownership.claim(s, self.tenant.id, lead, user, Actor.user(user), now=at)
        return self.assignment(lead)

    def assignment(self, lead: uuid.UUID) -> LeadAssignment:
        with self.sessions() as s:
            return s.get_one(LeadAssignment, lead)

    def owner(self, lead: uuid.UUID) -> uuid.UUID | None:
        with self.sessions() as s:
            value: uuid.UUID | None = s.scalar(
                select(LEAD_TABLE.c.owner_id).where(LEAD_TABLE.c.id == lead)
            )
            return value

    def events(self, lead: uuid.UUID) -> list[tuple[str, str, str]]:
        with self.sessions() as s:
            rows = s.execute(
                select(LeadOwnershipEvent.action, LeadOwnershipEvent.via, LeadOwnershipEvent.actor)
                .where(LeadOwnershipEvent.lead_id == lead)
                .order_by(LeadOwnershipEvent.at, LeadOwnershipEvent.action)
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]


LEAD_TABLE = ownership.LEAD


@pytest.fixture
def world(sessions: sessionmaker[Session], tenant: Tenant) -> World:
    return World(sessions, tenant)


def test_claim_sets_owner_and_hand_computed_deadlines(world: World) -> None:
    (lead,) = world.pooled()
    a = world.claim(lead, world.rep, T0)
    assert world.owner(lead) == world.rep
    assert a.owned_since == T0
    assert a.followup_due == T0 + 3 * DAY  # followup_days 3
    assert a.convert_due == T0 + 10 * DAY  # convert_days 10
    assert a.recycle_at == T0 + 3 * DAY  # the earlier of the two
    assert a.remind_at == T0 + 2 * DAY  # one day before
    assert world.events(lead)[-1] == ("claim", "api", str(world.rep))


def test_grade_a_lead_gets_the_grade_deadlines(world: World, tenant: Tenant) -> None:
    (lead,) = world.pooled()
    with world.sessions.begin() as s:
        s.add(
            LeadScore(
                tenant_id=tenant.id,
                lead_id=lead,
                attribute_points=80,
                attribute_percent=80,
                behaviour_points=10,
                grade="A3",
                explanation={},
            )
        )
    a = world.claim(lead, world.rep, T0)
    assert (a.followup_due, a.convert_due) == (T0 + 5 * DAY, T0 + 20 * DAY)
    assert a.grade == "A3"


def test_second_claim_of_an_owned_lead_is_refused(world: World) -> None:
    (lead,) = world.pooled()
    world.claim(lead, world.rep, T0)
    with pytest.raises(ConflictError, match="already owned"):
        world.claim(lead, world.rep2, T0 + DAY)
    assert world.owner(lead) == world.rep


def test_claiming_your_own_lead_again_changes_nothing(world: World) -> None:
    (lead,) = world.pooled()
    world.claim(lead, world.rep, T0)
    world.claim(lead, world.rep, T0 + DAY)
    assert [e[0] for e in world.events(lead)] == ["deposit", "claim"]


def test_claim_is_refused_when_budget_spent_and_renews_next_week(world: World) -> None:
    leads = world.pooled(3)
    world.claim(leads[0], world.rep, T0)
    world.claim(leads[1], world.rep, T0 + DAY)
    with pytest.raises(ConflictError, match="claim budget") as refused:
        world.claim(leads[2], world.rep, T0 + 2 * DAY)
    assert "2026-03-09" in (refused.value.hint or "")  # next Monday
    world.claim(leads[2], world.rep2, T0 + 2 * DAY)  # another rep's budget is their own


@pytest.mark.parametrize(
    ("zone", "refused"), [("Asia/Shanghai", False), ("UTC", True)], ids=["beijing", "utc"]
)
def test_a_daily_budget_renews_at_midnight_in_the_pools_time_zone(
    world: World, zone: str, refused: bool
) -> None:
    with world.sessions.begin() as s:
        pools.update_pool(
            s,
            world.tenant.id,
            world.pool,
            {"rules": {**RULES, "claim_budget": 1, "budget_period": "day", "timezone": zone}},
        )
    first, second = world.pooled(2)
    late = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 in Beijing
    world.claim(first, world.rep, late)
    after_midnight_in_beijing = late + HOUR  # 00:30 on the 3rd in Beijing, still the 2nd in UTC
    if refused:
        with pytest.raises(ConflictError, match="claim budget") as spent:
            world.claim(second, world.rep, after_midnight_in_beijing)
        assert "renews 2026-03-03 00:00 UTC" in (spent.value.hint or "")
    else:
        world.claim(second, world.rep, after_midnight_in_beijing)


def test_claim_is_refused_at_the_wip_cap(world: World) -> None:
    leads = world.pooled(4)
    with world.sessions.begin() as s:
        ownership.assign(
            s, world.tenant.id, leads[:3], world.rep, Actor.user(world.manager), now=T0
        )
    with pytest.raises(ConflictError, match="owns 3 open leads"):
        world.claim(leads[3], world.rep, T0)


def test_non_member_may_not_claim(world: World) -> None:
    (lead,) = world.pooled()
    with pytest.raises(ForbiddenError, match="not a member"):
        world.claim(lead, world.outsider, T0)


def test_return_needs_a_known_reason_and_starts_a_cooldown(world: World) -> None:
    (lead,) = world.pooled()
    world.claim(lead, world.rep, T0)
    with world.sessions.begin() as s, pytest.raises(DataError) as bad:
        ownership.return_lead(s, world.tenant.id, lead, "bored", Actor.user(world.rep), now=T0)
    assert bad.value.field == "reason_code"
    with world.sessions.begin() as s:
        ownership.return_lead(
            s, world.tenant.id, lead, "no_budget", Actor.user(world.rep), now=T0 + DAY
        )
    assert world.owner(lead) is None
    a = world.assignment(lead)
    assert (a.pool_id, a.owner_id, a.recycle_at) == (world.pool, None, None)
    with pytest.raises(ConflictError, match="cooldown 5 days"):
        world.claim(lead, world.rep, T0 + 5 * DAY)  # returned at T0+1d, free from T0+6d
    world.claim(lead, world.rep, T0 + 6 * DAY)


def test_only_the_owner_or_an_admin_returns_a_lead(world: World) -> None:
    (lead,) = world.pooled()
    world.claim(lead, world.rep, T0)
    with world.sessions.begin() as s, pytest.raises(ForbiddenError):
        ownership.return_lead(s, world.tenant.id, lead, "other", Actor.user(world.rep2), now=T0)
    with world.sessions.begin() as s:
        ownership.return_lead(s, world.tenant.id, lead, "other", Actor.user(world.manager), now=T0)


def test_reps_may_not_assign(world: World) -> None:
    (lead,) = world.pooled()
    with world.sessions.begin() as s, pytest.raises(ForbiddenError, match="only its admins"):
        ownership.assign(s, world.tenant.id, [lead], world.rep2, Actor.user(world.rep), now=T0)


def test_assign_then_transfer_restarts_the_deadline(world: World) -> None:
    (lead,) = world.pooled()
    with world.sessions.begin() as s:
        ownership.assign(s, world.tenant.id, [lead], world.rep, Actor.user(world.manager), now=T0)
    with world.sessions.begin() as s:
        ownership.assign(
            s, world.tenant.id, [lead], world.rep2, Actor.user(world.manager), now=T0 + DAY
        )
    a = world.assignment(lead)
    assert (a.owner_id, a.recycle_at) == (world.rep2, T0 + 4 * DAY)
    assert [e[0] for e in world.events(lead)] == ["deposit", "assign", "transfer"]


def test_a_qualifying_followup_moves_the_followup_deadline_only(world: World) -> None:
    (lead,) = world.pooled()
    world.claim(lead, world.rep, T0)
    with world.sessions.begin() as s:
        report = touchpoints.record(
            s,
            world.tenant.id,
            [
                touchpoints.TouchpointIn(lead_id=lead, type="call", occurred_at=T0 + 2 * DAY),
                touchpoints.TouchpointIn(lead_id=lead, type="email_open", occurred_at=T0 + DAY),
            ],
            source="api",
            now=T0 + 2 * DAY,
        )
    assert report.followups == 1  # email_open is not a follow-up type
    a = world.assignment(lead)
    assert a.followup_due == T0 + 5 * DAY  # call at T0+2d, plus 3 days
    assert a.convert_due == T0 + 10 * DAY
    assert a.recycle_at == T0 + 5 * DAY


def test_recycle_returns_overdue_leads_with_the_deadline_that_expired(world: World) -> None:
    first, second = world.pooled(2)
    world.claim(first, world.rep, T0)
    world.claim(second, world.rep2, T0 + 2 * DAY)
    with world.sessions.begin() as s:
        assert (
            recycling.recycle_due(s, world.tenant.id, now=T0 + 3 * DAY - timedelta(seconds=1)) == []
        )
    with world.sessions.begin() as s:
        done = recycling.recycle_due(s, world.tenant.id, now=T0 + 3 * DAY)
    assert [(r.lead_id, r.owner_id, r.reason) for r in done] == [(first, world.rep, "no_followup")]
    assert world.owner(first) is None
    assert world.events(first)[-1] == ("recycle", "schedule", "system")
    with pytest.raises(ConflictError, match="cooldown"):
        world.claim(first, world.rep, T0 + 4 * DAY)


def test_reminders_go_once_as_lead_remind_events(world: World, tenant: Tenant) -> None:
    (lead,) = world.pooled()
    with world.sessions.begin() as s:
        s.add(
            Subscription(
                tenant_id=tenant.id, name="crm", url="https://hooks.example.com/l2c", secret=b"x"
            )
        )
    world.claim(lead, world.rep, T0)
    with world.sessions.begin() as s:
        assert recycling.remind_due(s, world.tenant.id, now=T0 + DAY) == 0
        assert recycling.remind_due(s, world.tenant.id, now=T0 + 2 * DAY) == 1
    with world.sessions.begin() as s:
        assert recycling.remind_due(s, world.tenant.id, now=T0 + 2 * DAY + HOUR) == 0
        ops = s.scalars(select(RecordChange.op).where(RecordChange.entity_id == lead)).all()
    assert ops.count("remind") == 1


def test_sync_writing_an_owner_goes_through_the_ownership_service(
    world: World, tenant: Tenant, connection: Connection
) -> None:
    with world.sessions.begin() as s:
        record, _ = upsert_external(
            s,
            tenant.id,
            LEAD,
            connection_id=connection.id,
            external_id="CRM-1",
            values={"name": "李四", "owner_id": world.rep},
            now=T0,
        )
    lead = uuid.UUID(str(record["id"]))
    a = world.assignment(lead)
    assert a.owner_id == world.rep and a.recycle_at is not None
    with world.sessions() as s:
        default = pools.default_pool(s, tenant.id)
    assert a.pool_id == default.id  # no pool named: the catch-all pool
    assert world.events(lead) == [("assign", "sync", f"connection:{connection.id}")]


def test_a_plain_edit_of_the_owner_goes_through_the_ownership_service(world: World) -> None:
    (lead,) = world.pooled()
    with world.sessions.begin() as s:
        patch_record(s, world.tenant.id, LEAD, lead, {"owner_id": world.rep2}, now=T0)
    a = world.assignment(lead)
    assert (a.owner_id, a.pool_id, a.recycle_at) == (world.rep2, world.pool, T0 + 3 * DAY)
    with world.sessions.begin() as s:
        patch_record(s, world.tenant.id, LEAD, lead, {"owner_id": None}, now=T0 + DAY)
    assert world.assignment(lead).recycle_at is None
    assert [e[0] for e in world.events(lead)] == ["deposit", "assign", "release"]


def test_an_owned_lead_can_never_lose_its_deadline(world: World) -> None:
    (lead,) = world.pooled()
    world.claim(lead, world.rep, T0)
    statement = (
        ownership.ASSIGNMENT.update()
        .where(ownership.ASSIGNMENT.c.lead_id == lead)
        .values(recycle_at=None)
    )
    with world.sessions.begin() as s, pytest.raises(IntegrityError, match=r"owned_has_deadline"):
        s.execute(statement)


def test_converted_leads_leave_pool_management(world: World) -> None:
    (lead,) = world.pooled()
    world.claim(lead, world.rep, T0)
    with world.sessions.begin() as s:
        ownership.close(s, world.tenant.id, lead, Actor.user(world.rep), action="convert", now=T0)
    with world.sessions() as s:
        assert s.scalar(select(func.count()).select_from(LeadAssignment)) == 0
    assert world.events(lead)[-1][0] == "convert"
