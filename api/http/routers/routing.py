"""/v1/routing: run new leads through the tenant's routing ladder, or simulate it.

`simulate` runs the same code on the same inputs as `run` and writes nothing, so it
answers "what would the next run do" — also for a draft ladder or draft teams before
they are saved. A run routes each lead once (re-runs route only new leads).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.http.deps import ReadSession, WriteSession, tenant_of
from api.http.routers._integration import JsonObject
from api.http.routers._sales import EXAMPLE_LEAD, EXAMPLE_REP, MAX_BATCH, require_leads
from core.errors import DataError
from core.sales import documents
from core.sales.leads import routing_run

router = APIRouter(prefix="/routing", tags=["routing"])

LADDER_EXAMPLE: dict[str, Any] = {
    "rules": [
        {
            "name": "east china",
            "conditions": [{"op": "in", "attribute": "province", "values": ["浙江省", "上海市"]}],
            "target": {"kind": "team", "id": "east"},
        },
        {"name": "everything else", "target": {"kind": "pool", "id": "General"}},
    ]
}
TEAMS_EXAMPLE: list[dict[str, Any]] = [
    {
        "id": "east",
        "method": "round_robin",
        "members": [{"user_id": EXAMPLE_REP, "capacity": 50}],
        "overflow_pool": "华东",
    }
]
SIMULATE_EXAMPLE: dict[str, Any] = {"limit": 100, "ladder": LADDER_EXAMPLE, "teams": TEAMS_EXAMPLE}
RUN_EXAMPLE: dict[str, Any] = {"limit": 1000}
REPORT_EXAMPLE: dict[str, Any] = {
    "ladder_version": 3,
    "routed": 1,
    "catch_all": 0,
    "by_rule": {"east china": 1},
    "outcomes": [
        {
            "lead_id": EXAMPLE_LEAD,
            "rule": "east china",
            "target": {"kind": "team", "id": "east"},
            "owner": EXAMPLE_REP,
            "pool": None,
            "code": "assigned",
            "reason": "rule 'east china': round robin in team 'east'",
        }
    ],
}


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [RUN_EXAMPLE]})

    lead_ids: list[uuid.UUID] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_BATCH,
        description="Only these leads (404 when one is not this tenant's); default: the "
        "oldest unrouted open leads.",
    )
    limit: StrictInt = Field(default=1000, ge=1, le=MAX_BATCH, description="Leads per call.")


class SimulateIn(RunIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SIMULATE_EXAMPLE]})

    limit: StrictInt = Field(default=100, ge=1, le=MAX_BATCH, description="Leads to look at.")
    ladder: JsonObject | None = Field(
        default=None, description="A draft `routing` setting to try; default: the saved one."
    )
    teams: list[JsonObject] | None = Field(
        default=None,
        max_length=200,
        description="A draft `teams` setting to try; default: the saved one.",
    )


class TargetOut(BaseModel):
    kind: Literal["pool", "team"]
    id: str


class OutcomeOut(BaseModel):
    lead_id: uuid.UUID
    rule: str = Field(description="The ladder rule that matched.")
    target: TargetOut
    owner: uuid.UUID | None = Field(description="The member picked, when a team took it.")
    pool: str | None = Field(description="The pool it lands in unowned, otherwise.")
    code: Literal["pool", "assigned", "no_available_member"]
    reason: str


class ReportOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [REPORT_EXAMPLE]})

    ladder_version: int = Field(description="The saved ladder's version; -1 for a draft.")
    routed: int = Field(description="Leads evaluated.")
    catch_all: int = Field(description="Leads only the last (catch-all) rule took.")
    by_rule: dict[str, int]
    outcomes: list[OutcomeOut]


def _out(report: routing_run.RoutingReport) -> ReportOut:
    return ReportOut(
        ladder_version=report.ladder_version,
        routed=len(report.outcomes),
        catch_all=report.catch_all,
        by_rule=report.by_rule,
        outcomes=[
            OutcomeOut(
                lead_id=uuid.UUID(o.lead_id),
                rule=o.rule,
                target=TargetOut(kind=o.target.kind, id=o.target.id),
                owner=uuid.UUID(o.owner) if o.owner else None,
                pool=o.pool,
                code=o.code,
                reason=o.reason,
            )
            for o in report.outcomes
        ],
    )


@contextmanager
def _draft(field: str) -> Iterator[None]:
    """A draft setting's problems name the body field (`body.ladder.rules.0.target`)."""
    try:
        yield
    except DataError as error:
        path = (error.field or "").split(".", 1)
        error.field = f"body.{field}" + (f".{path[1]}" if len(path) > 1 else "")
        raise


@router.post("/simulate", response_model=ReportOut, summary="Simulate routing")
def simulate(body: SimulateIn, session: ReadSession) -> ReportOut:
    """What the next run would do with these leads (default: the oldest unrouted open
    ones), optionally with a draft ladder and/or teams. Writes nothing."""
    tenant_id = tenant_of(session)
    if body.lead_ids:
        require_leads(session, tenant_id, body.lead_ids)
    ladder = teams = None
    if body.ladder is not None:
        with _draft("ladder"):
            ladder = documents.parse("routing", body.ladder)
    if body.teams is not None:
        with _draft("teams"):
            teams = documents.parse("teams", body.teams).root  # type: ignore[attr-defined]
    report = routing_run.simulate(
        session,
        tenant_id,
        lead_ids=body.lead_ids,
        limit=body.limit,
        ladder=ladder,  # type: ignore[arg-type]
        teams=teams,
    )
    return _out(report)


@router.post("/run", response_model=ReportOut, summary="Route new leads")
def run(body: RunIn, session: WriteSession) -> ReportOut:
    """Route leads that have no routing verdict yet through the saved ladder and teams:
    place each in its pool or with the member picked (audited as `route`), and keep the
    round-robin positions. A lead is routed once; a second run routes only new leads.
    422 when the ladder names a pool or team that does not exist."""
    tenant_id = tenant_of(session)
    if body.lead_ids:
        require_leads(session, tenant_id, body.lead_ids)
    return _out(routing_run.route(session, tenant_id, lead_ids=body.lead_ids, limit=body.limit))
