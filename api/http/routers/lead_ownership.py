"""Lead ownership: claim, return, assign (or transfer), bulk-assign, and the history.

Every operation goes through the one ownership service (core.sales.leads.ownership),
so the pool's rules, the recycle deadline and the audit apply as on every other
surface. Refusals by the rules are 409 with the rule's message (already owned, claim
budget spent, WIP cap, cooldown); a user who is not a pool member is 403.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import ReadSession, WriteSession, tenant_of
from api.http.routers._sales import (
    ASSIGNMENT_EXAMPLE,
    EVENT_EXAMPLE,
    EXAMPLE_LEAD,
    EXAMPLE_POOL,
    EXAMPLE_REP,
    ActingUser,
    AssignmentOut,
    LeadIds,
    Note,
    OwnershipEventOut,
    actor_for,
    assignment_out,
    in_body,
    require_leads,
)
from core.errors import DataError
from core.sales.leads import ownership
from core.sales.leads.schemas import Code

router = APIRouter(prefix="/leads", tags=["lead-ownership"])

LeadId = Annotated[uuid.UUID, Path(examples=[EXAMPLE_LEAD], description="The lead's id.")]
HISTORY = 200

CLAIM_EXAMPLE: dict[str, Any] = {"user_id": EXAMPLE_REP}
RETURN_EXAMPLE: dict[str, Any] = {"reason_code": "no_budget", "note": "budget frozen until Q4"}
ASSIGN_EXAMPLE: dict[str, Any] = {"user_id": EXAMPLE_REP, "note": "knows the account"}
BULK_ASSIGN_EXAMPLE: dict[str, Any] = {
    "lead_ids": [EXAMPLE_LEAD],
    "user_id": EXAMPLE_REP,
    "pool_id": EXAMPLE_POOL,
    "note": "territory change",
}


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CLAIM_EXAMPLE]})

    user_id: uuid.UUID | None = Field(
        default=None, description="The rep who takes the lead; default: the X-Acting-User."
    )


class ReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [RETURN_EXAMPLE]})

    reason_code: Code = Field(description="One of the pool's `return_reasons`.")
    note: Note | None = None


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ASSIGN_EXAMPLE]})

    user_id: uuid.UUID = Field(description="The new owner.")
    pool_id: uuid.UUID | None = Field(
        default=None, description="Move the lead to this pool too; default: its pool."
    )
    note: Note | None = None


class BulkAssignIn(AssignIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [BULK_ASSIGN_EXAMPLE]})

    lead_ids: LeadIds


class AssignmentsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [ASSIGNMENT_EXAMPLE]}]})

    items: list[AssignmentOut]


class OwnershipOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"assignment": ASSIGNMENT_EXAMPLE, "history": [EVENT_EXAMPLE]}]
        }
    )

    assignment: AssignmentOut
    history: list[OwnershipEventOut] = Field(
        description=f"Owner and pool changes, newest first (the latest {HISTORY})."
    )


@router.post("/{lead_id}/claim", response_model=AssignmentOut, summary="Claim a lead")
def claim(
    lead_id: LeadId, body: ClaimIn, session: WriteSession, acting: ActingUser = None
) -> AssignmentOut:
    """A rep takes an unowned lead from its pool. 409 when it is owned (by someone else)
    or the pool's claim budget, WIP cap or cooldown refuses; 403 when the rep is not a
    member of the pool. Claiming a lead one already owns changes nothing."""
    tenant_id = tenant_of(session)
    require_leads(session, tenant_id, [lead_id])
    actor = actor_for(session, tenant_id, acting)
    user_id = body.user_id or actor.user_id
    if user_id is None:
        raise DataError(
            "name the rep who claims the lead",
            field="body.user_id",
            code="missing",
            hint="send user_id, or the X-Acting-User header",
        )
    with in_body():
        view = ownership.claim(session, tenant_id, lead_id, user_id, actor)
    return assignment_out(view)


@router.post("/{lead_id}/return", response_model=AssignmentOut, summary="Return a lead")
def return_lead(
    lead_id: LeadId, body: ReturnIn, session: WriteSession, acting: ActingUser = None
) -> AssignmentOut:
    """The owner gives the lead back to its pool with a reason; they may not claim it
    again during the pool's cooldown. 409 when it has no owner; 403 when the acting user
    is neither the owner nor a pool admin."""
    tenant_id = tenant_of(session)
    require_leads(session, tenant_id, [lead_id])
    actor = actor_for(session, tenant_id, acting)
    with in_body():
        view = ownership.return_lead(
            session, tenant_id, lead_id, body.reason_code, actor, note=body.note
        )
    return assignment_out(view)


@router.post("/{lead_id}/assign", response_model=AssignmentOut, summary="Assign a lead")
def assign(
    lead_id: LeadId, body: AssignIn, session: WriteSession, acting: ActingUser = None
) -> AssignmentOut:
    """A pool admin gives the lead to a rep (`assign`), or to another rep (`transfer`).
    Budgets and caps do not apply (they limit what reps take); the deadline does. 403
    when the acting user is not an admin of the pool."""
    tenant_id = tenant_of(session)
    require_leads(session, tenant_id, [lead_id])
    actor = actor_for(session, tenant_id, acting)
    with in_body():
        views = ownership.assign(
            session, tenant_id, [lead_id], body.user_id, actor, pool_id=body.pool_id, note=body.note
        )
    return assignment_out(views[0])


@router.post("/bulk-assign", response_model=AssignmentsOut, summary="Assign many leads")
def bulk_assign(
    body: BulkAssignIn, session: WriteSession, acting: ActingUser = None
) -> AssignmentsOut:
    """Assign or transfer up to 1000 leads to one rep in one transaction: all or none
    (404 when one is not this tenant's, 403 when the acting user is not an admin of one
    lead's pool)."""
    tenant_id = tenant_of(session)
    require_leads(session, tenant_id, body.lead_ids)
    actor = actor_for(session, tenant_id, acting)
    with in_body():
        views = ownership.assign(
            session,
            tenant_id,
            body.lead_ids,
            body.user_id,
            actor,
            pool_id=body.pool_id,
            note=body.note,
        )
    return AssignmentsOut(items=[assignment_out(v) for v in views])


@router.get("/{lead_id}/ownership", response_model=OwnershipOut, summary="A lead's ownership")
def lead_ownership(lead_id: LeadId, session: ReadSession) -> OwnershipOut:
    """Its pool, owner and deadlines, and every owner change with who made it and how."""
    tenant_id = tenant_of(session)
    require_leads(session, tenant_id, [lead_id])
    assignment = ownership.get_assignment(session, tenant_id, lead_id)
    events = ownership.history(session, tenant_id, lead_id, limit=HISTORY)
    return OwnershipOut(
        assignment=assignment_out(assignment),
        history=[OwnershipEventOut.model_validate(e.model_dump()) for e in events],
    )
