"""What the lead-management routers share: the acting user (`X-Acting-User`), checks
that answer 404 for another tenant's leads before a service looks further, errors that
name the request field, and the assignment shapes several operations return.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Header, Request
from pydantic import ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConflictError, DataError, NotFoundError
from core.sales.leads import pools
from core.sales.leads.ownership import LEAD, Actor
from core.sales.leads.schemas import AssignmentView, OwnershipEventView

EXAMPLE_LEAD = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d01"
EXAMPLE_POOL = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d02"
EXAMPLE_REP = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d03"
EXAMPLE_MANAGER = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d04"
MAX_BATCH = 1000
"""Leads per bulk call (deposit, bulk-assign, routing)."""

ActingUser = Annotated[
    uuid.UUID | None,
    Header(
        alias="X-Acting-User",
        description="The user the calling system acts for (their rights in pools apply; "
        "the audit names them). Without it the API key acts as a system.",
        examples=[EXAMPLE_MANAGER],
    ),
]
Note = Annotated[
    str,
    Field(max_length=500, pattern=r"^[^\x00]*$", examples=["met at the Hangzhou trade show"]),
]
LeadIds = Annotated[
    list[uuid.UUID],
    Field(min_length=1, max_length=MAX_BATCH, description=f"1-{MAX_BATCH} lead ids."),
]

ASSIGNMENT_EXAMPLE: dict[str, Any] = {
    "lead_id": EXAMPLE_LEAD,
    "pool_id": EXAMPLE_POOL,
    "owner_id": EXAMPLE_REP,
    "owned_since": "2025-06-02T09:30:00Z",
    "followup_due": "2025-06-09T09:30:00Z",
    "convert_due": "2025-07-02T09:30:00Z",
    "recycle_at": "2025-06-09T09:30:00Z",
    "remind_at": "2025-06-07T09:30:00Z",
    "last_followup_at": None,
    "grade": "B2",
}
EVENT_EXAMPLE: dict[str, Any] = {
    "id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d05",
    "lead_id": EXAMPLE_LEAD,
    "action": "claim",
    "via": "api",
    "actor": EXAMPLE_REP,
    "from_owner": None,
    "to_owner": EXAMPLE_REP,
    "pool_id": EXAMPLE_POOL,
    "reason_code": None,
    "note": None,
    "recycle_at": "2025-06-09T09:30:00Z",
    "at": "2025-06-02T09:30:00Z",
}


class AssignmentOut(AssignmentView):
    """Where a lead is, who owns it and when it goes back to its pool (`recycle_at`)."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [ASSIGNMENT_EXAMPLE]}
    )


class OwnershipEventOut(OwnershipEventView):
    """One owner or pool change: what, by whom (`actor`), through which surface (`via`)."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [EVENT_EXAMPLE]})


def assignment_out(view: AssignmentView) -> AssignmentOut:
    return AssignmentOut.model_validate(view.model_dump())


def single_valued(request: Request) -> None:
    """Every query parameter here takes one value: refuse a repeat rather than keep the
    last one silently (a router-wide dependency)."""
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise DataError(
                f"query parameter {name} is given more than once",
                field=f"query.{name}",
                code="repeated_parameter",
                hint=f"give {name} once",
            )
        seen.add(name)


def actor_for(session: Session, tenant_id: uuid.UUID, acting: uuid.UUID | None) -> Actor:
    """The service's actor: the `X-Acting-User` (who must exist here), else the API."""
    if acting is None:
        return Actor("api", "api")
    try:
        pools.require_user(session, tenant_id, acting)
    except DataError:
        raise DataError(
            f"X-Acting-User: no user {acting} in this tenant",
            field="header.x-acting-user",
            code="unknown_reference",
            hint="send the id of one of this tenant's users (GET /v1/users), or omit it",
        ) from None
    return Actor.user(acting, via="api")


def require_leads(session: Session, tenant_id: uuid.UUID, lead_ids: Sequence[uuid.UUID]) -> None:
    """404 unless every lead is this tenant's (before any rights check can leak it)."""
    wanted = set(lead_ids)
    found = set(
        session.scalars(
            select(LEAD.c.id).where(LEAD.c.tenant_id == tenant_id, LEAD.c.id.in_(wanted))
        )
    )
    missing = sorted(wanted - found, key=str)
    if missing:
        raise NotFoundError(
            f"no lead {missing[0]} in this tenant", hint="list leads: GET /v1/leads"
        )


@contextmanager
def in_body(prefix: str = "body.") -> Iterator[None]:
    """Name the request field in a service's error (`user_id` -> `body.user_id`)."""
    try:
        yield
    except DataError as error:
        if error.field and not error.field.startswith(("body.", "query.", "path.", "header.")):
            error.field = prefix + error.field
        raise
    except ConflictError as error:
        named = error.details.get("field")
        if isinstance(named, str) and named and not named.startswith(("body.", "query.")):
            error.details["field"] = prefix + named
        raise
