"""What a rep may claim: the cooldown after giving a lead up, the claim budget per
period in the pool's time zone, and the work-in-progress cap. Managers' assignments are
not limited by these (see core.sales.leads.ownership)."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import ConflictError
from core.model.tables import Lead, LeadAssignment, LeadOwnershipEvent, table_of
from core.sales.leads import pools

EVENT = table_of(LeadOwnershipEvent)
ASSIGNMENT = table_of(LeadAssignment)
LEAD = table_of(Lead)
CLOSED_STATUSES = frozenset({"converted", "disqualified"})


def still_open() -> Any:
    """Leads whose ownership still runs: a converted or disqualified lead keeps its last
    owner (history) but no longer counts toward caps, recycles or reminders."""
    return func.coalesce(LEAD.c.status, "new").not_in(tuple(sorted(CLOSED_STATUSES)))


def _period_start(now: datetime, period: str, zone: ZoneInfo) -> datetime:
    """Midnight of the day, the week's Monday or the month's 1st, in the pool's time zone
    (a Beijing team's day starts at 00:00 Beijing time, not at 08:00)."""
    local = now.astimezone(zone)
    day = datetime.combine(local.date(), time(), tzinfo=zone)
    if period == "day":
        return day
    if period == "week":
        return datetime.combine(local.date() - timedelta(days=local.weekday()), time(), zone)
    return datetime.combine(local.date().replace(day=1), time(), tzinfo=zone)


def _next_period(start: datetime, period: str) -> datetime:
    """The start of the next period, at local midnight (calendar days, not 24-hour steps)."""
    if period == "day":
        nxt = start.date() + timedelta(days=1)
    elif period == "week":
        nxt = start.date() + timedelta(days=7)
    else:
        nxt = (start.date() + timedelta(days=32)).replace(day=1)
    return datetime.combine(nxt, time(), tzinfo=start.tzinfo)


def check_claim(
    session: Session,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    user: pools.UserInfo,
    pool: pools.Pool,
    now: datetime,
) -> None:
    rules = pool.rules
    if rules.cooldown_days:
        last = session.execute(
            select(func.max(EVENT.c.at)).where(
                EVENT.c.tenant_id == tenant_id,
                EVENT.c.lead_id == lead_id,
                EVENT.c.from_owner == user.id,
                EVENT.c.action.in_(("return", "recycle")),
            )
        ).scalar()
        if last is not None and last + timedelta(days=rules.cooldown_days) > now:
            until = last + timedelta(days=rules.cooldown_days)
            raise ConflictError(
                f"{user.name} gave this lead up on {last:%Y-%m-%d %H:%M} UTC and may claim it "
                f"again from {until:%Y-%m-%d %H:%M} UTC (cooldown {rules.cooldown_days} days)",
                hint="another member may claim it now",
                field="user_id",
                code="cooldown",
            )
    if rules.claim_budget is not None:
        zone = ZoneInfo(rules.timezone)
        start = _period_start(now, rules.budget_period, zone)
        used = session.execute(
            select(func.count()).where(
                EVENT.c.tenant_id == tenant_id,
                EVENT.c.to_owner == user.id,
                EVENT.c.action == "claim",
                EVENT.c.pool_id == pool.id,
                EVENT.c.at >= start,
            )
        ).scalar_one()
        if used >= rules.claim_budget:
            renews = _next_period(start, rules.budget_period)
            raise ConflictError(
                f"{user.name} has used the claim budget of pool {pool.name!r}: "
                f"{used} of {rules.claim_budget} per {rules.budget_period}",
                hint=f"it renews {renews:%Y-%m-%d %H:%M} {rules.timezone}; "
                "a pool admin may assign leads",
                field="user_id",
                code="claim_budget",
            )
    if rules.wip_cap is not None:
        held = session.execute(
            select(func.count())
            .select_from(ASSIGNMENT.join(LEAD, LEAD.c.id == ASSIGNMENT.c.lead_id))
            .where(
                ASSIGNMENT.c.tenant_id == tenant_id, ASSIGNMENT.c.owner_id == user.id, still_open()
            )
        ).scalar_one()
        if held >= rules.wip_cap:
            raise ConflictError(
                f"{user.name} already owns {held} open leads, the cap of pool {pool.name!r} "
                f"is {rules.wip_cap}",
                hint="convert, disqualify or return leads first",
                field="user_id",
                code="wip_cap",
            )
