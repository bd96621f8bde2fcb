"""The one ownership service: every change of a lead's owner or pool goes through here.

Claim, return, assign, transfer, deposit, recycle, routing — and owner changes that
arrive by sync, import or a plain edit (the store hands those to `adopt`) — all end in
`_apply`, which writes the lead's `owner_id`, (re)computes the recycle deadline in
`lead_assignment` and appends the audit row, in the caller's transaction. So no surface
can give a lead an owner without a deadline, which is the hole users of other CRMs hit
when a bulk edit or an import bypasses the pool rules.

Deadlines (per pool, per grade; `PoolRules.deadlines_for`):
    followup_due = (last qualifying follow-up, else owned_since) + followup_days
    convert_due  = owned_since + convert_days
    recycle_at   = min(followup_due, convert_due)
    remind_at    = recycle_at - remind_days_before
The grade is the lead's stored score grade when the owner changes or a follow-up is logged.

Concurrency: every operation first takes the tenant's write lock (an advisory lock on
PostgreSQL, the database lock on SQLite), then reads. Two reps claiming one lead at the
same instant therefore run one after the other; the second sees an owner and is refused.
Claim budgets count this pool's claims of the rep since the period began, in the
pool's time zone (`PoolRules.timezone`, Asia/Shanghai by default).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ConflictError, DataError, ForbiddenError, NotFoundError
from core.model.entities import entity
from core.model.tables import Lead, LeadOwnershipEvent, LeadScore, table_of
from core.sales.leads import pools
from core.sales.leads.claim_rules import CLOSED_STATUSES, check_claim
from core.sales.leads.schemas import (
    Action,
    AssignmentView,
    OwnershipEventView,
    PoolRules,
    Via,
)
from core.store.bulk import bulk_writer

LEAD = table_of(Lead)
EVENT = table_of(LeadOwnershipEvent)
SCORE = table_of(LeadScore)
ASSIGNMENT = pools.ASSIGNMENT
_ASSIGNMENT_COLUMNS = (
    "pool_id",
    "owner_id",
    "owned_since",
    "followup_due",
    "convert_due",
    "recycle_at",
    "remind_at",
    "reminded_at",
    "last_followup_at",
    "grade",
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes ownership and through which surface (the audit's `actor` and `via`)."""

    id: str
    via: Via
    user_id: uuid.UUID | None = None

    @classmethod
    def user(cls, user_id: uuid.UUID, via: Via = "api") -> Actor:
        return cls(str(user_id), via, user_id)

    @classmethod
    def system(cls, via: Via = "schedule") -> Actor:
        return cls("system", via)

    @classmethod
    def connection(cls, connection_id: uuid.UUID, via: Via = "sync") -> Actor:
        return cls(f"connection:{connection_id}", via)


@dataclass(slots=True)
class _Change:
    lead_id: uuid.UUID
    action: Action
    to_owner: uuid.UUID | None
    pool_id: uuid.UUID | None
    reason_code: str | None = None
    note: str | None = None
    owner_written: bool = False
    """The store already wrote lead.owner_id (sync, import, edit): only adopt it."""


@dataclass(slots=True)
class _Current:
    lead_id: uuid.UUID
    status: str | None
    lead_owner: uuid.UUID | None
    row: dict[str, Any] | None = field(default=None)


def _lock(session: Session, tenant_id: uuid.UUID) -> None:
    bulk_writer(session).lock_tenant(str(tenant_id))


# ----------------------------------------------------------------------------- reads
def _load(
    session: Session, tenant_id: uuid.UUID, lead_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, _Current]:
    found = {
        r.id: _Current(r.id, r.status, r.owner_id)
        for r in session.execute(
            select(LEAD.c.id, LEAD.c.status, LEAD.c.owner_id).where(
                LEAD.c.tenant_id == tenant_id, LEAD.c.id.in_(lead_ids)
            )
        )
    }
    missing = [i for i in lead_ids if i not in found]
    if missing:
        raise NotFoundError(
            f"no lead {missing[0]} in this tenant", hint="list leads: GET /v1/leads"
        )
    for r in session.execute(
        select(ASSIGNMENT.c.lead_id, *(ASSIGNMENT.c[c] for c in _ASSIGNMENT_COLUMNS)).where(
            ASSIGNMENT.c.tenant_id == tenant_id, ASSIGNMENT.c.lead_id.in_(lead_ids)
        )
    ):
        found[r.lead_id].row = {c: getattr(r, c) for c in _ASSIGNMENT_COLUMNS}
    return found


def get_assignment(session: Session, tenant_id: uuid.UUID, lead_id: uuid.UUID) -> AssignmentView:
    current = _load(session, tenant_id, [lead_id])[lead_id]
    return _view(lead_id, current.row)


def _view(lead_id: uuid.UUID, row: dict[str, Any] | None) -> AssignmentView:
    values = dict.fromkeys(AssignmentView.model_fields, None) | (row or {})
    values["lead_id"] = lead_id
    values.pop("reminded_at", None)
    return AssignmentView.model_validate(values)


def history(
    session: Session, tenant_id: uuid.UUID, lead_id: uuid.UUID, *, limit: int = 200
) -> list[OwnershipEventView]:
    rows = session.execute(
        select(EVENT)
        .where(EVENT.c.tenant_id == tenant_id, EVENT.c.lead_id == lead_id)
        .order_by(EVENT.c.at.desc(), EVENT.c.id)
        .limit(limit)
    )
    return [OwnershipEventView.model_validate(r, from_attributes=True) for r in rows]


def _grades(
    session: Session, tenant_id: uuid.UUID, lead_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    rows = session.execute(
        select(SCORE.c.lead_id, SCORE.c.grade).where(
            SCORE.c.tenant_id == tenant_id, SCORE.c.lead_id.in_(lead_ids)
        )
    )
    return {r.lead_id: r.grade for r in rows}


# ----------------------------------------------------------------------------- deadlines
def deadlines(
    rules: PoolRules,
    grade: str | None,
    owned_since: datetime,
    last_followup_at: datetime | None,
) -> dict[str, datetime | None]:
    """The deadline columns for an owned lead (formulas in the module docstring)."""
    d = rules.deadlines_for(grade)
    start = max(owned_since, last_followup_at) if last_followup_at else owned_since
    followup_due = start + timedelta(days=d.followup_days)
    convert_due = owned_since + timedelta(days=d.convert_days)
    recycle_at = min(followup_due, convert_due)
    remind_at = (
        recycle_at - timedelta(days=rules.remind_days_before) if rules.remind_days_before else None
    )
    return {
        "followup_due": followup_due,
        "convert_due": convert_due,
        "recycle_at": recycle_at,
        "remind_at": remind_at,
        "reminded_at": None,
    }


_UNOWNED = dict.fromkeys(
    ("owned_since", "followup_due", "convert_due", "recycle_at", "remind_at", "reminded_at"), None
)


# ----------------------------------------------------------------------------- the writer
def _apply(
    session: Session,
    tenant_id: uuid.UUID,
    changes: Sequence[_Change],
    actor: Actor,
    now: datetime,
    current: dict[uuid.UUID, _Current],
) -> list[AssignmentView]:
    """Write owners, assignments and audit rows for `changes` (one per lead)."""
    from core.store.direct import patch_record  # the store calls back into adopt()

    rules_by_pool: dict[uuid.UUID, PoolRules] = {}
    fallback: uuid.UUID | None = None
    grades = _grades(session, tenant_id, [c.lead_id for c in changes])
    rows: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    views: list[AssignmentView] = []
    lead_spec = entity("lead")
    for change in changes:
        held = current[change.lead_id]
        before = held.row or {}
        pool_id = change.pool_id or before.get("pool_id")
        if pool_id is None:
            if fallback is None:
                fallback = pools.default_pool(session, tenant_id).id
            pool_id = fallback
        if pool_id not in rules_by_pool:
            rules_by_pool[pool_id] = pools.get_pool(session, tenant_id, pool_id).rules
        rules = rules_by_pool[pool_id]
        from_owner = (
            held.lead_owner if change.owner_written else before.get("owner_id", held.lead_owner)
        )
        row: dict[str, Any] = {c: before.get(c) for c in _ASSIGNMENT_COLUMNS}
        row["pool_id"] = pool_id
        row["owner_id"] = change.to_owner
        grade = grades.get(change.lead_id)
        if change.to_owner is None:
            row |= _UNOWNED
            row["last_followup_at"] = None
        elif change.to_owner != before.get("owner_id") or not before.get("recycle_at"):
            row["owned_since"] = now
            row["last_followup_at"] = None
            row["grade"] = grade
            row |= deadlines(rules, grade, now, None)
        if not change.owner_written and held.lead_owner != change.to_owner:
            patch_record(
                session,
                tenant_id,
                lead_spec,
                change.lead_id,
                {"owner_id": change.to_owner},
                now=now,
                via_ownership=True,
            )
        rows.append((change.lead_id, tenant_id, *(row[c] for c in _ASSIGNMENT_COLUMNS), 1, now))
        events.append(
            (
                uuid.uuid4(),
                tenant_id,
                change.lead_id,
                change.action,
                actor.via,
                actor.id,
                from_owner,
                change.to_owner,
                pool_id,
                change.reason_code,
                change.note,
                row["recycle_at"],
                now,
            )
        )
        views.append(_view(change.lead_id, row))
    writer = bulk_writer(session)
    writer.upsert(
        ASSIGNMENT,
        ["lead_id"],
        ["tenant_id", *_ASSIGNMENT_COLUMNS, "version", "updated_at"],
        rows,
    )
    writer.insert(
        EVENT,
        [
            "id",
            "tenant_id",
            "lead_id",
            "action",
            "via",
            "actor",
            "from_owner",
            "to_owner",
            "pool_id",
            "reason_code",
            "note",
            "recycle_at",
            "at",
        ],
        events,
    )
    return views


# ----------------------------------------------------------------------------- checks
def _open(current: _Current) -> None:
    if current.status in CLOSED_STATUSES:
        raise ConflictError(
            f"lead is {current.status}: its ownership no longer changes",
            hint="reopen the lead (status) first",
        )


def _acting_user(session: Session, tenant_id: uuid.UUID, actor: Actor) -> pools.UserInfo | None:
    return None if actor.user_id is None else pools.require_user(session, tenant_id, actor.user_id)


# ----------------------------------------------------------------------------- operations
def claim(
    session: Session,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    user_id: uuid.UUID,
    actor: Actor,
    *,
    now: datetime | None = None,
) -> AssignmentView:
    """A rep takes an unowned lead from its pool, within the pool's rules."""
    now = now or utcnow()
    _lock(session, tenant_id)
    user = pools.require_user(session, tenant_id, user_id)
    current = _load(session, tenant_id, [lead_id])
    held = current[lead_id]
    _open(held)
    row = held.row or {}
    if row.get("pool_id") is None:
        raise ConflictError(
            "this lead is in no pool, so it cannot be claimed",
            hint="a pool admin deposits it into a pool first",
        )
    if row.get("owner_id") == user_id:
        return _view(lead_id, row)
    if row.get("owner_id") is not None:
        raise ConflictError(
            f"lead is already owned (since {row['owned_since']:%Y-%m-%d %H:%M:%S} UTC)",
            hint="claim another lead; its owner or a pool admin can release it",
            code="owned",
        )
    if not user.active:
        raise ForbiddenError(f"{user.name} is inactive", hint="reactivate the user first")
    pool = pools.get_pool(session, tenant_id, row["pool_id"])
    role = pools.pool_role(session, tenant_id, pool.id, user)
    if role is None:
        raise ForbiddenError(
            f"{user.name} is not a member of pool {pool.name!r}",
            hint="a pool admin adds members: POST /v1/lead-pools/{id}/members",
        )
    acting = _acting_user(session, tenant_id, actor)
    if acting is not None and acting.id != user.id:
        pools.require_admin(session, tenant_id, pool.id, acting, "claim for someone else")
    check_claim(session, tenant_id, lead_id, user, pool, now)
    return _apply(
        session, tenant_id, [_Change(lead_id, "claim", user_id, pool.id)], actor, now, current
    )[0]


def return_lead(
    session: Session,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    reason_code: str,
    actor: Actor,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> AssignmentView:
    """The owner gives a lead back to its pool with a reason (a negative scoring signal)."""
    now = now or utcnow()
    _lock(session, tenant_id)
    current = _load(session, tenant_id, [lead_id])
    held = current[lead_id]
    _open(held)
    row = held.row or {}
    owner = row.get("owner_id")
    if owner is None:
        raise ConflictError("this lead has no owner to return it", hint="claim it first")
    pool = pools.get_pool(session, tenant_id, row["pool_id"])
    if reason_code not in pool.rules.return_reasons:
        raise DataError(
            f"reason_code: {reason_code!r} is not a return reason of pool {pool.name!r}",
            field="reason_code",
            code="unknown_reason",
            hint=f"use one of: {', '.join(pool.rules.return_reasons)}",
        )
    acting = _acting_user(session, tenant_id, actor)
    if acting is not None and acting.id != owner:
        pools.require_admin(session, tenant_id, pool.id, acting, "return someone else's lead")
    change = _Change(lead_id, "return", None, pool.id, reason_code=reason_code, note=note)
    return _apply(session, tenant_id, [change], actor, now, current)[0]


def assign(
    session: Session,
    tenant_id: uuid.UUID,
    lead_ids: Sequence[uuid.UUID],
    user_id: uuid.UUID,
    actor: Actor,
    *,
    pool_id: uuid.UUID | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> list[AssignmentView]:
    """A pool admin gives leads to a rep (`assign` when unowned, `transfer` when owned).

    Budgets, caps and cooldowns limit what reps take for themselves, not what a manager
    decides; the deadline applies either way.
    """
    now = now or utcnow()
    _lock(session, tenant_id)
    user = pools.require_user(session, tenant_id, user_id)
    if not user.active:
        raise ForbiddenError(f"{user.name} is inactive", hint="assign to an active user")
    if pool_id is not None:
        pools.get_pool(session, tenant_id, pool_id)
    current = _load(session, tenant_id, list(dict.fromkeys(lead_ids)))
    acting = _acting_user(session, tenant_id, actor)
    changes = []
    for lead_id, held in current.items():
        _open(held)
        target_pool = pool_id or (held.row or {}).get("pool_id")
        if acting is not None and target_pool is not None:
            pools.require_admin(session, tenant_id, target_pool, acting, "assign leads")
        owner = (held.row or {}).get("owner_id")
        if owner == user_id and pool_id in (None, (held.row or {}).get("pool_id")):
            continue
        action: Action = "transfer" if owner is not None else "assign"
        changes.append(_Change(lead_id, action, user_id, target_pool, note=note))
    changed = {v.lead_id: v for v in _apply(session, tenant_id, changes, actor, now, current)}
    return [changed.get(i) or _view(i, held.row) for i, held in current.items()]


def deposit(
    session: Session,
    tenant_id: uuid.UUID,
    lead_ids: Sequence[uuid.UUID],
    pool_id: uuid.UUID,
    actor: Actor,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> list[AssignmentView]:
    """A pool admin puts leads into a pool, unowned (an owner loses them)."""
    now = now or utcnow()
    _lock(session, tenant_id)
    pool = pools.get_pool(session, tenant_id, pool_id)
    acting = _acting_user(session, tenant_id, actor)
    if acting is not None:
        pools.require_admin(session, tenant_id, pool.id, acting, "deposit leads")
    current = _load(session, tenant_id, list(dict.fromkeys(lead_ids)))
    changes = []
    for lead_id, held in current.items():
        _open(held)
        row = held.row or {}
        if row.get("pool_id") == pool_id and row.get("owner_id") is None:
            continue
        changes.append(_Change(lead_id, "deposit", None, pool_id, note=note))
    return _apply(session, tenant_id, changes, actor, now, current)


def adopt(
    session: Session,
    tenant_id: uuid.UUID,
    owners: Sequence[tuple[uuid.UUID, uuid.UUID | None]],
    actor: Actor,
    *,
    now: datetime | None = None,
) -> None:
    """Owner changes the store already wrote (sync, import, plain edits): give each its
    pool and deadline and audit it, exactly as an assignment would."""
    if not owners:
        return
    now = now or utcnow()
    latest = dict(owners)
    current = _load(session, tenant_id, list(latest))
    changes = []
    for lead_id, owner in latest.items():
        before = (current[lead_id].row or {}).get("owner_id")
        if before == owner and (owner is None or (current[lead_id].row or {}).get("recycle_at")):
            continue
        action: Action = "release" if owner is None else ("transfer" if before else "assign")
        changes.append(_Change(lead_id, action, owner, None, owner_written=True))
    _apply(session, tenant_id, changes, actor, now, current)


def close(
    session: Session,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    actor: Actor,
    *,
    action: Action,
    note: str | None = None,
    now: datetime | None = None,
) -> None:
    """A lead leaves pool management (converted, merged away): its assignment goes, the
    audit keeps the owner it had."""
    now = now or utcnow()
    _lock(session, tenant_id)
    held = _load(session, tenant_id, [lead_id])[lead_id]
    row = held.row or {}
    session.execute(
        delete(ASSIGNMENT).where(
            ASSIGNMENT.c.tenant_id == tenant_id, ASSIGNMENT.c.lead_id == lead_id
        )
    )
    session.execute(
        insert(EVENT).values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            lead_id=lead_id,
            action=action,
            via=actor.via,
            actor=actor.id,
            from_owner=row.get("owner_id", held.lead_owner),
            to_owner=held.lead_owner,
            pool_id=row.get("pool_id"),
            note=note,
            at=now,
        )
    )


def record_followup(
    session: Session,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    activity_type: str,
    at: datetime,
    *,
    now: datetime | None = None,
) -> bool:
    """A follow-up happened; when its type qualifies under the pool's rules, the
    follow-up deadline restarts from it. Returns whether it counted."""
    now = now or utcnow()
    _lock(session, tenant_id)
    row = _load(session, tenant_id, [lead_id])[lead_id].row
    if not row or row.get("owner_id") is None or at < row["owned_since"]:
        return False
    rules = pools.get_pool(session, tenant_id, row["pool_id"]).rules
    if activity_type not in rules.followup_types:
        return False
    last = max(at, row["last_followup_at"]) if row.get("last_followup_at") else at
    grade = _grades(session, tenant_id, [lead_id]).get(lead_id) or row.get("grade")
    values = deadlines(rules, grade, row["owned_since"], last) | {
        "last_followup_at": last,
        "grade": grade,
        "updated_at": now,
        "version": ASSIGNMENT.c.version + 1,
    }
    session.execute(
        update(ASSIGNMENT)
        .where(ASSIGNMENT.c.tenant_id == tenant_id, ASSIGNMENT.c.lead_id == lead_id)
        .values(values)
    )
    return True


def place(
    session: Session,
    tenant_id: uuid.UUID,
    placements: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]],
    actor: Actor,
    *,
    now: datetime | None = None,
) -> list[AssignmentView]:
    """Routing's verdicts, `(lead, pool, owner or None)` each, applied in one batch."""
    if not placements:
        return []
    now = now or utcnow()
    _lock(session, tenant_id)
    current = _load(session, tenant_id, [p[0] for p in placements])
    changes = [
        _Change(lead_id, "route", owner, pool_id)
        for lead_id, pool_id, owner in placements
        if current[lead_id].status not in CLOSED_STATUSES
    ]
    return _apply(session, tenant_id, changes, actor, now, current)
