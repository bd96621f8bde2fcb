"""/v1/lead-pools: lead pools (线索池), their rules and members, their leads, deposits.

Rules are the `PoolRules` document (claim budget, WIP cap, cooldown, deadlines per
grade, follow-up types, return reasons); problems name the rule (`body.rules.cooldown_days`).
With `X-Acting-User`, changing a pool needs that user to be its admin (or a manager).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.http.deps import AdminSession, ReadSession, WriteSession, tenant_of
from api.http.pagination import Cursor, Limit, Page, decode_cursor, page_of
from api.http.routers._integration import created, page_example, paginate
from api.http.routers._sales import (
    ASSIGNMENT_EXAMPLE,
    EXAMPLE_LEAD,
    EXAMPLE_POOL,
    EXAMPLE_REP,
    ActingUser,
    AssignmentOut,
    LeadIds,
    Note,
    actor_for,
    assignment_out,
    in_body,
    require_leads,
    single_valued,
)
from core.errors import DataError, ForbiddenError
from core.model.tables import LeadAssignment
from core.sales.leads import ownership, pools
from core.sales.leads.schemas import PoolRules

router = APIRouter(prefix="/lead-pools", tags=["lead-pools"], dependencies=[Depends(single_valued)])

PoolId = Annotated[uuid.UUID, Path(examples=[EXAMPLE_POOL], description="The pool's id.")]
PoolName = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$", examples=["华东"])
]
Description = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")]
TeamId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]

INT64_MAX = 2**63 - 1


def _storable(rules: PoolRules) -> PoolRules:
    """The unbounded counts must fit the JSON column's 64-bit integers."""
    for name in ("claim_budget", "wip_cap"):
        value = getattr(rules, name)
        if value is not None and value > INT64_MAX:
            raise ValueError(f"{name} must be at most {INT64_MAX}")
    return rules


Rules = Annotated[PoolRules, AfterValidator(_storable)]
RULES_EXAMPLE: dict[str, Any] = {
    "claim_budget": 20,
    "budget_period": "week",
    "wip_cap": 50,
    "cooldown_days": 7,
    "deadlines": {"followup_days": 7, "convert_days": 30},
    "by_grade": {"A": {"followup_days": 3, "convert_days": 14}},
    "remind_days_before": 2,
    "followup_types": ["call", "visit", "meeting"],
    "return_reasons": ["unreachable", "no_budget", "no_need", "other"],
}
POOL_IN_EXAMPLE: dict[str, Any] = {
    "name": "华东",
    "description": "Leads from Shanghai, Zhejiang and Jiangsu",
    "rules": RULES_EXAMPLE,
}
POOL_PATCH_EXAMPLE: dict[str, Any] = {"description": "East China: Shanghai, Zhejiang, Jiangsu"}
POOL_EXAMPLE: dict[str, Any] = {
    "id": EXAMPLE_POOL,
    **POOL_IN_EXAMPLE,
    "active": True,
    "unowned": 12,
    "owned": 30,
    "created_at": "2025-06-02T09:30:00Z",
    "updated_at": "2025-06-02T09:30:00Z",
}
MEMBER_IN_EXAMPLE: dict[str, Any] = {"user_id": EXAMPLE_REP, "role": "member"}
DEPOSIT_EXAMPLE: dict[str, Any] = {"lead_ids": [EXAMPLE_LEAD], "note": "trade show batch"}


class PoolIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [POOL_IN_EXAMPLE]})

    name: PoolName
    description: Description | None = None
    rules: Rules = Field(
        default_factory=PoolRules, description="The pool's rules; omitted ones take defaults."
    )


class PoolPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [POOL_PATCH_EXAMPLE]})

    name: PoolName | None = None
    description: Description | None = None
    rules: Rules | None = Field(
        default=None,
        description="The whole new rule document; it applies to later owner changes.",
    )
    active: StrictBool | None = None


class PoolOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [POOL_EXAMPLE]})

    id: uuid.UUID
    name: str
    description: str | None
    rules: PoolRules
    active: bool
    unowned: int = Field(description="Leads in the pool nobody owns (claimable).")
    owned: int = Field(description="Leads of the pool that have an owner.")
    created_at: datetime
    updated_at: datetime


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [MEMBER_IN_EXAMPLE]})

    user_id: uuid.UUID | None = Field(default=None, description="A user; or send team_id.")
    team_id: TeamId | None = Field(default=None, description="A team of the `teams` setting.")
    role: Literal["member", "admin"] = Field(
        default="member", description="`member` claims; `admin` also deposits and assigns."
    )


class MemberOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**MEMBER_IN_EXAMPLE, "team_id": None}]}
    )

    user_id: uuid.UUID | None
    team_id: str | None
    role: str


class MembersOut(BaseModel):
    items: list[MemberOut]


class DepositIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [DEPOSIT_EXAMPLE]})

    lead_ids: LeadIds
    note: Note | None = None


class DepositOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"deposited": 1, "items": [{**ASSIGNMENT_EXAMPLE, "owner_id": None}]}]
        }
    )

    deposited: int = Field(description="Leads moved or released into the pool.")
    items: list[AssignmentOut] = Field(description="Their assignments now.")


def _out(pool: pools.Pool, stats: pools.PoolStats | None) -> PoolOut:
    return PoolOut(
        id=pool.id,
        name=pool.name,
        description=pool.description,
        rules=pool.rules,
        active=pool.active,
        unowned=stats.unowned if stats else 0,
        owned=stats.owned if stats else 0,
        created_at=pool.created_at,
        updated_at=pool.updated_at,
    )


def _admin(session: Session, pool_id: uuid.UUID, acting: uuid.UUID | None, what: str) -> None:
    """With an acting user, only the pool's admins (and managers) change it."""
    tenant_id = tenant_of(session)
    pools.get_pool(session, tenant_id, pool_id)
    actor = actor_for(session, tenant_id, acting)
    if actor.user_id is not None:
        user = pools.require_user(session, tenant_id, actor.user_id)
        pools.require_admin(session, tenant_id, pool_id, user, what)


@router.post(
    "",
    status_code=201,
    response_model=PoolOut,
    summary="Create a lead pool",
    responses={201: {"headers": {"Location": {"schema": {"type": "string"}}}}},
)
def create_pool(
    body: PoolIn, session: AdminSession, response: Response, acting: ActingUser = None
) -> PoolOut:
    """A pool with its rules. 409 (naming `body.name`) when the name is taken; with
    `X-Acting-User`, only managers and admins create pools (403)."""
    tenant_id = tenant_of(session)
    actor = actor_for(session, tenant_id, acting)
    if actor.user_id is not None:
        user = pools.require_user(session, tenant_id, actor.user_id)
        if user.role not in pools.MANAGER_ROLES:
            raise ForbiddenError(
                f"{user.name} may not create pools: only managers and admins may",
                hint="ask a manager",
            )
    with in_body():
        pool = pools.create_pool(
            session,
            tenant_id,
            body.name,
            rules=body.rules.model_dump(mode="json"),
            description=body.description,
        )
    created(response, f"/v1/lead-pools/{pool.id}")
    return _out(pool, None)


@router.get(
    "",
    response_model=Page[PoolOut],
    summary="List lead pools",
    responses=page_example(POOL_EXAMPLE),
)
def list_pools(session: ReadSession, limit: Limit = 50, cursor: Cursor = None) -> Page[PoolOut]:
    """The tenant's pools by name, each with its unowned and owned lead counts."""
    tenant_id = tenant_of(session)
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, str):
        raise DataError(
            "the cursor is not one this API issued",
            field="query.cursor",
            code="invalid_cursor",
            hint="pass the next_cursor of the previous page unchanged, or omit it",
        )
    listed = [p for p in pools.list_pools(session, tenant_id) if after is None or p.name > after]
    stats = pools.pool_stats(session, tenant_id)
    page = page_of(listed[: limit + 1], limit, key=lambda p: p.name)
    return Page[PoolOut](
        items=[_out(p, stats.get(p.id)) for p in page.items], next_cursor=page.next_cursor
    )


@router.get("/{pool_id}", response_model=PoolOut, summary="Get a lead pool")
def get_pool(pool_id: PoolId, session: ReadSession) -> PoolOut:
    """One pool with its rules and lead counts."""
    tenant_id = tenant_of(session)
    pool = pools.get_pool(session, tenant_id, pool_id)
    return _out(pool, pools.pool_stats(session, tenant_id).get(pool_id))


@router.patch("/{pool_id}", response_model=PoolOut, summary="Change a lead pool")
def patch_pool(
    pool_id: PoolId, body: PoolPatch, session: AdminSession, acting: ActingUser = None
) -> PoolOut:
    """Rename it, change its description, replace its rules or (de)activate it. New rules
    apply from the next owner change of each lead."""
    _admin(session, pool_id, acting, "change the pool")
    changes = body.model_dump(exclude_unset=True, mode="json")
    changes = {k: v for k, v in changes.items() if v is not None or k == "description"}
    with in_body():
        pool = pools.update_pool(session, tenant_of(session), pool_id, changes)
    return _out(pool, pools.pool_stats(session, tenant_of(session)).get(pool_id))


@router.get("/{pool_id}/members", response_model=MembersOut, summary="List a pool's members")
def list_members(pool_id: PoolId, session: ReadSession) -> MembersOut:
    """Users and teams of the pool with their role (admins first)."""
    members = pools.list_members(session, tenant_of(session), pool_id)
    return MembersOut(
        items=[MemberOut(user_id=m.user_id, team_id=m.team_id, role=m.role) for m in members]
    )


@router.post(
    "/{pool_id}/members", status_code=201, response_model=MemberOut, summary="Add a pool member"
)
def add_member(
    pool_id: PoolId, body: MemberIn, session: AdminSession, acting: ActingUser = None
) -> MemberOut:
    """Add a user or a team (by its id in the `teams` setting), or change its role."""
    _admin(session, pool_id, acting, "change members")
    with in_body():
        member = pools.add_member(
            session,
            tenant_of(session),
            pool_id,
            user_id=body.user_id,
            team_id=body.team_id,
            role=body.role,
        )
    return MemberOut(user_id=member.user_id, team_id=member.team_id, role=member.role)


@router.delete(
    "/{pool_id}/members",
    status_code=204,
    response_class=Response,
    summary="Remove a pool member",
)
def remove_member(
    pool_id: PoolId,
    session: AdminSession,
    user_id: Annotated[uuid.UUID | None, Query(examples=[EXAMPLE_REP])] = None,
    team_id: Annotated[
        str | None, Query(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
    ] = None,
    acting: ActingUser = None,
) -> Response:
    """Remove the user or team named by `user_id` or `team_id` (404 when not a member).
    Leads they own stay theirs."""
    _admin(session, pool_id, acting, "change members")
    if (user_id is None) == (team_id is None):
        raise DataError(
            "name one member: user_id or team_id",
            field="query.user_id",
            code="one_of",
            hint="send ?user_id=… or ?team_id=…",
        )
    pools.remove_member(session, tenant_of(session), pool_id, user_id=user_id, team_id=team_id)
    return Response(status_code=204)


@router.get(
    "/{pool_id}/leads",
    response_model=Page[AssignmentOut],
    summary="List a pool's leads",
    responses=page_example(ASSIGNMENT_EXAMPLE),
)
def pool_leads(
    pool_id: PoolId,
    session: ReadSession,
    owned: Annotated[
        bool | None,
        Query(examples=[False], description="false: claimable leads; true: owned; omit: all."),
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AssignmentOut]:
    """The pool's leads with their owners and deadlines, by lead id."""
    tenant_id = tenant_of(session)
    pools.get_pool(session, tenant_id, pool_id)
    query = select(LeadAssignment).where(
        LeadAssignment.tenant_id == tenant_id, LeadAssignment.pool_id == pool_id
    )
    if owned is not None:
        owner = LeadAssignment.owner_id
        query = query.where(owner.is_not(None) if owned else owner.is_(None))
    return paginate(
        session,
        query,
        LeadAssignment.lead_id,
        limit=limit,
        cursor=cursor,
        convert=AssignmentOut.model_validate,
    )


@router.post("/{pool_id}/deposit", response_model=DepositOut, summary="Deposit leads into a pool")
def deposit(
    pool_id: PoolId, body: DepositIn, session: WriteSession, acting: ActingUser = None
) -> DepositOut:
    """Put leads into the pool, unowned (an owner loses them; audited as `deposit`).
    Leads already unowned in it are left alone. 404 when a lead is not this tenant's;
    with `X-Acting-User`, only the pool's admins may (403)."""
    tenant_id = tenant_of(session)
    pools.get_pool(session, tenant_id, pool_id)
    require_leads(session, tenant_id, body.lead_ids)
    actor = actor_for(session, tenant_id, acting)
    with in_body():
        views = ownership.deposit(session, tenant_id, body.lead_ids, pool_id, actor, note=body.note)
    return DepositOut(deposited=len(views), items=[assignment_out(v) for v in views])
