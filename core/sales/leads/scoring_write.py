"""Scores of a chunk as arrays, their stored explanations as JSON text, and the writes.

At a million leads, per-lead dicts, Decimals and `json.dumps` cost more than the scoring.
Here numbers stay integer cents, a cents value becomes text through a table built once per
chunk, and an explanation is JSON text glued from pieces made once per distinct label, type
and factor. PostgreSQL gets one text COPY into a temporary stage (numbers as integer cents,
scaled exactly by the server) and one INSERT ... ON CONFLICT; SQLite gets the bulk writer's
upsert with Decimals and dicts. Either way it is one statement set inside the caller's
transaction: a killed run leaves the previous scores.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from core.model.tables import LeadScore, table_of
from core.store.bulk import bulk_writer

SCORES = table_of(LeadScore)
Ints = npt.NDArray[np.int64]
_TIGHT = (",", ":")
NONE = -1  # cents of a probability that is not shown (no model)
_stages = itertools.count()
_COLUMNS = (
    "attribute_points",
    "attribute_percent",
    "behaviour_points",
    "pls_probability",
    "ml_probability",
    "grade",
    "explanation",
)


@dataclass(frozen=True)
class Scored:
    """One chunk's scores; probabilities in cents with `NONE` for "no probability"."""

    ids: Sequence[uuid.UUID | str]
    points: Ints
    percent_cents: Ints
    behaviour_cents: Ints
    pls_cents: Ints
    ml_cents: Ints
    grades: list[str]
    explanations: list[str]  # JSON text


def cents_text(values: Ints, *, places: int = 2) -> list[str]:
    """Exact decimal text of integers scaled by 10**-places ("-20.00", "0.125")."""
    if not len(values):
        return []
    low, high = int(values.min()), int(values.max())
    if high - low > 4 * len(values) + 10_000:
        return [_fixed(v, places) for v in values.tolist()]
    table = [_fixed(v, places) for v in range(low, high + 1)]
    return list(map(table.__getitem__, (values - low).tolist()))


def _fixed(value: int, places: int) -> str:
    whole, part = divmod(abs(value), 10**places)
    return f"{'-' if value < 0 else ''}{whole}.{part:0{places}d}"


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _spans(lead: Ints, n: int) -> list[int]:
    """Start of each lead's rows in `lead` (sorted), plus the end: n + 1 offsets."""
    return np.searchsorted(lead, np.arange(n + 1)).tolist()  # type: ignore[no-any-return]


def explanations(
    versions: Sequence[Any],
    labels: Sequence[str],
    matched: npt.NDArray[np.bool_],
    failed_gate: npt.NDArray[np.bool_],
    types: tuple[Ints, Ints, Ints, Sequence[str]],
    factors: tuple[Ints, Ints, Ints, Sequence[str]] | None,
) -> list[str]:
    """The stored explanation of each lead as JSON text: {"v": versions, "rules": [matched
    labels], "types": {type: points}, "gate_failed": true (when), "ml": [[factor, value]]}.

    `types` is (lead, type code, cents, type names) per scored (lead, type), sorted by lead;
    `factors`
    is (lead, feature, value in thousandths) sorted by lead, and the feature names.
    """
    n = len(matched)
    head = '{"v":' + json.dumps(list(versions), ensure_ascii=False, separators=_TIGHT) + ',"rules":'
    rule_texts: dict[Any, str] = {}
    if matched.shape[1] <= 62:
        keys: list[Any] = (matched.astype(np.int64) @ (1 << np.arange(matched.shape[1]))).tolist()
    else:
        keys = [row.tobytes() for row in matched]
    for key, row in zip(keys, matched, strict=True):
        if key not in rule_texts:
            chosen = [label for label, hit in zip(labels, row.tolist(), strict=True) if hit]
            rule_texts[key] = json.dumps(chosen, ensure_ascii=False, separators=_TIGHT)
    gate = [',"gate_failed":true' if f else "" for f in failed_gate.tolist()]
    lead, code, cents, type_names = types
    names = [_quoted(t) + ":" for t in type_names]
    pieces = [names[c] + t for c, t in zip(code.tolist(), cents_text(cents), strict=True)]
    starts = _spans(lead, n)
    ml_part = [""] * n
    if factors is not None:
        f_lead, feature, milli, feature_names = factors
        prefixes = ["[" + _quoted(f) + "," for f in feature_names]
        values = cents_text(milli, places=3)
        f_pieces = [prefixes[j] + v + "]" for j, v in zip(feature.tolist(), values, strict=True)]
        f_starts = _spans(f_lead, n)
        for i in range(n):
            a, b = f_starts[i], f_starts[i + 1]
            if a < b:
                ml_part[i] = ',"ml":[' + ",".join(f_pieces[a:b]) + "]"
    rules = [rule_texts[k] for k in keys]
    return [
        f'{head}{rules[i]},"types":{{{",".join(pieces[starts[i] : starts[i + 1]])}}}'
        f"{gate[i]}{ml_part[i]}}}"
        for i in range(n)
    ]


def write(session: Session, tenant_id: uuid.UUID, scored: Scored, as_of: datetime) -> None:
    """Upsert `lead_score` rows of the chunk (inside the caller's transaction)."""
    if not len(scored.ids):
        return
    if session.get_bind().dialect.name == "postgresql":
        _pg_write(session, tenant_id, scored, as_of)
        return

    def cents(values: Ints) -> list[Decimal | None]:
        return [None if v == NONE else Decimal(v).scaleb(-2) for v in values.tolist()]

    rows = zip(
        scored.ids,
        itertools.repeat(tenant_id),
        scored.points.tolist(),
        cents(scored.percent_cents),
        [Decimal(v).scaleb(-2) for v in scored.behaviour_cents.tolist()],
        cents(scored.pls_cents),
        cents(scored.ml_cents),
        scored.grades,
        map(json.loads, scored.explanations),
        itertools.repeat(as_of),
        strict=False,
    )
    bulk_writer(session).upsert(SCORES, ["lead_id"], ["tenant_id", *_COLUMNS, "scored_at"], [*rows])


def _pg_write(session: Session, tenant_id: uuid.UUID, scored: Scored, as_of: datetime) -> None:
    store(session.connection().connection.driver_connection, tenant_id, as_of, payload(scored))


def payload(scored: Scored) -> str:
    """The chunk as COPY text for `store` (numbers as integer cents)."""

    def numbers(values: Ints) -> list[str]:
        return ["\\N" if v == NONE else str(v) for v in values.tolist()]

    explained = scored.explanations
    if any("\\" in e for e in explained):
        explained = [e.replace("\\", "\\\\") for e in explained]
    lines = zip(
        map(str, scored.ids),
        map(str, scored.points.tolist()),
        map(str, scored.percent_cents.tolist()),
        map(str, scored.behaviour_cents.tolist()),
        numbers(scored.pls_cents),
        numbers(scored.ml_cents),
        scored.grades,
        explained,
        strict=True,
    )
    return "".join("\t".join(line) + "\n" for line in lines)


def store(connection: Any, tenant_id: uuid.UUID, as_of: datetime, rows: str) -> None:
    """COPY `payload` text into a stage, then upsert `lead_score` from it. Talks to the
    psycopg connection only (no Session), so a worker thread can run it while the caller's
    thread scores the next chunk; the connection and its transaction stay the caller's."""
    if not rows:
        return
    stage = f"_l2c_scores_{next(_stages)}"
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in ("tenant_id", *_COLUMNS, "scored_at"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE {stage} (lead_id uuid, points int, percent int,"
            " behaviour bigint, pls int, ml int, grade text, explanation text) ON COMMIT DROP"
        )
        with cursor.copy(f"COPY {stage} FROM STDIN") as copy:
            copy.write(rows)
        cursor.execute(
            f"INSERT INTO lead_score (lead_id, tenant_id, {', '.join(_COLUMNS)}, scored_at)"  # noqa: S608
            " SELECT lead_id, %(tenant)s, points, percent * 0.01, behaviour * 0.01,"
            " pls * 0.01, ml * 0.01, grade, CAST(explanation AS json), %(at)s"
            f" FROM {stage} ON CONFLICT (lead_id) DO UPDATE SET {sets}",
            {"tenant": tenant_id, "at": as_of},
        )
        cursor.execute(f"DROP TABLE {stage}")
