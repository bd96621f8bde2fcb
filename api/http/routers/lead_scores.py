"""Lead scores: read a lead's stored score with its full explanation, rescore now, train.

A score has three parts (core.sales.leads.scoring): the attribute fit against the
ideal-customer profile (points per rule), behaviour points from touchpoints (decayed
per type, capped per group) and two probabilities — Odoo's predictive lead scoring
(PLS) and a calibrated ML model, shown only once enough closed leads trained it. The
scheduler rescores every lead on its own; these operations are for one lead now, or
a bounded batch. Decimals are strings (exact); probabilities are percentages.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import ReadSession, WriteSession, tenant_of
from api.http.routers._sales import EXAMPLE_LEAD, MAX_BATCH, require_leads
from core.errors import NotFoundError
from core.sales.leads import scoring

router = APIRouter(tags=["lead-scores"])

LeadId = Annotated[uuid.UUID, Path(examples=[EXAMPLE_LEAD], description="The lead's id.")]

SCORE_EXAMPLE: dict[str, Any] = {
    "lead_id": EXAMPLE_LEAD,
    "scored_at": "2025-06-02T09:30:00Z",
    "grade": "A2",
    "versions": {"icp": 0, "behaviour": 0, "grades": 0, "pls_model": None, "ml_model": None},
    "changed_since": [],
    "attribute": {
        "points": 90,
        "max_points": 100,
        "percent": "90.00",
        "failed_gates": [],
        "rules": [
            {"label": "target industry", "field": "industry", "points": 30, "matched": True},
            {"label": "reachable by mobile", "field": "mobile", "points": 0, "matched": False},
        ],
    },
    "behaviour": {
        "points": "18.00",
        "by_type": {"webinar": "15.00", "email_open": "3.00"},
        "explanation": ["webinar: 1 event, 15.00 points"],
    },
    "pls": {"probability": 42.5, "status": "working"},
    "ml": {
        "available": False,
        "reason": "12 closed leads, need 200",
        "probability": None,
        "top_factors": [],
    },
    "stored": {
        "attribute_percent": "90.00",
        "behaviour_points": "18.00",
        "pls_probability": "42.50",
        "ml_probability": None,
    },
}
RESCORE_EXAMPLE: dict[str, Any] = {"lead_ids": [EXAMPLE_LEAD]}
RESCORE_REPORT_EXAMPLE: dict[str, Any] = {
    "scored": 1,
    "converted": 0,
    "disqualified": 0,
    "grades": {"A2": 1},
    "ml_reason": "12 closed leads, need 200",
}
TRAIN_EXAMPLE: dict[str, Any] = {
    "pls_model_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d11",
    "ml_model_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d12",
    "sample_size": 12,
    "positives": 5,
    "ml_trained": False,
    "ml_reason": "12 closed leads, need 200",
    "metrics": {},
}


class RuleOut(BaseModel):
    label: str
    field: str = Field(description="The lead field the rule reads.")
    points: int = Field(description="Points it gave this lead (0 when it did not match).")
    matched: bool


class AttributeOut(BaseModel):
    """The fit against the ideal-customer profile (the `icp` setting)."""

    points: int
    max_points: int
    percent: str = Field(description="Points as a percentage of the maximum, decimal text.")
    failed_gates: list[str] = Field(description="Must-have rules the lead fails.")
    rules: list[RuleOut]


class BehaviourOut(BaseModel):
    """Decayed, capped points from touchpoints (the `behaviour` setting)."""

    points: str = Field(description="Total, decimal text.")
    by_type: dict[str, str] = Field(description="Points per event type, decimal text.")
    explanation: list[str]


class PlsOut(BaseModel):
    probability: float | None = Field(
        description="Odoo's predictive lead scoring, %; null before a model was trained."
    )
    status: str | None


class FactorOut(BaseModel):
    factor: str
    contribution: float


class MlOut(BaseModel):
    """The ML probability, shown only when the model trained on enough closed leads."""

    available: bool
    reason: str | None = Field(description="Why no probability is shown, when it is not.")
    probability: float | None = None
    top_factors: list[FactorOut] = Field(default_factory=list)


class StoredOut(BaseModel):
    """The values stored by the scoring run (what lists and grades use)."""

    attribute_percent: str
    behaviour_points: str
    pls_probability: str | None
    ml_probability: str | None


class ScoreOut(BaseModel):
    """A lead's stored score, explained part by part as of its `scored_at`."""

    model_config = ConfigDict(json_schema_extra={"examples": [SCORE_EXAMPLE]})

    lead_id: uuid.UUID
    scored_at: datetime
    grade: str = Field(description="A1 (best fit, most engaged) to C3.")
    versions: dict[str, int | str | None] = Field(
        description="Settings versions and model ids the score was computed with."
    )
    changed_since: list[str] = Field(
        description="Which of `versions` changed since: rescore to see their effect."
    )
    attribute: AttributeOut
    behaviour: BehaviourOut
    pls: PlsOut
    ml: MlOut
    stored: StoredOut


class RescoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [RESCORE_EXAMPLE]})

    lead_ids: list[uuid.UUID] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1-{MAX_BATCH} leads (404 when one is not this tenant's); default: "
        "every lead of the tenant.",
    )


class RescoreOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RESCORE_REPORT_EXAMPLE]})

    scored: int
    converted: int = Field(description="Scored leads already converted (PLS 100).")
    disqualified: int = Field(description="Scored leads disqualified (PLS 0).")
    grades: dict[str, int] = Field(description="Leads per grade.")
    ml_reason: str | None = Field(description="Why no ML probability was given, if none was.")


class TrainOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [TRAIN_EXAMPLE]})

    pls_model_id: uuid.UUID
    ml_model_id: uuid.UUID
    sample_size: int = Field(description="Closed leads (converted or disqualified) read.")
    positives: int = Field(description="Of which converted.")
    ml_trained: bool
    ml_reason: str | None = Field(description="Why the ML model was not fitted, if it was not.")
    metrics: dict[str, Any] = Field(description="Cross-validated quality of the ML model.")


def _explained(session: Any, tenant_id: uuid.UUID, lead_id: uuid.UUID) -> ScoreOut:
    try:
        explained = scoring.explain(session, tenant_id, lead_id)
    except NotFoundError:
        raise NotFoundError(
            f"lead {lead_id} has not been scored yet",
            hint=f"POST /v1/leads/{lead_id}/score or wait for the scheduled rescoring",
        ) from None
    return ScoreOut.model_validate(explained)


@router.get(
    "/leads/{lead_id}/score",
    response_model=ScoreOut,
    summary="A lead's score, explained",
)
def get_score(lead_id: LeadId, session: ReadSession) -> ScoreOut:
    """The grade and the stored parts, with every ICP rule's points, behaviour points
    per event type, the PLS probability and the ML probability (or why it is not shown).
    404 when the lead was never scored."""
    tenant_id = tenant_of(session)
    require_leads(session, tenant_id, [lead_id])
    return _explained(session, tenant_id, lead_id)


@router.post(
    "/leads/{lead_id}/score",
    response_model=ScoreOut,
    summary="Rescore a lead now",
)
def rescore_lead(lead_id: LeadId, session: WriteSession) -> ScoreOut:
    """Score the lead with the current settings and models, store it, and answer as
    the GET does."""
    tenant_id = tenant_of(session)
    require_leads(session, tenant_id, [lead_id])
    scoring.rescore(session, tenant_id, lead_ids=[lead_id])
    return _explained(session, tenant_id, lead_id)


@router.post("/scoring/train", response_model=TrainOut, summary="Train the scoring models")
def train(session: WriteSession) -> TrainOut:
    """Rebuild the PLS frequency table and fit the ML model from the tenant's closed
    leads; both become the active models. Below the `scoring` setting's minimum sample
    the ML model is not fitted (`ml_reason`). Scores change at the next rescoring."""
    report = scoring.train(session, tenant_of(session))
    return TrainOut(
        pls_model_id=report.pls_model_id,
        ml_model_id=report.ml_model_id,
        sample_size=report.sample_size,
        positives=report.positives,
        ml_trained=report.ml_trained,
        ml_reason=report.ml_reason,
        metrics=dict(report.metrics),
    )


@router.post("/scoring/rescore", response_model=RescoreOut, summary="Rescore leads")
def rescore(body: RescoreIn, session: WriteSession) -> RescoreOut:
    """Score the given leads, or every lead of the tenant, now and in this request. The
    scheduler rescores every lead on its own schedule; for a large tenant leave the
    whole-tenant run to it (this call holds one transaction for the whole run)."""
    tenant_id = tenant_of(session)
    if body.lead_ids:
        require_leads(session, tenant_id, body.lead_ids)
    report = scoring.rescore(session, tenant_id, lead_ids=body.lead_ids)
    return RescoreOut(
        scored=report.scored,
        converted=report.converted,
        disqualified=report.disqualified,
        grades=dict(report.grades),
        ml_reason=report.ml_reason,
    )
