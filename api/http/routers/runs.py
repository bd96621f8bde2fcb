"""/v1/runs: executions of sync jobs — status, counts, progress, errors."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import ReadSession, tenant_of
from api.http.pagination import Cursor, Limit, Page
from api.http.routers._integration import ObjectId, page_example, paginate
from core.model.tables import SyncRun
from scheduler.job_admin import get_run_by_id, runs_query

router = APIRouter(prefix="/runs", tags=["runs"])

RUN_EXAMPLE: dict[str, Any] = {
    "id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e",
    "job_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8f",
    "status": "completed_with_errors",
    "trigger": "api",
    "worker": "worker-1:4711",
    "counts": {
        "read": 1200,
        "inserted": 1150,
        "updated": 30,
        "unchanged": 10,
        "skipped": 0,
        "quarantined": 10,
    },
    "progress": None,
    "error": None,
    "error_category": None,
    "started_at": "2024-05-06T06:30:00Z",
    "heartbeat_at": "2024-05-06T06:30:41Z",
    "finished_at": "2024-05-06T06:30:42Z",
}


class RunCounts(BaseModel):
    read: int
    inserted: int
    updated: int
    unchanged: int
    skipped: int
    quarantined: int = Field(description="Records refused; see GET /v1/quarantine?job_id=…")


class RunOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RUN_EXAMPLE]})

    id: uuid.UUID
    job_id: uuid.UUID
    status: str = Field(
        description="queued, running, completed, completed_with_errors, failed or abandoned."
    )
    trigger: str = Field(description="manual, api, schedule, …")
    worker: str | None = Field(description="host:pid of the process running it.")
    counts: RunCounts
    progress: dict[str, Any] | None
    error: str | None
    error_category: str | None = Field(
        description="config (fix settings or a mapping), transient (retried), data, bug."
    )
    started_at: datetime = Field(description="When it was queued, then when it started.")
    heartbeat_at: datetime | None
    finished_at: datetime | None


def run_out(run: SyncRun) -> RunOut:
    return RunOut(
        id=run.id,
        job_id=run.job_id,
        status=run.status,
        trigger=run.trigger,
        worker=run.worker,
        counts=RunCounts(
            read=run.read_count,
            inserted=run.inserted_count,
            updated=run.updated_count,
            unchanged=run.unchanged_count,
            skipped=run.skipped_count,
            quarantined=run.quarantined_count,
        ),
        progress=run.progress,
        error=run.error,
        error_category=run.error_category,
        started_at=run.started_at,
        heartbeat_at=run.heartbeat_at,
        finished_at=run.finished_at,
    )


@router.get(
    "",
    response_model=Page[RunOut],
    summary="List runs, newest first",
    responses=page_example(RUN_EXAMPLE),
)
def list_runs(
    session: ReadSession,
    limit: Limit = 50,
    cursor: Cursor = None,
    job_id: Annotated[
        uuid.UUID | None,
        Query(
            examples=["0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8f"], description="Only runs of this job."
        ),
    ] = None,
    status: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=r"^[a-z_]+$",
            examples=["failed"],
            description="Only runs in this status.",
        ),
    ] = None,
) -> Page[RunOut]:
    """Runs of the tenant's jobs, newest first."""
    query = runs_query(tenant_of(session), job_id=job_id, status=status)
    return paginate(
        session, query, SyncRun.id, limit=limit, cursor=cursor, newest_first=True, convert=run_out
    )


@router.get("/{run_id}", response_model=RunOut, summary="Get a run")
def get_run(run_id: ObjectId, session: ReadSession) -> RunOut:
    """A run's status, counts, progress and error."""
    return run_out(get_run_by_id(session, tenant_of(session), run_id))
