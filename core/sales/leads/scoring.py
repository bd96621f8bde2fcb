"""Scoring over the store: train the PLS table and the ML model, rescore leads in batches.

`train` counts closed leads (status `converted` = won, `disqualified` = lost) into Odoo's
frequency table and fits the calibrated model; each becomes a `scoring_model` row, and the
newest row of a kind is the active one. `rescore` reads leads in keyset chunks with Core
selects, with their touchpoints and their returns to a pool (`returned.<reason>` events),
scores them through core.sales.batch (the vectorised twin of the per-lead reference) and
bulk-upserts `lead_score`. Every lead is scored; closed ones are counted in the report and
read PLS 100 (converted, Odoo's won stage) or 0 (disqualified, Odoo's lost lead).

PLS here: one stage, no team (the all-teams aggregate), fields email_state, phone_state
("correct" or False, as Odoo), country, province, source and industry.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Select, and_, cast, func, literal, select, union_all
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import NotFoundError
from core.model.tables import (
    Lead,
    LeadOwnershipEvent,
    LeadScore,
    ScoringModel,
    Touchpoint,
    table_of,
)
from core.sales import attribute_score, batch, behaviour, documents, ml, pls
from core.sales.leads.scoring_parts import (
    PLS_STAGE,
    ActiveModels,
    active_models,
    grades_of,
    pls_table_json,
    pls_values,
)
from core.store.bulk import bulk_writer

LEADS, TOUCH, EVENTS = table_of(Lead), table_of(Touchpoint), table_of(LeadOwnershipEvent)
SCORES, MODELS = table_of(LeadScore), table_of(ScoringModel)
WON, LOST = "converted", "disqualified"
_MICROSECOND = timedelta(microseconds=1)
ML_FIELDS = (*ml.CATEGORICAL, *ml.PRESENCE)
_SCORE_COLUMNS = (
    "tenant_id",
    "attribute_points",
    "attribute_percent",
    "behaviour_points",
    "pls_probability",
    "ml_probability",
    "grade",
    "explanation",
    "scored_at",
)


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


@dataclass(frozen=True)
class Chunk:
    ids: list[uuid.UUID]
    columns: dict[str, list[Any]]
    event_lead: np.ndarray[Any, np.dtype[np.int64]]
    event_type: list[str]
    event_age_us: np.ndarray[Any, np.dtype[np.int64]]
    touch_counts: dict[str, np.ndarray[Any, np.dtype[np.int64]]]
    returns: np.ndarray[Any, np.dtype[np.int64]]

    @property
    def size(self) -> int:
        return len(self.ids)


def _columns_needed(extra: Sequence[str]) -> list[str]:
    wanted = ["status", *ML_FIELDS, *extra]
    return [c for c in dict.fromkeys(wanted) if c in LEADS.c and c != "id"]


def _epoch_us(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", column) * 1_000_000, BigInteger)
    return column


def load_chunk(
    session: Session, tenant_id: uuid.UUID, where: Any, names: Sequence[str], as_of: datetime
) -> Chunk:
    """Leads matching `where` (ordered by id) with their events, as columns and arrays."""
    rows = session.execute(
        select(LEADS.c.id, *(LEADS.c[c] for c in names)).where(where).order_by(LEADS.c.id)
    ).all()
    transposed = list(zip(*rows, strict=True)) if rows else [()] * (len(names) + 1)
    ids = list(transposed[0])
    columns = {name: list(transposed[i + 1]) for i, name in enumerate(names)}
    numbered = (
        select(LEADS.c.id, (func.row_number().over(order_by=LEADS.c.id) - 1).label("i"))
        .where(where)
        .subquery()
    )
    touches: Select[Any] = (
        select(numbered.c.i, TOUCH.c.type, _epoch_us(session, TOUCH.c.occurred_at))
        .join(TOUCH, TOUCH.c.lead_id == numbered.c.id)
        .where(TOUCH.c.tenant_id == tenant_id)
    )
    reason = func.coalesce(EVENTS.c.reason_code, "")
    returns: Select[Any] = (
        select(numbered.c.i, literal("returned.") + reason, _epoch_us(session, EVENTS.c.at))
        .join(EVENTS, EVENTS.c.lead_id == numbered.c.id)
        .where(EVENTS.c.tenant_id == tenant_id, EVENTS.c.action == "return")
    )
    events = session.execute(union_all(touches, returns)).all()
    lead_ix = np.fromiter((e[0] for e in events), np.int64, len(events))
    types = [e[1] if e[1] != "returned." else "returned" for e in events]
    if events and isinstance(events[0][2], datetime):
        cutoff = as_of
        ages = np.fromiter(((cutoff - e[2]) // _MICROSECOND for e in events), np.int64, len(events))
    else:
        as_of_us = int(as_of.timestamp()) * 1_000_000 + as_of.microsecond
        ages = as_of_us - np.fromiter((e[2] for e in events), np.int64, len(events))
    n = len(ids)
    is_return = np.fromiter((t.startswith("returned") for t in types), np.bool_, len(types))
    return_counts = np.bincount(lead_ix[is_return], minlength=n).astype(np.int64)
    counts: dict[str, np.ndarray[Any, np.dtype[np.int64]]] = {}
    codes, distinct = batch.factorize(types)
    for code, kind in enumerate(distinct):
        if not kind.startswith("returned"):
            counts[kind] = np.bincount(lead_ix[codes == code], minlength=n).astype(np.int64)
    return Chunk(ids, columns, lead_ix, types, ages, counts, return_counts)


def _closed(session: Session, tenant_id: uuid.UUID, names: Sequence[str], now: datetime) -> Chunk:
    where = and_(LEADS.c.tenant_id == tenant_id, LEADS.c.status.in_((WON, LOST)))
    return load_chunk(session, tenant_id, where, names, now)


def train(session: Session, tenant_id: uuid.UUID, *, now: datetime | None = None) -> TrainReport:
    """Rebuild the PLS table and fit the ML model from closed leads; store both as active."""
    now = now or utcnow()
    settings, _ = documents.get(session, tenant_id, "scoring")
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


def score_chunk(
    chunk: Chunk, models: ActiveModels, *, top_factors: int
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Score rows (lead_id + `_SCORE_COLUMNS` minus tenant/scored_at) and their grades."""
    n = chunk.size
    attr = batch.attribute(models.icp, chunk.columns, n)
    beh = batch.behaviour(
        models.behaviour, chunk.event_lead, chunk.event_type, chunk.event_age_us, n
    )
    status = chunk.columns["status"]
    if models.pls is not None:
        pls_p = batch.pls(models.pls, pls_values(chunk.columns), n)
    else:
        pls_p = [None] * n
    ml_p: list[Any] = [None] * n
    factors: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    if models.ml is not None and n:
        x = ml.matrix(models.ml, ml.Inputs(chunk.columns, chunk.touch_counts, chunk.returns))
        cents = np.rint(ml.predict(models.ml, x) * 10_000).astype(np.int64).tolist()
        ml_p = [Decimal(c).scaleb(-2) for c in cents]
        factors = ml.top_factors(models.ml, x, top_factors)
    grades = grades_of(models.grades, attr.percent_cents, beh.total_cents)
    by_lead: list[dict[str, float]] = [{} for _ in range(n)]
    for lead, kind, cents in zip(
        beh.pair_lead.tolist(), beh.pair_type, beh.pair_cents.tolist(), strict=True
    ):
        by_lead[lead][kind] = cents / 100
    labels = [r.label for r in models.icp.rules]
    matched_rows = attr.matched.tolist()
    failed = attr.failed_gate.tolist()
    rows: list[tuple[Any, ...]] = []
    for i in range(n):
        explanation: dict[str, Any] = {
            "v": models.versions,
            "rules": [labels[j] for j, hit in enumerate(matched_rows[i]) if hit],
            "types": by_lead[i],
        }
        if failed[i]:
            explanation["gate_failed"] = True
        if factors[i]:
            explanation["ml"] = factors[i]
        p = pls_p[i]
        if status[i] == WON:
            p = 100.0
        elif status[i] == LOST:
            p = 0.0
        rows.append(
            (
                chunk.ids[i],
                int(attr.points[i]),
                Decimal(int(attr.percent_cents[i])).scaleb(-2),
                Decimal(int(beh.total_cents[i])).scaleb(-2),
                None if p is None else Decimal(round(p * 100)).scaleb(-2),
                ml_p[i],
                grades[i],
                explanation,
            )
        )
    return rows, grades


def rescore(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    lead_ids: Sequence[uuid.UUID] | None = None,
    as_of: datetime | None = None,
    chunk: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> RescoreReport:
    """Score leads (all, or `lead_ids`) as of `as_of` and upsert `lead_score`; never commits."""
    as_of = as_of or utcnow()
    models = active_models(session, tenant_id)
    settings, _ = documents.get(session, tenant_id, "scoring")
    names = _columns_needed([r.field for r in models.icp.rules])
    writer = bulk_writer(session)
    report = RescoreReport(ml_reason=models.ml_reason)
    after: uuid.UUID | None = None
    base = LEADS.c.tenant_id == tenant_id
    if lead_ids is not None:
        base = and_(base, LEADS.c.id.in_(list(lead_ids)))
    while True:
        bound = select(LEADS.c.id).where(base)
        if after is not None:
            bound = bound.where(LEADS.c.id > after)
        window = bound.order_by(LEADS.c.id).limit(chunk).subquery()
        last = session.execute(select(window.c.id).order_by(window.c.id.desc()).limit(1)).scalar()
        if last is None:
            break
        where = and_(base, LEADS.c.id <= last)
        if after is not None:
            where = and_(where, LEADS.c.id > after)
        part = load_chunk(session, tenant_id, where, names, as_of)
        rows, grades = score_chunk(part, models, top_factors=settings.top_factors)
        writer.upsert(
            SCORES,
            ["lead_id"],
            list(_SCORE_COLUMNS),
            [(r[0], tenant_id, *r[1:], as_of) for r in rows],
        )
        report.scored += part.size
        for s in part.columns["status"]:
            if s == WON:
                report.converted += 1
            elif s == LOST:
                report.disqualified += 1
        for g in grades:
            report.grades[g] = report.grades.get(g, 0) + 1
        if progress is not None:
            progress(report.scored)
        after = last
    return report


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
    pls_p = (
        None
        if models.pls is None
        else pls.probability(models.pls, pls.Lead(stage=PLS_STAGE, values=values))
    )
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
