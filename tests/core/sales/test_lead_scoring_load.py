"""The fast scoring paths read and write what the plain ones do: the PostgreSQL loader equals
the Core loader, chunked and pipelined rescores equal one pass, explanations are exact text."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import Lead, LeadOwnershipEvent, LeadScore, Tenant, Touchpoint, table_of
from core.sales.leads import scoring
from core.sales.leads.scoring_load import _EVENT, _ID, _core_chunk, _lead_index, load_chunk
from core.sales.leads.scoring_write import cents_text, explanations

NOW = datetime(2026, 3, 1, tzinfo=UTC)
ODD_VALUES = [None, "", "  ", "Manufacturing", "tab\there", "line\nbreak", "back\\slash", "王总"]


def _seed(session: Session, tenant_id: uuid.UUID, n: int = 12) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    session.execute(
        table_of(Lead).insert(),
        [
            {
                "id": lead_id,
                "tenant_id": tenant_id,
                "name": f"lead {i}",
                "company": ODD_VALUES[i % len(ODD_VALUES)],
                "title": ODD_VALUES[(i + 3) % len(ODD_VALUES)],
                "email": f"u{i}@x.cn" if i % 3 else None,
                "mobile": "+8613800138000" if i % 2 else "   ",
                # a value holding the loader's separator: that column is read row by row
                "industry": "Manu\x1ffacturing" if i == 5 else ODD_VALUES[i % 4],
                "source": "competitor" if i == 7 else "website",
                "status": ("new", "working", "converted", "disqualified")[i % 4],
            }
            for i, lead_id in enumerate(ids)
        ],
    )
    session.execute(
        table_of(Touchpoint).insert(),
        [
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "lead_id": ids[i % n],
                "type": ("form", "webinar", "visit", "returned_call")[i % 4],
                "occurred_at": NOW - timedelta(days=i, microseconds=i * 7),
                "source": "t",
                "external_id": str(i),
            }
            for i in range(3 * n)
        ],
    )
    session.execute(
        table_of(LeadOwnershipEvent).insert(),
        [
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "lead_id": ids[i],
                "action": "return",
                "via": "api",
                "actor": "u",
                "reason_code": (None, "", "no_budget")[i % 3],
                "at": NOW - timedelta(days=2, seconds=i),
            }
            for i in range(0, n, 2)
        ],
    )
    return ids


def _events(chunk: scoring.Chunk) -> list[tuple[str, str, int]]:
    leads = [str(i) for i in chunk.ids]
    return sorted(
        (leads[i], t, age)
        for i, t, age in zip(
            chunk.event_lead.tolist(), chunk.event_type, chunk.event_age_us.tolist(), strict=True
        )
    )


def test_loader_reads_what_the_core_selects_read(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as session:
        ids = _seed(session, tenant.id)
    names = scoring._columns_needed(["title", "city"])
    where = scoring.LEADS.c.tenant_id == tenant.id
    with sessions() as session:
        fast = load_chunk(session, tenant.id, where, names, NOW)
        plain = _core_chunk(session, tenant.id, where, names, NOW)
    assert [str(i) for i in fast.ids] == [str(i) for i in plain.ids]  # both in id order
    assert fast.columns == plain.columns
    fifth = [str(i) for i in fast.ids].index(str(ids[5]))
    assert fast.columns["industry"][fifth] == "Manu\x1ffacturing"
    assert _events(fast) == _events(plain)
    assert {k: v.tolist() for k, v in fast.touch_counts.items()} == {
        k: v.tolist() for k, v in plain.touch_counts.items()
    }
    # 6 pool returns and 9 touchpoints of a type starting "returned" count as returns
    assert fast.returns.tolist() == plain.returns.tolist()
    assert int(fast.returns.sum()) == 6 + 9
    assert "returned" in fast.type_names and "returned.no_budget" in fast.type_names


def test_loader_keeps_only_events_of_the_chunk_leads(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as session:
        ids = sorted(_seed(session, tenant.id))
    where = and_(scoring.LEADS.c.tenant_id == tenant.id, scoring.LEADS.c.id.in_(ids[:3]))
    with sessions() as session:
        # events read for every lead of the tenant; only the three leads' events are kept
        chunk = load_chunk(
            session,
            tenant.id,
            where,
            ["status"],
            NOW,
            events_of=lambda column: column.is_not(None),
            ordered=False,
        )
    assert sorted(str(i) for i in chunk.ids) == [str(i) for i in ids[:3]]
    assert {lead for lead, _, _ in _events(chunk)} <= {str(i) for i in ids[:3]}
    assert len(_events(chunk)) == sum(int(c.sum()) for c in chunk.touch_counts.values()) + int(
        chunk.returns.sum()
    )


def test_lead_index_matches_full_ids_when_the_first_halves_collide() -> None:
    leads = np.array([(1, 5), (1, 2), (0, 9)], dtype=_ID)
    events = np.array([(1, 2, 0), (0, 9, 0), (1, 5, 0), (1, 7, 0), (4, 4, 0)], dtype=_EVENT)
    got = _lead_index(leads.tobytes(), events)
    assert got.tolist() == [1, 2, 0, -1, -1]
    unique = np.array([(3, 1), (1, 2)], dtype=_ID)
    assert _lead_index(unique.tobytes(), events).tolist() == [1, -1, -1, -1, -1]


def _stored(session: Session) -> dict[uuid.UUID, tuple[Any, ...]]:
    rows = session.execute(select(table_of(LeadScore))).all()
    return {
        r.lead_id: (
            r.attribute_points,
            r.attribute_percent,
            r.behaviour_points,
            r.pls_probability,
            r.ml_probability,
            r.grade,
            r.explanation,
        )
        for r in rows
    }


def test_chunked_rescore_equals_one_pass(sessions: sessionmaker[Session], tenant: Tenant) -> None:
    with sessions.begin() as session:
        ids = _seed(session, tenant.id, n=23)
        scoring.train(session, tenant.id, now=NOW)
    with sessions.begin() as session:
        one = scoring.rescore(session, tenant.id, as_of=NOW)
    with sessions() as session:
        whole = _stored(session)
    with sessions.begin() as session:
        chunked = scoring.rescore(session, tenant.id, as_of=NOW, chunk=4)
        by_ids = scoring.rescore(session, tenant.id, as_of=NOW, lead_ids=ids[:9] * 2, chunk=4)
    with sessions() as session:
        assert _stored(session) == whole
    assert (chunked.scored, chunked.grades) == (one.scored, one.grades) == (23, one.grades)
    assert (chunked.converted, chunked.disqualified) == (6, 5)
    assert by_ids.scored == 9
    converted = [whole[i] for i in ids[2::4]]
    assert {row[3] for row in converted} == {100}  # Odoo's won stage reads PLS 100


def test_cents_text_is_exact_decimal_text() -> None:
    values = np.array([-2050, 0, 5, 123456, -1], dtype=np.int64)
    assert cents_text(values) == ["-20.50", "0.00", "0.05", "1234.56", "-0.01"]
    assert cents_text(np.array([-277, 30, 10**9], dtype=np.int64), places=3) == [
        "-0.277",
        "0.030",
        "1000000.000",
    ]


def test_explanations_are_the_json_of_matched_rules_types_and_factors() -> None:
    got = explanations(
        [3, 1, 0, None, "m1"],
        ["target industry", 'say "hi"'],
        np.array([[True, True], [False, False]]),
        np.array([False, True]),
        (
            np.array([0, 0], dtype=np.int64),
            np.array([1, 0], dtype=np.int64),
            np.array([1500, -25], dtype=np.int64),
            ["form", "visit"],
        ),
        (
            np.array([1, 1], dtype=np.int64),
            np.array([0, 1], dtype=np.int64),
            np.array([32, -277], dtype=np.int64),
            ["industry = Retail", "email present"],
        ),
    )
    assert got[0] == (
        '{"v":[3,1,0,null,"m1"],"rules":["target industry","say \\"hi\\""],'
        '"types":{"visit":15.00,"form":-0.25}}'
    )
    assert json.loads(got[1]) == {
        "v": [3, 1, 0, None, "m1"],
        "rules": [],
        "types": {},
        "gate_failed": True,
        "ml": [["industry = Retail", 0.032], ["email present", -0.277]],
    }
