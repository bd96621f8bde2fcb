"""Lead pools (线索池): the pools, their members and admins, and who may do what.

A member may claim from a pool; an admin may also deposit, assign and transfer. A user
whose tenant role is `admin` or `manager` is an admin of every pool. Members are users or
teams (by their id in the `teams` setting), so a team change reaches every pool it is in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ConflictError, DataError, ForbiddenError, NotFoundError
from core.model.tables import (
    LeadAssignment,
    LeadPool,
    LeadPoolMember,
    User,
    table_of,
)
from core.sales import documents
from core.sales.leads.schemas import DEFAULT_RULES, PoolRules

POOL = table_of(LeadPool)
MEMBER = table_of(LeadPoolMember)
ASSIGNMENT = table_of(LeadAssignment)
USER = table_of(User)
MANAGER_ROLES = frozenset({"admin", "manager"})
Role = Literal["member", "admin"]


@dataclass(frozen=True, slots=True)
class Pool:
    id: uuid.UUID
    name: str
    description: str | None
    rules: PoolRules
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PoolStats:
    unowned: int
    owned: int


@dataclass(frozen=True, slots=True)
class PoolMember:
    user_id: uuid.UUID | None
    team_id: str | None
    role: str


def parse_rules(raw: Any) -> PoolRules:
    try:
        return PoolRules.model_validate(raw or {})
    except ValidationError as invalid:
        first = invalid.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        raise DataError(
            f"rules.{path}: {first['msg']}",
            field=f"rules.{path}",
            code=str(first["type"]),
            hint="see docs/leads.md, 'Pool rules'",
        ) from None


def _pool(row: Row[Any]) -> Pool:
    return Pool(
        row.id,
        row.name,
        row.description,
        PoolRules.model_validate(row.rules),
        row.active,
        row.created_at,
        row.updated_at,
    )


# ----------------------------------------------------------------------------- pools
def create_pool(
    session: Session,
    tenant_id: uuid.UUID,
    name: str,
    *,
    rules: Any = None,
    description: str | None = None,
) -> Pool:
    parsed = parse_rules(rules)
    if session.scalar(select(POOL.c.id).where(POOL.c.tenant_id == tenant_id, POOL.c.name == name)):
        raise ConflictError(
            f"a pool named {name!r} exists", field="name", hint="choose another name"
        )
    pool_id, now = uuid.uuid4(), utcnow()
    session.execute(
        insert(POOL).values(
            id=pool_id,
            tenant_id=tenant_id,
            name=name,
            description=description,
            rules=parsed.model_dump(mode="json"),
            active=True,
            created_at=now,
            updated_at=now,
        )
    )
    return get_pool(session, tenant_id, pool_id)


def update_pool(
    session: Session, tenant_id: uuid.UUID, pool_id: uuid.UUID, changes: dict[str, Any]
) -> Pool:
    """Change name, description, rules (a full document) or active. New rules apply to
    later owner changes; current deadlines stay until the lead's next owner change."""
    get_pool(session, tenant_id, pool_id)
    values: dict[str, Any] = {}
    if "rules" in changes:
        values["rules"] = parse_rules(changes["rules"]).model_dump(mode="json")
    for name in ("name", "description", "active"):
        if name in changes:
            values[name] = changes[name]
    if values:
        values["updated_at"] = utcnow()
        try:
            with session.begin_nested():
                session.execute(
                    update(POOL)
                    .where(POOL.c.tenant_id == tenant_id, POOL.c.id == pool_id)
                    .values(values)
                )
        except IntegrityError:
            raise ConflictError(
                f"a pool named {changes.get('name')!r} exists",
                field="name",
                hint="choose another name",
            ) from None
    return get_pool(session, tenant_id, pool_id)


def get_pool(session: Session, tenant_id: uuid.UUID, pool_id: uuid.UUID) -> Pool:
    row = session.execute(
        select(POOL).where(POOL.c.tenant_id == tenant_id, POOL.c.id == pool_id)
    ).first()
    if row is None:
        raise NotFoundError(
            "no such lead pool in this tenant", hint="list pools: GET /v1/lead-pools"
        )
    return _pool(row)


def pool_by_name(session: Session, tenant_id: uuid.UUID, name: str) -> Pool | None:
    row = session.execute(
        select(POOL).where(POOL.c.tenant_id == tenant_id, POOL.c.name == name)
    ).first()
    return None if row is None else _pool(row)


def list_pools(session: Session, tenant_id: uuid.UUID) -> list[Pool]:
    rows = session.execute(select(POOL).where(POOL.c.tenant_id == tenant_id).order_by(POOL.c.name))
    return [_pool(r) for r in rows]


def pool_stats(session: Session, tenant_id: uuid.UUID) -> dict[uuid.UUID, PoolStats]:
    """Unowned and owned leads per pool, in one grouped query."""
    owned = func.count(ASSIGNMENT.c.owner_id)
    rows = session.execute(
        select(ASSIGNMENT.c.pool_id, func.count(), owned)
        .where(ASSIGNMENT.c.tenant_id == tenant_id, ASSIGNMENT.c.pool_id.is_not(None))
        .group_by(ASSIGNMENT.c.pool_id)
    )
    return {pool_id: PoolStats(total - n_owned, n_owned) for pool_id, total, n_owned in rows}


def default_pool(session: Session, tenant_id: uuid.UUID) -> Pool:
    """Where a lead goes when nothing names a pool: the routing ladder's catch-all pool,
    created with the default rules the first time it is needed."""
    ladder, _version = documents.get(session, tenant_id, "routing")
    target = ladder.catch_all.target
    name = target.id if target.kind == "pool" else "General"
    found = pool_by_name(session, tenant_id, name)
    if found is not None:
        return found
    return create_pool(
        session,
        tenant_id,
        name,
        rules=DEFAULT_RULES.model_dump(mode="json"),
        description="Catch-all pool: leads no routing rule or team took.",
    )


# ----------------------------------------------------------------------------- members
def add_member(
    session: Session,
    tenant_id: uuid.UUID,
    pool_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None = None,
    team_id: str | None = None,
    role: Role = "member",
) -> PoolMember:
    get_pool(session, tenant_id, pool_id)
    if (user_id is None) == (team_id is None):
        raise DataError(
            "a pool member is a user or a team", field="user_id", hint="send user_id or team_id"
        )
    if user_id is not None:
        require_user(session, tenant_id, user_id)
    else:
        teams, _v = documents.get(session, tenant_id, "teams")
        if team_id not in {t.id for t in teams.root}:
            raise DataError(
                f"team_id: no team {team_id!r}",
                field="team_id",
                code="unknown_reference",
                hint="define the team in the `teams` setting first",
            )
    session.execute(
        delete(MEMBER).where(
            MEMBER.c.tenant_id == tenant_id,
            MEMBER.c.pool_id == pool_id,
            MEMBER.c.user_id == user_id if user_id else MEMBER.c.team_id == team_id,
        )
    )
    session.execute(
        insert(MEMBER).values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            pool_id=pool_id,
            user_id=user_id,
            team_id=team_id,
            role=role,
        )
    )
    return PoolMember(user_id, team_id, role)


def remove_member(
    session: Session,
    tenant_id: uuid.UUID,
    pool_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None = None,
    team_id: str | None = None,
) -> None:
    column = MEMBER.c.user_id == user_id if user_id else MEMBER.c.team_id == team_id
    gone = session.execute(
        delete(MEMBER).where(MEMBER.c.tenant_id == tenant_id, MEMBER.c.pool_id == pool_id, column)
    )
    if not gone.rowcount:  # type: ignore[attr-defined]
        raise NotFoundError("not a member of this pool", hint="list members first")


def list_members(session: Session, tenant_id: uuid.UUID, pool_id: uuid.UUID) -> list[PoolMember]:
    get_pool(session, tenant_id, pool_id)
    rows = session.execute(
        select(MEMBER.c.user_id, MEMBER.c.team_id, MEMBER.c.role)
        .where(MEMBER.c.tenant_id == tenant_id, MEMBER.c.pool_id == pool_id)
        .order_by(MEMBER.c.role, MEMBER.c.team_id, MEMBER.c.user_id)
    )
    return [PoolMember(*r) for r in rows]


# ----------------------------------------------------------------------------- roles
@dataclass(frozen=True, slots=True)
class UserInfo:
    id: uuid.UUID
    name: str
    role: str
    active: bool


def require_user(session: Session, tenant_id: uuid.UUID, user_id: uuid.UUID) -> UserInfo:
    row = session.execute(
        select(USER.c.id, USER.c.name, USER.c.role, USER.c.active).where(
            USER.c.tenant_id == tenant_id, USER.c.id == user_id
        )
    ).first()
    if row is None:
        raise DataError(
            f"user_id: no user {user_id} in this tenant",
            field="user_id",
            code="unknown_reference",
            hint="list users: GET /v1/users",
        )
    return UserInfo(*row)


def pool_role(
    session: Session, tenant_id: uuid.UUID, pool_id: uuid.UUID, user: UserInfo
) -> Role | None:
    """The user's role in the pool: directly, through a team, or as a tenant manager."""
    if user.role in MANAGER_ROLES:
        return "admin"
    rows = session.execute(
        select(MEMBER.c.user_id, MEMBER.c.team_id, MEMBER.c.role).where(
            MEMBER.c.tenant_id == tenant_id, MEMBER.c.pool_id == pool_id
        )
    ).all()
    roles = {r.role for r in rows if r.user_id == user.id}
    team_rows = [r for r in rows if r.team_id is not None]
    if team_rows:
        teams, _v = documents.get(session, tenant_id, "teams")
        mine = {t.id for t in teams.root if any(m.user_id == str(user.id) for m in t.members)}
        roles |= {r.role for r in team_rows if r.team_id in mine}
    if "admin" in roles:
        return "admin"
    return "member" if roles else None


def require_admin(
    session: Session, tenant_id: uuid.UUID, pool_id: uuid.UUID, user: UserInfo, what: str
) -> None:
    if pool_role(session, tenant_id, pool_id, user) != "admin":
        raise ForbiddenError(
            f"{user.name} may not {what} in this pool: only its admins and managers may",
            hint="ask a pool admin, or add this user as an admin of the pool",
        )
