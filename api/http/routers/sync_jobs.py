"""/v1/sync-jobs: what to sync — a connection's streams through mappings, optionally on
a cron schedule — and triggering runs of it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from api.http.deps import AdminSession, ReadSession, WriteSession, tenant_of
from api.http.pagination import Cursor, Limit, Page, decode_cursor, page_of
from api.http.routers._integration import (
    Name,
    ObjectId,
    created,
    naming_fields,
    page_example,
    paginate,
    tenant_row,
)
from api.http.routers.runs import RUN_EXAMPLE, RunOut, run_out
from core.errors import DataError, NotFoundError
from core.model.tables import SyncJob
from core.store.writeback import list_items as writeback_items
from core.store.writeback import retry as retry_items
from scheduler.connections import get_connection_by_id
from scheduler.job_admin import (
    UNSET,
    delete_job,
    get_job_by_id,
    jobs_query,
    reset_job_state,
    update_job,
)
from scheduler.jobs import add_job
from scheduler.queue import trigger_run

router = APIRouter(prefix="/sync-jobs", tags=["sync-jobs"])

MappingRef = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$", examples=["crm/accounts"]),
]
StreamName = Annotated[
    str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$", examples=["customers"])
]
Schedule = Annotated[
    str,
    Field(
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        examples=["0 2 * * *"],
        description="Five-field cron expression in UTC, or @hourly/@daily/@weekly/@monthly.",
    ),
]
JOB_EXAMPLE: dict[str, Any] = {
    "name": "erp-nightly",
    "connection_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e",
    "mappings": ["files/demo_accounts", "crm/contacts"],
    "schedule": "0 2 * * *",
    "enabled": True,
}

JOB_OUT_EXAMPLE: dict[str, Any] = {
    **JOB_EXAMPLE,
    "kind": "sync",
    "id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d90",
    "streams": ["contacts", "customers"],
    "next_run_at": "2024-05-07T02:00:00Z",
    "created_at": "2024-05-06T06:30:00Z",
    "updated_at": "2024-05-06T06:30:00Z",
}


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [JOB_EXAMPLE]})

    name: Name
    connection_id: uuid.UUID
    mappings: list[MappingRef] = Field(
        min_length=1,
        max_length=50,
        description="Mapping names: the tenant's (GET /v1/mappings) or built-in ones.",
    )
    streams: list[StreamName] | None = Field(
        default=None,
        max_length=100,
        description="Sync only these of the mappings' streams; default: all of them.",
    )
    schedule: Schedule | None = Field(default=None, description="null: on demand only.")
    enabled: StrictBool = Field(default=True, description="false pauses the schedule.")
    kind: Literal["sync", "writeback"] = Field(
        default="sync",
        description="sync: read the connection into the store. writeback: write canonical "
        "records into the connection's system through one outbound mapping "
        "(e.g. sap/outbound/order_to_sales_order); see GET /v1/sync-jobs/{id}/writeback.",
    )


class JobPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"schedule": "*/15 * * * *"}, {"enabled": False}]},
    )

    name: Name | None = None
    mappings: list[MappingRef] | None = Field(default=None, min_length=1, max_length=50)
    streams: list[StreamName] | None = Field(default=None, max_length=100)
    schedule: Schedule | None = Field(default=None, description="null removes the schedule.")
    enabled: StrictBool | None = None


class JobOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [JOB_OUT_EXAMPLE]})

    id: uuid.UUID
    name: str
    connection_id: uuid.UUID
    kind: str = Field(description="sync or writeback.")
    mappings: list[str]
    streams: list[str]
    schedule: str | None
    enabled: bool
    next_run_at: datetime | None = Field(description="When the schedule fires next.")
    created_at: datetime
    updated_at: datetime


class ResetIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"stream": "customers"}, {}]}
    )

    stream: StreamName | None = Field(default=None, description="Only this stream; default all.")


class ResetOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"removed": 2}]})

    removed: int = Field(description="Bookmarks forgotten.")


def _out(job: SyncJob) -> JobOut:
    return JobOut(
        id=job.id,
        name=job.name,
        connection_id=job.connection_id,
        kind=job.kind,
        mappings=[str(m) for m in job.mappings],
        streams=[str(s) for s in job.streams or []],
        schedule=job.schedule,
        enabled=job.enabled,
        next_run_at=job.next_run_at,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


@router.post("", status_code=201, response_model=JobOut, summary="Create a sync job")
def create_job(body: JobIn, session: AdminSession, response: Response) -> JobOut:
    """Its mappings are compiled now (problems name the mapping), the schedule is checked
    and planned; the beat picks it up without a restart."""
    tenant_id = tenant_of(session)
    connection = get_connection_by_id(session, tenant_id, body.connection_id)
    with naming_fields():
        job = add_job(
            session,
            tenant_row(session, tenant_id),
            name=body.name,
            connection=connection,
            mappings=body.mappings,
            schedule=body.schedule,
            streams=body.streams,
            enabled=body.enabled,
            files=False,
            kind=body.kind,
        )
    created(response, f"/v1/sync-jobs/{job.id}")
    return _out(job)


@router.get(
    "",
    response_model=Page[JobOut],
    summary="List sync jobs",
    responses=page_example(JOB_OUT_EXAMPLE),
)
def list_jobs(
    session: ReadSession,
    limit: Limit = 50,
    cursor: Cursor = None,
    connection_id: Annotated[
        uuid.UUID | None,
        Query(examples=["0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"], description="Only its jobs."),
    ] = None,
) -> Page[JobOut]:
    """The tenant's jobs, oldest first."""
    query = jobs_query(tenant_of(session), connection_id=connection_id)
    return paginate(session, query, SyncJob.id, limit=limit, cursor=cursor, convert=_out)


@router.get("/{job_id}", response_model=JobOut, summary="Get a sync job")
def get_job(job_id: ObjectId, session: ReadSession) -> JobOut:
    """One job and when it runs next."""
    return _out(get_job_by_id(session, tenant_of(session), job_id))


@router.patch("/{job_id}", response_model=JobOut, summary="Change a sync job")
def patch_job(job_id: ObjectId, body: JobPatch, session: AdminSession) -> JobOut:
    """Change what is given. New mappings are compiled first (without `streams` the job
    then syncs all their streams); `schedule: null` makes it on demand only."""
    job = get_job_by_id(session, tenant_of(session), job_id)
    with naming_fields():
        update_job(
            session,
            job,
            name=body.name,
            mappings=body.mappings,
            streams=body.streams,
            schedule=body.schedule if "schedule" in body.model_fields_set else UNSET,
            enabled=body.enabled,
            files=False,
        )
    return _out(job)


@router.delete("/{job_id}", status_code=204, response_class=Response, summary="Delete a job")
def remove_job(job_id: ObjectId, session: AdminSession) -> Response:
    """Delete it with its runs and state; its quarantined records stay. 409 while it runs."""
    delete_job(session, get_job_by_id(session, tenant_of(session), job_id))
    return Response(status_code=204)


@router.post(
    "/{job_id}/runs",
    status_code=202,
    response_model=RunOut,
    summary="Trigger a run",
    responses={202: {"content": {"application/json": {"example": RUN_EXAMPLE}}}},
)
def trigger(job_id: ObjectId, session: WriteSession, response: Response) -> RunOut:
    """Queue a run for a worker; follow it at the Location. 409 when the job already has a
    queued or running run (one run of a job at a time)."""
    job = get_job_by_id(session, tenant_of(session), job_id)
    run = trigger_run(session, job, trigger="api")
    created(response, f"/v1/runs/{run.id}")
    return run_out(run)


@router.post("/{job_id}/reset", response_model=ResetOut, summary="Reset a job's bookmarks")
def reset(job_id: ObjectId, session: AdminSession, body: ResetIn | None = None) -> ResetOut:
    """Forget the job's bookmarks so its next run reads everything again (unchanged records
    cost no write), like `l2c sync reset`. 409 while it runs."""
    job = get_job_by_id(session, tenant_of(session), job_id)
    stream = body.stream if body is not None else None
    return ResetOut(removed=reset_job_state(session, job, stream))


# ------------------------------------------------------------------ write-back items
WRITEBACK_EXAMPLE: dict[str, Any] = {
    "id": 42,
    "record_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e",
    "entity": "order",
    "status": "written",
    "remote_id": "5000012",
    "remote_status": "A",
    "attempts": 1,
    "last_error": None,
    "error_category": None,
    "updated_at": "2024-05-06T06:31:02Z",
    "written_at": "2024-05-06T06:31:02Z",
}


class WritebackItemOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [WRITEBACK_EXAMPLE]})

    id: int
    record_id: uuid.UUID
    entity: str
    status: str = Field(description="pending, written, failed, skipped or dead.")
    remote_id: str | None = Field(description="The record's id in the system, once written.")
    remote_status: str | None = Field(description="The system's status after the last write.")
    attempts: int
    last_error: str | None = Field(description="Why the system refused it, or why it waits.")
    error_category: str | None
    updated_at: datetime
    written_at: datetime | None


class RetryIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ids": [42, 43]}, {}]}
    )

    ids: list[Annotated[int, Field(ge=1, le=2**62)]] | None = Field(
        default=None, max_length=1000, description="Only these items; default: all failed/dead."
    )


class RetryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"pending": 2}]})

    pending: int = Field(description="Items put back to pending; the next run writes them.")


def _writeback_job(session: Any, job_id: uuid.UUID) -> SyncJob:
    job = get_job_by_id(session, tenant_of(session), job_id)
    if job.kind != "writeback":
        raise NotFoundError(
            "this job is not a write-back job", hint="write-back items exist for kind=writeback"
        )
    return job


@router.get(
    "/{job_id}/writeback",
    response_model=Page[WritebackItemOut],
    summary="List a write-back job's items",
    responses=page_example(WRITEBACK_EXAMPLE),
)
def list_writeback(
    job_id: ObjectId,
    session: ReadSession,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[
        Literal["pending", "written", "failed", "skipped", "dead"] | None,
        Query(description="Only items in this status.", examples=["failed"]),
    ] = None,
) -> Page[WritebackItemOut]:
    """Which canonical records the job wrote into its system (with the remote id), which
    wait for a retry, and which the system refused (with its message), oldest first."""
    job = _writeback_job(session, job_id)
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, int):
        raise DataError(
            "the cursor is not one this API issued",
            field="query.cursor",
            code="invalid_cursor",
            hint="pass next_cursor unchanged",
        )
    items = writeback_items(
        session,
        tenant_id=job.tenant_id,
        job_id=job.id,
        status=status,
        after=after,
        limit=limit + 1,
    )
    page = page_of(items, limit, key=lambda item: item.id)
    return Page[WritebackItemOut](
        items=[WritebackItemOut.model_validate(i, from_attributes=True) for i in page.items],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/{job_id}/writeback/retry",
    response_model=RetryOut,
    summary="Retry refused write-back items",
)
def retry_writeback(
    job_id: ObjectId, session: AdminSession, body: RetryIn | None = None
) -> RetryOut:
    """Put failed and dead items (all, or `ids`) back to pending; trigger a run (POST
    /v1/sync-jobs/{id}/runs) to write them now, or let the schedule do it."""
    job = _writeback_job(session, job_id)
    ids = body.ids if body is not None else None
    return RetryOut(pending=retry_items(session, tenant_id=job.tenant_id, job_id=job.id, ids=ids))
