"""Scheduled lead work (scheduler/lead_tasks.py) on SQLite and PostgreSQL: each job does
its work once, in batches, and a rerun finds nothing new."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.model.entities import ENTITIES
from core.model.tables import (
    Lead,
    LeadOwnershipEvent,
    LeadRouting,
    LeadScore,
    OutboxMessage,
    RecordChange,
    Tenant,
    User,
)
from core.sales import documents
from core.sales.leads import ownership, pools, touchpoints
from core.security.secrets import generate_key
from core.settings import get_settings
from core.store.direct import create_record
from scheduler import lead_metrics, lead_tasks

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULES = {"deadlines": {"followup_days": 7, "convert_days": 30}, "remind_days_before": 2}


def _user(session: Session, tenant: Tenant, email: str = "li@acme.cn") -> uuid.UUID:
    user = User(tenant_id=tenant.id, email=email, name=email.split("@", maxsplit=1)[0], role="rep")
    session.add(user)
    session.flush()
    return user.id


def _leads(session: Session, tenant: Tenant, n: int) -> list[uuid.UUID]:
    return [
        create_record(session, tenant.id, ENTITIES["lead"], {"name": f"Lead {i}"})["id"]
        for i in range(n)
    ]


def _owned(
    sessions: sessionmaker[Session], tenant: Tenant, n: int
) -> tuple[list[uuid.UUID], uuid.UUID]:
    """n leads of one rep in pool General, assigned at T0: recycle at T0 + 7 days,
    reminder from T0 + 5 days (followup_days 7 < convert_days 30; remind 2 days before)."""
    with sessions.begin() as session:
        pool = pools.create_pool(session, tenant.id, "General", rules=RULES)
        rep = _user(session, tenant)
        leads = _leads(session, tenant, n)
        ownership.assign(
            session, tenant.id, leads, rep, ownership.Actor("cli", "cli"), pool_id=pool.id, now=T0
        )
    return leads, rep


def _count(sessions: sessionmaker[Session], statement: Any) -> int:
    with sessions() as session:
        return int(session.scalar(statement) or 0)


def test_recycle_returns_leads_after_their_deadline_once(sessions, tenant) -> None:
    leads, _rep = _owned(sessions, tenant, 3)

    early = lead_tasks.recycle(sessions, now=T0 + timedelta(days=6, hours=23), batch=2)
    assert (early.items, early.batches) == (0, 1)

    due = lead_tasks.recycle(sessions, now=T0 + timedelta(days=7, minutes=1), batch=2)
    assert (due.items, due.batches, due.tenants) == (3, 2, 1)  # 2 + 1: one commit per batch
    assert due.detail == {"no_followup": 3}  # 7-day follow-up deadline before 30-day convert
    with sessions() as session:
        owners = session.scalars(select(Lead.owner_id).where(Lead.id.in_(leads))).all()
    assert owners == [None, None, None]

    again = lead_tasks.recycle(sessions, now=T0 + timedelta(days=8), batch=2)
    assert again.items == 0
    recycles = select(func.count()).where(LeadOwnershipEvent.action == "recycle")
    assert _count(sessions, recycles) == 3


def test_owners_are_reminded_once_before_the_deadline(sessions, tenant) -> None:
    _owned(sessions, tenant, 2)
    reminders = select(func.count()).where(
        RecordChange.entity == "lead", RecordChange.op == "remind"
    )

    assert lead_tasks.remind(sessions, now=T0 + timedelta(days=4)).items == 0
    first = lead_tasks.remind(sessions, now=T0 + timedelta(days=5, hours=1))
    assert first.items == 2
    assert lead_tasks.remind(sessions, now=T0 + timedelta(days=6)).items == 0
    assert _count(sessions, reminders) == 2


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("L2C_SECRET_KEY", generate_key())
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_reminder_becomes_one_outbox_message_for_a_subscription(
    sessions, tenant, secret_key
) -> None:
    from scheduler.subscriptions import create_subscription

    with sessions.begin() as session:
        create_subscription(
            session, tenant.id, name="crm-bot", url="https://93.184.216.34/hooks", entities=["lead"]
        )
    _owned(sessions, tenant, 1)
    outbox = select(func.count()).select_from(OutboxMessage)
    before = _count(sessions, outbox)  # the lead's creation and assignment

    lead_tasks.remind(sessions, now=T0 + timedelta(days=5, hours=1))
    lead_tasks.remind(sessions, now=T0 + timedelta(days=5, hours=2))

    assert _count(sessions, outbox) == before + 1


def test_routing_twice_routes_each_lead_once(sessions, tenant) -> None:
    with sessions.begin() as session:
        pools.create_pool(session, tenant.id, "General")
        _leads(session, tenant, 3)

    first = lead_tasks.route_new(sessions, now=T0, batch=2)
    assert (first.items, first.batches) == (3, 2)
    # the default ladder is one catch-all rule, "everything else", into pool General
    assert first.detail == {"rule:everything else": 3, "catch_all": 3}

    second = lead_tasks.route_new(sessions, now=T0 + timedelta(minutes=1), batch=2)
    assert second.items == 0
    assert _count(sessions, select(func.count()).select_from(LeadRouting)) == 3
    routes = select(func.count()).where(LeadOwnershipEvent.action == "route")
    assert _count(sessions, routes) == 3


def test_a_tenant_with_broken_routing_is_skipped_and_reported(sessions, tenant) -> None:
    ghost_pool = {
        "rules": [
            {
                "name": "to a deleted pool",
                "conditions": [{"op": "eq", "attribute": "source", "value": "web"}],
                "target": {"kind": "pool", "id": "Nowhere"},
            },
            {"name": "everything else", "target": {"kind": "pool", "id": "General"}},
        ]
    }
    with sessions.begin() as session:
        documents.put(session, tenant.id, "routing", ghost_pool)
        create_record(session, tenant.id, ENTITIES["lead"], {"name": "L", "source": "web"})

    report = lead_tasks.route_new(sessions, now=T0)

    assert (report.items, report.failed_tenants) == (0, 1)


def test_a_fresh_tenant_routes_into_the_catch_all_pool_created_on_first_use(
    sessions, tenant
) -> None:
    with sessions.begin() as session:
        _leads(session, tenant, 2)

    report = lead_tasks.route_new(sessions, now=T0)

    assert (report.items, report.failed_tenants) == (2, 0)
    with sessions() as session:
        assert pools.pool_by_name(session, tenant.id, "General") is not None


def _order(session: Session, tenant: Tenant, account: uuid.UUID, number: str, day: Any) -> None:
    create_record(
        session,
        tenant.id,
        ENTITIES["order"],
        {
            "number": number,
            "account_id": account,
            "order_date": day,
            "currency": "CNY",
            "status": "confirmed",
            "net_amount": Decimal("100.00"),
        },
    )


def test_rfm_is_recomputed_only_when_orders_change_or_the_day_moves_on(sessions, tenant) -> None:
    now = utcnow()
    with sessions.begin() as session:
        account = create_record(session, tenant.id, ENTITIES["account"], {"name": "Hangzhou Co"})
        _order(session, tenant, account["id"], "SO-1", now.date())

    first = lead_tasks.recompute_rfm(sessions, now=now)
    assert (first.items, first.detail["accounts"]) == (1, 1)
    assert lead_tasks.recompute_rfm(sessions, now=now + timedelta(minutes=5)).items == 0

    with sessions.begin() as session:
        _order(session, tenant, account["id"], "SO-2", now.date())
    assert lead_tasks.recompute_rfm(sessions, now=now + timedelta(minutes=10)).items == 1
    assert lead_tasks.recompute_rfm(sessions, now=now + timedelta(minutes=15)).items == 0
    assert lead_tasks.recompute_rfm(sessions, now=now + timedelta(days=1)).items == 1


def test_rescoring_takes_unscored_touched_and_stale_leads_only(sessions, tenant) -> None:
    with sessions.begin() as session:
        leads = _leads(session, tenant, 3)
    now = utcnow()
    day = timedelta(days=1)

    first = lead_tasks.rescore(sessions, now=now, batch=2, max_age=day)
    assert (first.items, first.batches) == (3, 2)
    assert lead_tasks.rescore(sessions, now=now, batch=2, max_age=day).items == 0

    with sessions.begin() as session:
        touchpoints.record(
            session,
            tenant.id,
            [touchpoints.TouchpointIn(lead_id=leads[1], type="webinar", occurred_at=now)],
            source="test",
            now=now + timedelta(minutes=1),
        )
    later = now + timedelta(minutes=2)
    assert lead_tasks.rescore(sessions, now=later, batch=2, max_age=day).items == 1

    stale = lead_tasks.rescore(sessions, now=now + timedelta(hours=25), batch=2, max_age=day)
    assert stale.items == 3
    with sessions() as session:
        scored = session.scalars(select(LeadScore.scored_at)).all()
    assert len(scored) == 3


def test_lead_metrics_count_recycles_routes_and_the_catch_all(sessions, tenant) -> None:
    _owned(sessions, tenant, 2)
    lead_tasks.recycle(sessions, now=T0 + timedelta(days=7, minutes=1))
    with sessions.begin() as session:
        _leads(session, tenant, 1)
    lead_tasks.route_new(sessions, now=T0 + timedelta(days=7, minutes=2))

    families = {f.name: f for f in lead_metrics.LeadCollector(sessions).collect()}

    recycled = {s.labels["reason"]: s.value for s in families["l2c_leads_recycled"].samples}
    assert recycled == {"no_followup": 2}
    routed = [
        (s.labels["rule"], s.labels["catch_all"], s.value)
        for s in families["l2c_leads_routed"].samples
        if s.name.endswith("_total")
    ]
    # the two recycled leads stay in their pool: routing takes only the new one
    assert routed == [("everything else", "true", 1)]
    assert families["l2c_leads_overdue"].samples[0].value == 0
    assert families["l2c_leads_unrouted"].samples[0].value == 0


def test_overdue_and_unrouted_leads_show_as_backlogs(sessions, tenant) -> None:
    _owned(sessions, tenant, 2)  # deadline T0 + 7 days, long past: recycling is late
    with sessions.begin() as session:
        _leads(session, tenant, 1)  # in no pool yet: routing has not run

    families = {f.name: f for f in lead_metrics.LeadCollector(sessions).collect()}

    assert families["l2c_leads_overdue"].samples[0].value == 2
    assert families["l2c_leads_unrouted"].samples[0].value == 1
