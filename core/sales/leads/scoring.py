"""Scoring over the store: train the PLS table and the ML model, rescore leads in batches.

`train` counts closed leads (status `converted` = won, `disqualified` = lost) into Odoo's
frequency table and fits the calibrated model; each becomes a `scoring_model` row, and the
newest row of a kind is the active one. `rescore` reads leads in chunks with their
touchpoints and their returns to a pool (`returned.<reason>` events; scoring_load), scores
them through core.sales.batch (the vectorised twin of the per-lead reference) and upserts
`lead_score` (scoring_write). On PostgreSQL a worker thread keeps the server busy storing
the previous chunk and reading the next one while this thread scores: 1M leads in ~40 s
(bench/lead_scoring.py). Every lead is scored; closed ones are counted in the report and
read PLS 100 (converted, Odoo's won stage) or 0 (disqualified, Odoo's lost lead).

PLS here: one stage, no team (the all-teams aggregate), fields email_state, phone_state
("correct" or False, as Odoo), country, province, source and industry.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import NotFoundError
from core.model.tables import (
    LeadScore,
    ScoringModel,
    table_of,
)
from core.sales import attribute_score, batch, behaviour, documents, ml, pls
from core.sales.leads.scoring_load import (
    LEADS,
    Chunk,
    chunk_windows,
    load_chunk,
    pg_chunk,
    pg_reads,
)
from core.sales.leads.scoring_parts import (
    PLS_STAGE,
    ActiveModels,
    active_models,
    grades_of,
    pls_table_json,
    pls_values,
)
from core.sales.leads.scoring_write import NONE, Scored, explanations, payload, store, write

SCORES, MODELS = table_of(LeadScore), table_of(ScoringModel)
WON, LOST = "converted", "disqualified"
ML_FIELDS = (*ml.CATEGORICAL, *ml.PRESENCE)


@dataclass(frozen=True)
class TrainReport:
    pls_model_id: uuid.UUID
    ml_model_id: uuid.UUID
    sample_size: int
    positives: int
    ml_trained: bool
    ml_reason: str | None
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class RescoreReport:
    scored: int = 0
    converted: int = 0
    disqualified: int = 0
    grades: dict[str, int] = field(default_factory=dict)
    ml_reason: str | None = None


def _columns_needed(extra: Sequence[str]) -> list[str]:
    wanted = ["status", *ML_FIELDS, *extra]
    return [c for c in dict.fromkeys(wanted) if c in LEADS.c and c != "id"]


def _closed(session: Session, tenant_id: uuid.UUID, names: Sequence[str], now: datetime) -> Chunk:
    where = and_(LEADS.c.tenant_id == tenant_id, LEADS.c.status.in_((WON, LOST)))
    return load_chunk(session, tenant_id, where, names, now)


def train(session: Session, tenant_id: uuid.UUID, *, now: datetime | None = None) -> TrainReport:
    """Rebuild the PLS table and fit the ML model from closed leads; store both as active."""
    now = now or utcnow()
    settings, _ = documents.get(session, tenant_id, "scoring")
    with ThreadPoolExecutor(max_workers=1) as warm:
        warm.submit(ml.estimator, 2)  # imports scikit-learn (~1.5 s) while the leads load
        chunk = _closed(session, tenant_id, _columns_needed(()), now)
    won = np.array([s == WON for s in chunk.columns["status"]], dtype=np.bool_)
    values = pls_values(chunk.columns)
    leads = [
        pls.Lead(
            stage=PLS_STAGE,
            values={name: column[i] for name, column in values.items()},
            state="won" if won[i] else "lost",
        )
        for i in range(chunk.size)
    ]
    table = pls.rebuild(leads, stages=(PLS_STAGE,))
    outcome = ml.train(
        ml.Inputs(chunk.columns, chunk.touch_counts, chunk.returns),
        won,
        min_sample=settings.min_sample,
        min_per_class=settings.min_per_class,
        cv_folds=settings.cv_folds,
    )
    positives = int(won.sum())
    pls_id, ml_id = uuid.uuid4(), uuid.uuid4()
    ml_parameters = outcome.model.to_json() if outcome.model else {"reason": outcome.reason}
    session.execute(
        MODELS.insert(),
        [
            {
                "id": pls_id,
                "tenant_id": tenant_id,
                "kind": "pls",
                "trained_at": now,
                "sample_size": chunk.size,
                "positives": positives,
                "parameters": pls_table_json(table),
                "metrics": None,
            },
            {
                "id": ml_id,
                "tenant_id": tenant_id,
                "kind": "ml",
                "trained_at": now,
                "sample_size": chunk.size,
                "positives": positives,
                "parameters": ml_parameters,
                "metrics": dict(outcome.metrics) or None,
            },
        ],
    )
    return TrainReport(
        pls_id,
        ml_id,
        chunk.size,
        positives,
        outcome.model is not None,
        outcome.reason,
        dict(outcome.metrics),
    )


def score_chunk(chunk: Chunk, models: ActiveModels, *, top_factors: int) -> Scored:
    """Scores, grades and stored explanations of a chunk's leads, as arrays and text."""
    n = chunk.size
    attr = batch.attribute(models.icp, chunk.columns, n)
    beh = batch.behaviour_codes(
        models.behaviour,
        chunk.event_lead,
        chunk.event_code,
        chunk.type_names,
        chunk.event_age_us,
        n,
    )
    status = chunk.columns["status"]
    pls_cents = np.full(n, NONE, dtype=np.int64)
    if models.pls is not None:
        probability = batch.pls(models.pls, pls_values(chunk.columns), n)
        shown = np.array([p is not None for p in probability], dtype=np.bool_)
        values = np.array([0.0 if p is None else p for p in probability], dtype=np.float64)
        pls_cents[shown] = np.rint(values[shown] * 100).astype(np.int64)
    won = np.array([s == WON for s in status], dtype=np.bool_)
    lost = np.array([s == LOST for s in status], dtype=np.bool_)
    pls_cents[won], pls_cents[lost] = 10_000, 0  # Odoo: won stage 100, lost lead 0
    ml_cents = np.full(n, NONE, dtype=np.int64)
    factors = None
    if models.ml is not None and n:
        x = ml.matrix(models.ml, ml.Inputs(chunk.columns, chunk.touch_counts, chunk.returns))
        ml_cents = np.rint(ml.predict(models.ml, x) * 10_000).astype(np.int64)
        factors = (*ml.top_factor_arrays(models.ml, x, top_factors), models.ml.feature_names)
    grades = grades_of(models.grades, attr.percent_cents, beh.total_cents)
    pair_codes, pair_names = batch.factorize(beh.pair_type)
    explained = explanations(
        models.versions,
        [r.label for r in models.icp.rules],
        attr.matched,
        attr.failed_gate,
        (beh.pair_lead, pair_codes, beh.pair_cents, pair_names),
        factors,
    )
    return Scored(
        chunk.ids,
        attr.points.astype(np.int64),
        attr.percent_cents,
        beh.total_cents,
        pls_cents,
        ml_cents,
        grades,
        explained,
    )


def rescore(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    lead_ids: Sequence[uuid.UUID] | None = None,
    as_of: datetime | None = None,
    chunk: int = 200_000,
    progress: Callable[[int], None] | None = None,
) -> RescoreReport:
    """Score leads (all, or `lead_ids`) as of `as_of` and upsert `lead_score`; never commits.

    Leads go in chunks of `chunk` (memory: roughly 1 KB per lead); on PostgreSQL each chunk
    costs a scan of the tenant's leads and touchpoints, so fewer, larger chunks are faster.
    """
    as_of = as_of or utcnow()
    models = active_models(session, tenant_id)
    settings, _ = documents.get(session, tenant_id, "scoring")
    names = _columns_needed([r.field for r in models.icp.rules])
    report = RescoreReport(ml_reason=models.ml_reason)
    windows = list(chunk_windows(session, tenant_id, lead_ids, chunk))
    reads = [pg_reads(session, tenant_id, where, names, within) for where, within in windows]
    if not windows:
        return report
    if any(r is None for r in reads):  # SQLite: one chunk after the other
        for where, events_of in windows:
            part = load_chunk(
                session, tenant_id, where, names, as_of, events_of=events_of, ordered=False
            )
            scored = score_chunk(part, models, top_factors=settings.top_factors)
            write(session, tenant_id, scored, as_of)
            _count(report, part, scored, progress)
        return report
    # PostgreSQL: the server stores chunk k-1 and reads chunk k+1 (a worker thread on the
    # session's own connection, in its transaction) while this thread scores chunk k
    connection: Any = session.connection().connection.driver_connection
    rows = ""
    with ThreadPoolExecutor(max_workers=1) as worker:
        fetched = worker.submit(reads[0].fetch, connection)  # type: ignore[union-attr]
        for k, (where, _) in enumerate(windows):
            part = pg_chunk(session, fetched.result(), where, names, as_of, ordered=False)
            storing = worker.submit(store, connection, tenant_id, as_of, rows)
            if k + 1 < len(reads):
                fetched = worker.submit(reads[k + 1].fetch, connection)  # type: ignore[union-attr]
            scored = score_chunk(part, models, top_factors=settings.top_factors)
            rows = payload(scored)
            storing.result()
            _count(report, part, scored, progress)
        store(connection, tenant_id, as_of, rows)
    return report


def _count(
    report: RescoreReport, part: Chunk, scored: Scored, progress: Callable[[int], None] | None
) -> None:
    report.scored += part.size
    for s in part.columns["status"]:
        if s == WON:
            report.converted += 1
        elif s == LOST:
            report.disqualified += 1
    for g in scored.grades:
        report.grades[g] = report.grades.get(g, 0) + 1
    if progress is not None:
        progress(report.scored)


def explain(session: Session, tenant_id: uuid.UUID, lead_id: uuid.UUID) -> dict[str, Any]:
    """The full explanation of a lead's stored score, recomputed with the per-lead reference
    functions as of its `scored_at`, and whether documents or models changed since."""
    stored = session.execute(
        select(SCORES).where(SCORES.c.tenant_id == tenant_id, SCORES.c.lead_id == lead_id)
    ).first()
    if stored is None:
        raise NotFoundError(
            f"lead {lead_id} has no score", hint="run the rescoring task or POST .../score"
        )
    as_of = stored.scored_at
    models = active_models(session, tenant_id, before=as_of)
    current = active_models(session, tenant_id)
    names = _columns_needed([r.field for r in models.icp.rules])
    where = and_(LEADS.c.tenant_id == tenant_id, LEADS.c.id == lead_id)
    one = load_chunk(session, tenant_id, where, names, as_of)
    attributes = {name: column[0] for name, column in one.columns.items()}
    fit = attribute_score.score(models.icp, attributes)
    events = [
        behaviour.Touchpoint(kind, as_of - timedelta(microseconds=int(age)))
        for kind, age in zip(one.event_type, one.event_age_us.tolist(), strict=True)
    ]
    engagement = behaviour.points(models.behaviour, events, as_of=as_of)
    values = {name: column[0] for name, column in pls_values(one.columns).items()}
    status = one.columns["status"][0]
    pls_p: float | None
    if status in (WON, LOST):  # Odoo: a won lead is 100 %, a lost one 0 %, whatever the table
        pls_p = 100.0 if status == WON else 0.0
    elif models.pls is None:
        pls_p = None
    else:
        pls_p = pls.probability(models.pls, pls.Lead(stage=PLS_STAGE, values=values))
    ml_part: dict[str, Any] = {"available": models.ml is not None, "reason": models.ml_reason}
    if models.ml is not None:
        x = ml.matrix(models.ml, ml.Inputs(one.columns, one.touch_counts, one.returns))
        ml_part["probability"] = round(100 * float(ml.predict(models.ml, x)[0]), 2)
        ml_part["top_factors"] = [
            {"factor": name, "contribution": value}
            for name, value in ml.top_factors(models.ml, x, 10)[0]
        ]
    stored_versions = stored.explanation.get("v")
    return {
        "lead_id": str(lead_id),
        "scored_at": as_of.isoformat(),
        "grade": stored.grade,
        "versions": dict(zip(_VERSION_NAMES, stored_versions or [], strict=False)),
        "changed_since": [
            name
            for name, then, now in zip(
                _VERSION_NAMES, stored_versions or [], current.versions, strict=False
            )
            if then != now
        ],
        "attribute": {
            "points": fit.points,
            "max_points": fit.max_points,
            "percent": str(fit.percent),
            "failed_gates": list(fit.failed_gates),
            "rules": [r._asdict() for r in fit.explanation],
        },
        "behaviour": {
            "points": str(engagement.total),
            "by_type": {k: str(v) for k, v in engagement.by_type.items()},
            "explanation": list(engagement.explanation),
        },
        "pls": {"probability": pls_p, "status": attributes.get("status")},
        "ml": ml_part,
        "stored": {
            "attribute_percent": str(stored.attribute_percent),
            "behaviour_points": str(stored.behaviour_points),
            "pls_probability": None
            if stored.pls_probability is None
            else str(stored.pls_probability),
            "ml_probability": None if stored.ml_probability is None else str(stored.ml_probability),
        },
    }


_VERSION_NAMES = ("icp", "behaviour", "grades", "pls_model", "ml_model")
