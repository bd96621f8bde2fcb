"""What a scoring run reads: the active documents and models, PLS field values, grades."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.model.tables import ScoringModel, table_of
from core.sales import documents, ml, pls
from core.sales.attribute_score import GradeThresholds, IcpProfile
from core.sales.behaviour import BehaviourModel

MODELS = table_of(ScoringModel)
PLS_STAGE = pls.Stage(id=1, sequence=1)
PLS_FIELDS = ("email_state", "phone_state", "country", "province", "source", "industry")
_GRADES = (("A1", "A2", "A3"), ("B1", "B2", "B3"), ("C1", "C2", "C3"))


@dataclass(frozen=True)
class ActiveModels:
    icp: IcpProfile
    behaviour: BehaviourModel
    grades: GradeThresholds
    pls: pls.FrequencyTable | None
    ml: ml.MlModel | None
    ml_reason: str | None
    versions: list[Any]
    """[icp version, behaviour version, grades version, pls model id, ml model id]."""


def _newest(session: Session, tenant_id: uuid.UUID, kind: str, before: datetime | None) -> Any:
    query = select(MODELS).where(MODELS.c.tenant_id == tenant_id, MODELS.c.kind == kind)
    if before is not None:
        query = query.where(MODELS.c.trained_at <= before)
    return session.execute(query.order_by(MODELS.c.trained_at.desc()).limit(1)).first()


def active_models(
    session: Session, tenant_id: uuid.UUID, *, before: datetime | None = None
) -> ActiveModels:
    """The tenant's documents and its newest models (trained at or before `before`)."""
    icp, icp_v = documents.get(session, tenant_id, "icp")
    behaviour, beh_v = documents.get(session, tenant_id, "behaviour")
    grades, grades_v = documents.get(session, tenant_id, "grades")
    pls_row = _newest(session, tenant_id, "pls", before)
    ml_row = _newest(session, tenant_id, "ml", before)
    table = pls_table_from_json(pls_row.parameters) if pls_row else None
    model, reason = None, "no model trained yet"
    if ml_row is not None:
        params = ml_row.parameters
        reason = params.get("reason")
        model = None if reason else ml.MlModel.from_json(params)
    versions = [
        icp_v,
        beh_v,
        grades_v,
        str(pls_row.id) if pls_row else None,
        str(ml_row.id) if ml_row else None,
    ]
    return ActiveModels(icp, behaviour, grades, table, model, reason, versions)


def pls_table_json(table: pls.FrequencyTable) -> dict[str, Any]:
    return {
        "stages": [[s.id, s.sequence, s.is_won] for s in table.stages],
        "rows": [[t, f, v, c.won, c.lost] for (t, f, v), c in table.rows.items()],
    }


def pls_table_from_json(data: Mapping[str, Any]) -> pls.FrequencyTable:
    rows = {(t, f, v): pls.Counts(float(w), float(lo)) for t, f, v, w, lo in data["rows"]}
    stages = tuple(pls.Stage(int(i), int(s), bool(won)) for i, s, won in data["stages"])
    return pls.FrequencyTable(stages=stages, rows=rows)


def _present(value: Any) -> bool:
    if type(value) is str:
        return value != "" and not value.isspace()
    return value is not None and bool(str(value).strip())


def _state(*columns: Sequence[Any]) -> list[Any]:
    """Odoo's email_state/phone_state: "correct" when a value is present, else False."""
    if len(columns) == 1:
        return ["correct" if _present(v) else False for v in columns[0]]
    return [
        "correct" if any(map(_present, values)) else False for values in zip(*columns, strict=True)
    ]


def _text(column: Sequence[Any]) -> list[Any]:
    """Stripped text, None when blank; each distinct value cleaned once."""
    cleaned = {
        v: None if v is None or not str(v).strip() else str(v).strip()
        for v in dict.fromkeys(column)
    }
    return list(map(cleaned.__getitem__, column))


def pls_values(columns: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """The PLS fields of leads given as columns, in `PLS_FIELDS` order."""
    n = len(columns["status"])
    blank: list[Any] = [None] * n
    return {
        "email_state": _state(columns.get("email", blank)),
        "phone_state": _state(columns.get("phone", blank), columns.get("mobile", blank)),
        **{name: _text(columns.get(name, blank)) for name in PLS_FIELDS[2:]},
    }


def grades_of(
    thresholds: GradeThresholds,
    percent_cents: np.ndarray[Any, Any],
    points_cents: np.ndarray[Any, Any],
) -> list[str]:
    """attribute_score.grade over arrays of cents (bounds inclusive, as the reference)."""

    def band(values: np.ndarray[Any, Any], top: Any, middle: Any) -> np.ndarray[Any, Any]:
        top_c, middle_c = math.ceil(top * 100), math.ceil(middle * 100)
        return np.where(values >= top_c, 0, np.where(values >= middle_c, 1, 2))

    letters = band(percent_cents, thresholds.attribute_a, thresholds.attribute_b).tolist()
    digits = band(points_cents, thresholds.behaviour_1, thresholds.behaviour_2).tolist()
    return [_GRADES[a][b] for a, b in zip(letters, digits, strict=True)]
