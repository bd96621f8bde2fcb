"""Scoring over the store: the batch path equals the per-lead reference; train, rescore, explain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import Lead, LeadOwnershipEvent, LeadScore, Tenant, Touchpoint, table_of
from core.sales import attribute_score, batch, behaviour, pls
from core.sales.behaviour import BehaviourModel, EventRule
from core.sales.documents import DEFAULT_ICP
from core.sales.leads import scoring

NOW = datetime(2026, 3, 1, tzinfo=UTC)
D = Decimal

MODEL = BehaviourModel(
    rules={
        "email_open": EventRule(points=D(1), half_life_days=D(30), group="email"),
        "email_click": EventRule(points=D("2.5"), half_life_days=D(7), group="email"),
        "webinar": EventRule(points=D(10), half_life_days=D(60)),
        "visit": EventRule(points=D("0.3"), half_life_days=D(14), group="web"),
        "returned": EventRule(points=D(-20)),
        "returned.no_budget": EventRule(points=D("-7.5"), half_life_days=D(10)),
    },
    group_caps={"email": D(4), "web": D("1.5")},
    window_days=365,
)
TYPES = [
    "email_open",
    "email_click",
    "webinar",
    "visit",
    "returned.no_budget",
    "returned.x",
    "other",
]

events_strategy = st.lists(
    st.tuples(
        st.integers(0, 4),  # lead
        st.sampled_from(TYPES),
        st.one_of(
            st.integers(-5 * 86_400_000_000, 400 * 86_400_000_000),
            st.sampled_from([0, 30 * 86_400_000_000, 365 * 86_400_000_000, 14 * 86_400_000_000]),
        ),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(events_strategy)
def test_batch_behaviour_equals_the_per_lead_reference(events: list[tuple[int, str, int]]) -> None:
    n = 5
    got = batch.behaviour(
        MODEL,
        np.array([e[0] for e in events], dtype=np.int64),
        [e[1] for e in events],
        np.array([e[2] for e in events], dtype=np.int64),
        n,
    )
    for lead in range(n):
        mine = [
            behaviour.Touchpoint(t, NOW - timedelta(microseconds=age))
            for i, t, age in events
            if i == lead
        ]
        reference = behaviour.points(MODEL, mine, as_of=NOW)
        assert Decimal(int(got.total_cents[lead])).scaleb(-2) == reference.total
        by_type = {
            t: Decimal(int(c)).scaleb(-2)
            for i, t, c in zip(
                got.pair_lead.tolist(), got.pair_type, got.pair_cents.tolist(), strict=True
            )
            if i == lead
        }
        assert by_type == dict(reference.by_type)


values = st.one_of(
    st.none(),
    st.sampled_from(
        ["", "  ", "Manufacturing", " manufacturing ", "Retail", "CEO", "总经理", "competitor", "x"]
    ),
)
lead_strategy = st.fixed_dictionaries(
    dict.fromkeys(("uscc", "company", "email", "mobile", "industry", "title", "source"), values)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(lead_strategy, min_size=1, max_size=12))
def test_batch_attribute_score_equals_the_reference(leads: list[dict[str, str | None]]) -> None:
    profile = DEFAULT_ICP.model_copy(
        update={
            "rules": (
                *DEFAULT_ICP.rules,
                attribute_score.IcpRule(
                    field="company", op="contains", value="manu", points=3, label="manu"
                ),
                attribute_score.IcpRule(
                    field="email", op="present", gate=True, label="gate: e-mail"
                ),
            )
        }
    )
    columns = {f: [lead[f] for lead in leads] for f in leads[0]}
    got = batch.attribute(profile, columns, len(leads))
    for i, lead in enumerate(leads):
        reference = attribute_score.score(profile, lead)
        assert int(got.points[i]) == reference.points
        assert Decimal(int(got.percent_cents[i])).scaleb(-2) == reference.percent
        assert got.matched[i].tolist() == [r.matched for r in reference.explanation]


pls_lead = st.fixed_dictionaries(
    {
        "email_state": st.sampled_from(["correct", False]),
        "country": st.sampled_from(["CN", "DE", None]),
        "source": st.sampled_from(["web", "fair", "ads", None]),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(pls_lead, st.booleans()), max_size=30),
    st.lists(pls_lead, min_size=1, max_size=10),
)
def test_batch_pls_equals_the_reference(
    closed: list[tuple[dict[str, object], bool]], open_leads: list[dict[str, object]]
) -> None:
    stage = pls.Stage(1, 1)
    table = pls.rebuild(
        [pls.Lead(stage, values=v, state="won" if won else "lost") for v, won in closed],  # type: ignore[arg-type]
        stages=(stage,),
    )
    fields = ("email_state", "country", "source")
    columns = {f: [lead[f] for lead in open_leads] for f in fields}
    got = batch.pls(table, columns, len(open_leads))  # type: ignore[arg-type]
    # the reference multiplies in the order of the lead's values: give it the columns' order
    # (hypothesis may build the dicts with their keys in another order)
    ordered = [{f: lead[f] for f in fields} for lead in open_leads]
    assert got == [pls.probability(table, pls.Lead(stage, values=lead)) for lead in ordered]  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- store
def _seed(session: Session, tenant_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    ideal, weak = uuid.uuid4(), uuid.uuid4()
    leads = table_of(Lead)
    session.execute(
        leads.insert(),
        {
            "id": ideal,
            "tenant_id": tenant_id,
            "name": "王总",
            "company": "广州精工有限公司",
            "uscc": "91440101MA59XXXX1X",
            "email": "wang@jinggong.cn",
            "mobile": "+8613800138000",
            "industry": "Manufacturing",
            "title": "总经理",
            "source": "website",
            "country": "CN",
            "province": "广东",
            "status": "new",
        },
    )
    session.execute(
        leads.insert(),
        {
            "id": weak,
            "tenant_id": tenant_id,
            "name": "李",
            "industry": "Finance",
            "source": "competitor",
            "status": "new",
        },
    )
    session.execute(
        table_of(Touchpoint).insert(),
        [
            # a webinar exactly one half-life (60 days) ago: 10 × 0.5 = 5.00
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "lead_id": ideal,
                "type": "webinar",
                "occurred_at": NOW - timedelta(days=60),
                "source": "t",
                "external_id": "1",
            },
            # a form today: 15.00
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "lead_id": ideal,
                "type": "form",
                "occurred_at": NOW,
                "source": "t",
                "external_id": "2",
            },
            # after as_of: ignored
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "lead_id": weak,
                "type": "form",
                "occurred_at": NOW + timedelta(days=1),
                "source": "t",
                "external_id": "3",
            },
        ],
    )
    session.execute(
        table_of(LeadOwnershipEvent).insert(),
        # a return to the pool: returned.no_budget falls back to `returned`, -20, no decay
        [
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "lead_id": weak,
                "action": "return",
                "via": "api",
                "actor": "u",
                "reason_code": "no_budget",
                "at": NOW - timedelta(days=3),
            }
        ],
    )
    return ideal, weak


def test_rescore_stores_scores_grades_and_why_no_ml(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as session:
        ideal, weak = _seed(session, tenant.id)
    with sessions.begin() as session:
        trained = scoring.train(session, tenant.id, now=NOW)
        report = scoring.rescore(session, tenant.id, as_of=NOW)
    assert trained.ml_reason == "0 closed leads, need 200"
    assert (report.scored, report.converted, report.disqualified) == (2, 0, 0)
    with sessions() as session:
        rows = {r.lead_id: r for r in session.execute(select(table_of(LeadScore))).all()}
    # every positive ICP rule matches: 100 of 100 points; 5 + 15 = 20 behaviour points
    assert (rows[ideal].attribute_points, rows[ideal].attribute_percent) == (100, D("100.00"))
    assert rows[ideal].behaviour_points == D("20.00")
    assert rows[ideal].grade == "A2"  # fit ≥ 70 %, engagement ≥ 20
    # only the competitor rule matches: -50 points, 0 %; the return costs 20
    assert (rows[weak].attribute_points, rows[weak].attribute_percent) == (-50, D("0.00"))
    assert rows[weak].behaviour_points == D("-20.00")
    assert rows[weak].grade == "C3"
    assert rows[ideal].pls_probability is None  # no closed leads: PLS cannot score
    assert rows[ideal].ml_probability is None
    assert rows[ideal].explanation["types"] == {"form": 15.0, "webinar": 5.0}
    with sessions() as session:
        why = scoring.explain(session, tenant.id, weak)
    assert why["ml"] == {"available": False, "reason": "0 closed leads, need 200"}
    assert why["behaviour"]["points"] == "-20.00"
    assert why["changed_since"] == []


def test_rescore_twice_updates_in_place(sessions: sessionmaker[Session], tenant: Tenant) -> None:
    with sessions.begin() as session:
        ideal, _ = _seed(session, tenant.id)
    with sessions.begin() as session:
        scoring.rescore(session, tenant.id, as_of=NOW)
    with sessions.begin() as session:
        # 60 days later the form has decayed by half a half-life... 15 × 0.5^(60/90)
        scoring.rescore(session, tenant.id, as_of=NOW + timedelta(days=60), lead_ids=[ideal])
    with sessions() as session:
        rows = session.execute(select(table_of(LeadScore))).all()
    assert len(rows) == 2
    by_id = {r.lead_id: r for r in rows}
    # webinar 10 × 0.25 = 2.50; form 15 × 0.5^(2/3) = 9.449...; total 11.95
    assert by_id[ideal].behaviour_points == D("11.95")
