"""/v1/quarantine: records that could not be stored, with why; correct, replay, discard.

Same meaning as `l2c quarantine`: a replay runs open records through their job's
(possibly corrected) mappings into the store; records still failing stay open with the
newest reason.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import ReadSession, WriteSession, tenant_of
from api.http.pagination import Cursor, Limit, Page
from api.http.routers._integration import JsonObject, ObjectId, page_example, paginate
from core.model.tables import Quarantine
from scheduler.quarantine import (
    discard,
    edit_payload,
    get_entries,
    get_entry,
    quarantine_query,
    replay,
)

router = APIRouter(prefix="/quarantine", tags=["quarantine"])

Status = Literal["open", "replayed", "discarded"]
MAX_REPLAY = 1000

ENTRY_EXAMPLE: dict[str, Any] = {
    "id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e",
    "status": "open",
    "connection_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8f",
    "job_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d90",
    "run_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d91",
    "stream": "customers",
    "mapping": "files/demo_accounts",
    "external_id": "C000123",
    "reason": "unknown_code",
    "field": "industry",
    "message": "industry: code '99' is not in the value map",
    "payload": {"customer_code": "C000123", "industry_code": "99"},
    "attempts": 1,
    "created_at": "2024-05-06T06:30:00Z",
    "resolved_at": None,
}


class EntryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ENTRY_EXAMPLE]})

    id: uuid.UUID
    status: str = Field(description="open, replayed or discarded.")
    connection_id: uuid.UUID | None
    job_id: uuid.UUID | None
    run_id: uuid.UUID | None
    stream: str
    mapping: str | None
    external_id: str | None
    reason: str = Field(description="Machine-readable code, e.g. unknown_code, required.")
    field: str | None = Field(description="The canonical field at fault, when known.")
    message: str
    payload: dict[str, Any] = Field(description="The raw source record (editable).")
    attempts: int
    created_at: datetime
    resolved_at: datetime | None


class PayloadPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"payload": {"customer_code": "C000123", "industry_code": "02"}}]
        },
    )

    payload: JsonObject = Field(description="The corrected raw record; replaces the old one.")


class ReplayFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: uuid.UUID | None = None
    connection_id: uuid.UUID | None = None
    reason: str | None = Field(default=None, max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")


class ReplayIds(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"ids": ["0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"]}]},
    )

    ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=MAX_REPLAY,
        description="These records (404 if one is not in this tenant, and then none is replayed).",
    )


class ReplayMatching(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"filter": {"job_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d90"}}]
        },
    )

    filter: ReplayFilter = Field(
        description=f"The open records matching it (the oldest {MAX_REPLAY} per call)."
    )


class StillFailing(BaseModel):
    id: uuid.UUID
    message: str


class ReplayOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "replayed": ["0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"],
                    "still_failing": [],
                    "not_open": [],
                    "more": False,
                }
            ]
        }
    )

    replayed: list[uuid.UUID] = Field(description="Stored now; their status is `replayed`.")
    still_failing: list[StillFailing] = Field(description="Still open, with the new reason.")
    not_open: list[uuid.UUID] = Field(description="Already replayed or discarded: left alone.")
    more: bool = Field(description="More open records match the filter: call again.")


def _out(entry: Quarantine) -> EntryOut:
    return EntryOut(
        id=entry.id,
        status=entry.status,
        connection_id=entry.connection_id,
        job_id=entry.job_id,
        run_id=entry.run_id,
        stream=entry.stream,
        mapping=entry.mapping,
        external_id=entry.external_id,
        reason=entry.reason,
        field=entry.field,
        message=entry.message,
        payload=entry.payload,
        attempts=entry.attempts,
        created_at=entry.created_at,
        resolved_at=entry.resolved_at,
    )


@router.get(
    "",
    response_model=Page[EntryOut],
    summary="List quarantined records",
    responses=page_example(ENTRY_EXAMPLE),
)
def list_entries(
    session: ReadSession,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[
        Status | None, Query(examples=["open"], description="Only records in this status.")
    ] = None,
    connection_id: Annotated[
        uuid.UUID | None, Query(examples=[ENTRY_EXAMPLE["connection_id"]])
    ] = None,
    job_id: Annotated[uuid.UUID | None, Query(examples=[ENTRY_EXAMPLE["job_id"]])] = None,
    reason: Annotated[
        str | None, Query(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$", examples=["unknown_code"])
    ] = None,
) -> Page[EntryOut]:
    """Quarantined records, oldest first."""
    query = quarantine_query(
        tenant_of(session),
        status=status,
        connection_id=connection_id,
        job_id=job_id,
        reason=reason,
    )
    return paginate(session, query, Quarantine.id, limit=limit, cursor=cursor, convert=_out)


@router.post("/replay", response_model=ReplayOut, summary="Replay quarantined records")
def replay_entries(body: ReplayIds | ReplayMatching, session: WriteSession) -> ReplayOut:
    """Run open records through their job's mappings into the store. By `ids` (404 if one
    is not in this tenant, and then nothing is replayed) or by `filter`."""
    tenant_id = tenant_of(session)
    more = False
    if isinstance(body, ReplayIds):
        entries = get_entries(session, tenant_id, body.ids)
    else:
        query = quarantine_query(
            tenant_id,
            status="open",
            connection_id=body.filter.connection_id,
            job_id=body.filter.job_id,
            reason=body.filter.reason,
        )
        entries = list(session.scalars(query.order_by(Quarantine.id).limit(MAX_REPLAY + 1)))
        more = len(entries) > MAX_REPLAY
        entries = entries[:MAX_REPLAY]
    result = replay(session, entries)
    return ReplayOut(
        replayed=result.replayed,
        still_failing=[StillFailing(id=i, message=m) for i, m in result.still_bad],
        not_open=result.not_open,
        more=more,
    )


@router.get("/{entry_id:uuid}", response_model=EntryOut, summary="Get a quarantined record")
def get_one(entry_id: ObjectId, session: ReadSession) -> EntryOut:
    """Why it was refused and its raw payload."""
    return _out(get_entry(session, tenant_of(session), entry_id))


@router.patch("/{entry_id:uuid}", response_model=EntryOut, summary="Correct a record's payload")
def patch_entry(entry_id: ObjectId, body: PayloadPatch, session: WriteSession) -> EntryOut:
    """Replace the raw payload of an open record (409 if it is not open); replay it
    afterwards."""
    entry = get_entry(session, tenant_of(session), entry_id)
    edit_payload(entry, body.payload)
    return _out(entry)


@router.post("/{entry_id:uuid}/discard", response_model=EntryOut, summary="Discard a record")
def discard_entry(entry_id: ObjectId, session: WriteSession) -> EntryOut:
    """Give up on an open record: kept for the record, no longer open (409 if not open)."""
    entry = get_entry(session, tenant_of(session), entry_id)
    discard(session, [entry])
    return _out(entry)
