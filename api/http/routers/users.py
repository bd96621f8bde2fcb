"""/v1/users: the people who own leads — reps, managers and admins of the tenant.

There is no users service: a user is one `user_account` row, so the queries are here
(tenant-scoped). E-mail addresses are unique per tenant and compared case-insensitively
(stored lower-case), so `--as ann@example.cn` finds Ann however she was typed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from api.http.deps import AdminSession, ReadSession, tenant_of
from api.http.pagination import Cursor, Limit, Page
from api.http.routers._integration import created, page_example, paginate
from api.http.routers._sales import single_valued
from core.clock import utcnow
from core.errors import ConflictError, DataError, NotFoundError
from core.model.tables import User

router = APIRouter(prefix="/users", tags=["users"], dependencies=[Depends(single_valued)])

Role = Literal["rep", "manager", "admin"]
_N = r"[^@\s\x00\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
"""Not @ or space, spelled out (see record_shapes: clients' `\\s` is narrower)."""
Email = Annotated[
    str,
    Field(
        max_length=255,
        pattern=rf"^{_N}{{1,64}}@{_N}+\.{_N}{{2,}}$",
        examples=["wang.fang@yunfan.example.cn"],
        description="Unique in the tenant, compared case-insensitively (stored lower-case).",
    ),
]
PersonName = Annotated[
    str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$", examples=["王芳"])
]
RoleField = Annotated[
    Role,
    Field(
        description="`rep` claims and works leads; `manager` and `admin` are admins of every "
        "pool (assign, transfer, deposit)."
    ),
]
UserId = Annotated[uuid.UUID, Path(examples=["0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d03"])]

USER_IN_EXAMPLE: dict[str, Any] = {
    "email": "wang.fang@yunfan.example.cn",
    "name": "王芳",
    "role": "rep",
}
USER_PATCH_EXAMPLE: dict[str, Any] = {"role": "manager"}
USER_EXAMPLE: dict[str, Any] = {
    "id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d03",
    **USER_IN_EXAMPLE,
    "active": True,
    "created_at": "2025-06-02T09:30:00Z",
    "updated_at": "2025-06-02T09:30:00Z",
}


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [USER_IN_EXAMPLE]})

    email: Email
    name: PersonName
    role: RoleField = "rep"
    active: StrictBool = True


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [USER_PATCH_EXAMPLE]})

    email: Email | None = None
    name: PersonName | None = None
    role: RoleField | None = None
    active: StrictBool | None = Field(
        default=None, description="false: no new leads (claims, assignments, routing)."
    )


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [USER_EXAMPLE]})

    id: uuid.UUID
    email: str
    name: str
    role: str
    active: bool
    created_at: datetime
    updated_at: datetime


def _lowered(email: str) -> str:
    lowered = email.lower()
    if len(lowered) > 255:  # a few characters grow when lowered
        raise DataError(
            "e-mail address is longer than 255 characters once lower-cased",
            field="body.email",
            code="string_too_long",
            hint="send a shorter address",
        )
    return lowered


def _taken(session: Session, tenant_id: uuid.UUID, email: str, but: uuid.UUID | None) -> None:
    query = select(User.id).where(User.tenant_id == tenant_id, func.lower(User.email) == email)
    if but is not None:
        query = query.where(User.id != but)
    if session.scalar(query) is not None:
        raise ConflictError(
            f"a user with e-mail {email} exists in this tenant",
            field="body.email",
            hint="use another address, or change the existing user (PATCH /v1/users/{id})",
        )


def _get(session: Session, user_id: uuid.UUID) -> User:
    user = session.scalar(
        select(User).where(User.tenant_id == tenant_of(session), User.id == user_id)
    )
    if user is None:
        raise NotFoundError("no such user in this tenant", hint="list users: GET /v1/users")
    return user


@router.post(
    "",
    status_code=201,
    response_model=UserOut,
    summary="Create a user",
    responses={201: {"headers": {"Location": {"schema": {"type": "string"}}}}},
)
def create_user(body: UserIn, session: AdminSession, response: Response) -> UserOut:
    """A rep, manager or admin of the tenant. 409 (naming `body.email`) when the e-mail
    address is taken."""
    tenant_id = tenant_of(session)
    email = _lowered(body.email)
    _taken(session, tenant_id, email, None)
    user = User(
        tenant_id=tenant_id, email=email, name=body.name, role=body.role, active=body.active
    )
    session.add(user)
    session.flush()
    created(response, f"/v1/users/{user.id}")
    return UserOut.model_validate(user)


def users_query(
    tenant_id: uuid.UUID, *, role: str | None, active: bool | None, email: str | None
) -> Select[User]:
    query = select(User).where(User.tenant_id == tenant_id)
    if role is not None:
        query = query.where(User.role == role)
    if active is not None:
        query = query.where(User.active == active)
    if email is not None:
        query = query.where(func.lower(User.email) == email.lower())
    return query


@router.get(
    "",
    response_model=Page[UserOut],
    summary="List users",
    responses=page_example(USER_EXAMPLE),
)
def list_users(
    session: ReadSession,
    limit: Limit = 50,
    cursor: Cursor = None,
    role: Annotated[Role | None, Query(examples=["rep"], description="Only this role.")] = None,
    active: Annotated[bool | None, Query(examples=[True], description="Only these.")] = None,
    email: Annotated[
        str | None,
        Query(max_length=255, pattern=r"^[^\x00]*$", examples=["wang.fang@yunfan.example.cn"]),
    ] = None,
) -> Page[UserOut]:
    """The tenant's users, oldest first; `email` finds one (case-insensitively)."""
    query = users_query(tenant_of(session), role=role, active=active, email=email)
    return paginate(
        session, query, User.id, limit=limit, cursor=cursor, convert=UserOut.model_validate
    )


@router.get("/{user_id}", response_model=UserOut, summary="Get a user")
def get_user(user_id: UserId, session: ReadSession) -> UserOut:
    """One user of the tenant."""
    return UserOut.model_validate(_get(session, user_id))


@router.patch("/{user_id}", response_model=UserOut, summary="Change a user")
def patch_user(user_id: UserId, body: UserPatch, session: AdminSession) -> UserOut:
    """Change e-mail, name, role or active. A deactivated user keeps their leads (reassign
    them: POST /v1/leads/bulk-assign) but gets no new ones."""
    user = _get(session, user_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "email" in changes:
        changes["email"] = _lowered(changes["email"])
        _taken(session, user.tenant_id, changes["email"], user.id)
    if changes:
        for name, value in changes.items():
            setattr(user, name, value)
        user.updated_at = utcnow()
        session.flush()
    return UserOut.model_validate(user)
