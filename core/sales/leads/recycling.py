"""The scheduled side of ownership: leads past their deadline go back to their pools,
and owners hear about it before (deadline formulas in core.sales.leads.ownership).

Both run through the ownership service's writer, so a recycle is audited, restarts the
old owner's cooldown and keeps `lead.owner_id` in step, exactly like a return.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.model.entities import entity
from core.sales.leads.claim_rules import still_open
from core.sales.leads.ownership import (
    ASSIGNMENT,
    LEAD,
    Actor,
    _apply,
    _Change,
    _load,
    _lock,
)


@dataclass(frozen=True, slots=True)
class Recycled:
    lead_id: uuid.UUID
    owner_id: uuid.UUID
    reason: str


def recycle_due(
    session: Session, tenant_id: uuid.UUID, *, now: datetime | None = None, limit: int = 1000
) -> list[Recycled]:
    """Return owned leads past their deadline to their pools (reason: which deadline)."""
    now = now or utcnow()
    _lock(session, tenant_id)
    due = session.execute(
        select(
            ASSIGNMENT.c.lead_id,
            ASSIGNMENT.c.owner_id,
            ASSIGNMENT.c.pool_id,
            ASSIGNMENT.c.followup_due,
            ASSIGNMENT.c.convert_due,
        )
        .select_from(ASSIGNMENT.join(LEAD, LEAD.c.id == ASSIGNMENT.c.lead_id))
        .where(
            ASSIGNMENT.c.tenant_id == tenant_id,
            ASSIGNMENT.c.owner_id.is_not(None),
            ASSIGNMENT.c.recycle_at <= now,
            still_open(),
        )
        .order_by(ASSIGNMENT.c.recycle_at, ASSIGNMENT.c.lead_id)
        .limit(limit)
    ).all()
    if not due:
        return []
    current = _load(session, tenant_id, [r.lead_id for r in due])
    changes, out = [], []
    for r in due:
        reason = "not_converted" if r.convert_due <= r.followup_due else "no_followup"
        changes.append(_Change(r.lead_id, "recycle", None, r.pool_id, reason_code=reason))
        out.append(Recycled(r.lead_id, r.owner_id, reason))
    _apply(session, tenant_id, changes, Actor.system(), now, current)
    return out


def remind_due(
    session: Session, tenant_id: uuid.UUID, *, now: datetime | None = None, limit: int = 1000
) -> int:
    """Tell owners their leads go back soon: one `lead.remind` event per lead (webhook
    subscribers deliver it by mail, IM, ...), once per deadline."""
    from core.store.direct import log_event  # the change log is the outbox's source

    now = now or utcnow()
    _lock(session, tenant_id)
    due = session.execute(
        select(ASSIGNMENT.c.lead_id, ASSIGNMENT.c.owner_id, ASSIGNMENT.c.recycle_at)
        .select_from(ASSIGNMENT.join(LEAD, LEAD.c.id == ASSIGNMENT.c.lead_id))
        .where(
            still_open(),
            ASSIGNMENT.c.tenant_id == tenant_id,
            ASSIGNMENT.c.owner_id.is_not(None),
            ASSIGNMENT.c.remind_at <= now,
            ASSIGNMENT.c.reminded_at.is_(None),
            ASSIGNMENT.c.recycle_at > now,
        )
        .order_by(ASSIGNMENT.c.remind_at)
        .limit(limit)
    ).all()
    for r in due:
        log_event(
            session,
            tenant_id,
            entity("lead"),
            r.lead_id,
            "remind",
            {"owner_id": str(r.owner_id), "recycle_at": r.recycle_at.isoformat()},
            now,
        )
    if due:
        session.execute(
            update(ASSIGNMENT)
            .where(
                ASSIGNMENT.c.tenant_id == tenant_id,
                ASSIGNMENT.c.lead_id.in_([r.lead_id for r in due]),
            )
            .values(reminded_at=now)
        )
    return len(due)
