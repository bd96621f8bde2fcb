"""Lead scoring at scale: attribute + behaviour + PLS + ML for every lead, in PostgreSQL.

Seeds a scratch database (COPY, not timed) with N leads of Chinese B2B attributes, ~5
touchpoints per lead, returns to a pool, and closed leads to train on; then times the WHOLE
PROCESS of a fresh Python process that trains both models, rescores every lead and commits.
Also times the per-lead reference functions (an Odoo-style per-record loop) on a 20,000-lead
sample in this process, for the ratio. Target: 1,000,000 leads < 60 s on this machine.

    .venv/bin/python bench/lead_scoring.py [--leads 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.store.engine import make_engine, make_session_factory  # noqa: E402
from core.store.migrate import upgrade  # noqa: E402

ADMIN_URL = os.environ.get(
    "L2C_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "l2c_bench_scoring"
TARGET_SECONDS = 60.0
AS_OF = datetime(2026, 6, 30, tzinfo=UTC)
SAMPLE = 20_000

INDUSTRIES = [
    "Manufacturing",
    "Technology",
    "Retail",
    "Healthcare",
    "Finance",
    "Logistics",
    "Construction",
    "Education",
    "Energy",
    "Agriculture",
]
SOURCES = ["website", "trade_fair", "referral", "wechat", "baidu_ads", "cold_call", "competitor"]
PROVINCES = ["广东", "江苏", "浙江", "山东", "上海", "北京", "四川", "湖北", "福建", "河南"]
TITLES = ["总经理", "采购总监", "IT总监", "董事长", "CEO", "CTO", "采购专员", "工程师", "销售经理"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
TYPES = ["email_open", "email_open", "email_click", "visit", "visit", "download", "webinar", "form"]
REASONS = ["unreachable", "no_budget", "no_need", "not_decision_maker"]


def database_url() -> str:
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{DATABASE}"


def seed(leads: int) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    url = database_url().replace("postgresql://", "postgresql+psycopg://")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    rnd = random.Random(7)
    tenant = uuid.uuid4()
    now = datetime.now(UTC)
    with psycopg.connect(database_url()) as db:
        db.execute(
            "INSERT INTO tenant (id, slug, name, created_at) VALUES (%s, %s, %s, %s)",
            (tenant, "bench", "Bench", now),
        )
        _copy_leads(db, tenant, leads, rnd, now)
        db.commit()
    with psycopg.connect(database_url(), autocommit=True) as db:
        db.execute("VACUUM ANALYZE")  # planner statistics, as autovacuum would have by now
    return url


def _copy_leads(
    db: psycopg.Connection, tenant: uuid.UUID, n: int, rnd: random.Random, now: datetime
) -> None:
    ids = [uuid.uuid4() for _ in range(n)]
    with (
        db.cursor() as cur,
        cur.copy(
            "COPY lead (id, tenant_id, name, company, title, email, phone, mobile, uscc, industry,"
            " source, status, country, province, created_at, updated_at) FROM STDIN"
        ) as copy,
    ):
        for i, lead_id in enumerate(ids):
            industry = rnd.choice(INDUSTRIES)
            good = industry in ("Manufacturing", "Technology")
            roll = rnd.random()
            status = "new"
            if roll < 0.12:
                status = "converted" if rnd.random() < (0.45 if good else 0.2) else "disqualified"
            elif roll < 0.3:
                status = "working"
            company = (
                f"{rnd.choice(PROVINCES)}{rnd.choice(SURNAMES)}氏{industry[:4]}有限公司"
                if rnd.random() < 0.85
                else None
            )
            copy.write_row(
                (
                    lead_id,
                    tenant,
                    f"{rnd.choice(SURNAMES)}{i % 97}",
                    company,
                    rnd.choice(TITLES) if rnd.random() < 0.7 else None,
                    f"u{i}@corp{i % 5000}.cn" if rnd.random() < 0.6 else None,
                    f"+86-20-{rnd.randint(10000000, 99999999)}" if rnd.random() < 0.3 else None,
                    f"+8613{rnd.randint(100000000, 999999999)}" if rnd.random() < 0.7 else None,
                    f"91{rnd.randint(10**15, 10**16 - 1)}" if rnd.random() < 0.5 else None,
                    industry,
                    rnd.choice(SOURCES),
                    status,
                    "CN",
                    rnd.choice(PROVINCES),
                    now,
                    now,
                )
            )
    with (
        db.cursor() as cur,
        cur.copy(
            "COPY touchpoint (id, tenant_id, lead_id, type, occurred_at, source, created_at)"
            " FROM STDIN"
        ) as copy,
    ):
        for lead_id in ids:
            for _ in range(rnd.randint(0, 10)):
                at = AS_OF - timedelta(seconds=rnd.randint(0, 400 * 86400))
                copy.write_row((uuid.uuid4(), tenant, lead_id, rnd.choice(TYPES), at, "bench", now))
    with (
        db.cursor() as cur,
        cur.copy(
            "COPY lead_ownership_event"
            " (id, tenant_id, lead_id, action, via, actor, reason_code, at) FROM STDIN"
        ) as copy,
    ):
        for lead_id in rnd.sample(ids, n // 20):
            at = AS_OF - timedelta(days=rnd.randint(0, 60))
            copy.write_row(
                (uuid.uuid4(), tenant, lead_id, "return", "api", "bench", rnd.choice(REASONS), at)
            )


SCORE = f"""
import sys, uuid
from datetime import datetime
from sqlalchemy import text
from core.store.engine import make_engine, make_session_factory
from core.sales.leads import scoring
engine = make_engine(sys.argv[1])
with make_session_factory(engine).begin() as session:
    tenant = session.execute(text("SELECT id FROM tenant WHERE slug = 'bench'")).scalar_one()
    trained = scoring.train(session, tenant, now=datetime.fromisoformat("{AS_OF.isoformat()}"))
    report = scoring.rescore(session, tenant, as_of=datetime.fromisoformat("{AS_OF.isoformat()}"))
print(trained.sample_size, trained.positives, trained.metrics, report.scored, report.grades)
"""


def whole_process(url: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", SCORE, url], cwd=ROOT, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"scoring failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout.strip()


def reference_rate(url: str) -> float:
    """Leads/s of the per-lead reference functions on a sample (data loaded beforehand)."""
    from sqlalchemy import and_, text

    from core.sales import attribute_score, behaviour, ml, pls
    from core.sales.leads import scoring
    from core.sales.leads.scoring_parts import PLS_STAGE, active_models, pls_values

    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        tenant = session.execute(text("SELECT id FROM tenant WHERE slug = 'bench'")).scalar_one()
        models = active_models(session, tenant)
        names = scoring._columns_needed([r.field for r in models.icp.rules])
        bound = session.execute(
            text("SELECT id FROM lead ORDER BY id OFFSET :n LIMIT 1"), {"n": SAMPLE - 1}
        ).scalar_one()
        where = and_(scoring.LEADS.c.tenant_id == tenant, scoring.LEADS.c.id <= bound)
        chunk = scoring.load_chunk(session, tenant, where, names, AS_OF)
    engine.dispose()
    per_lead: list[list[behaviour.Touchpoint]] = [[] for _ in range(chunk.size)]
    for i, kind, age in zip(
        chunk.event_lead.tolist(), chunk.event_type, chunk.event_age_us.tolist(), strict=True
    ):
        per_lead[i].append(behaviour.Touchpoint(kind, AS_OF - timedelta(microseconds=age)))
    values = pls_values(chunk.columns)
    started = time.perf_counter()
    for i in range(chunk.size):
        attrs = {name: column[i] for name, column in chunk.columns.items()}
        fit = attribute_score.score(models.icp, attrs)
        engaged = behaviour.points(models.behaviour, per_lead[i], as_of=AS_OF)
        attribute_score.grade(fit.percent, engaged.total, models.grades)
        if models.pls is not None:
            pls.probability(
                models.pls, pls.Lead(PLS_STAGE, values={k: v[i] for k, v in values.items()})
            )
        if models.ml is not None:
            one = ml.Inputs(
                {k: [v[i]] for k, v in chunk.columns.items()},
                {k: v[i : i + 1] for k, v in chunk.touch_counts.items()},
                chunk.returns[i : i + 1],
            )
            x = ml.matrix(models.ml, one)
            ml.predict(models.ml, x)
            ml.top_factors(models.ml, x, 3)
    return chunk.size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"seeding {args.leads:,} leads (COPY, not timed) ...", flush=True)
    t0 = time.perf_counter()
    url = seed(args.leads)
    print(f"  seeded in {time.perf_counter() - t0:.1f} s", flush=True)
    seconds, output = whole_process(url)
    rate = args.leads / seconds
    print(f"  run output: {output}")
    print(f"whole process (train + rescore + commit): {args.leads:,} leads in {seconds:.1f} s")
    print(
        f"  {rate:,.0f} leads/s; target {TARGET_SECONDS:.0f} s for 1,000,000 "
        f"(ratio {seconds / TARGET_SECONDS * 1_000_000 / args.leads:.2f} of the target, scaled)"
    )
    reference = reference_rate(url)
    print(
        f"per-lead reference (Odoo-style per-record loop): {reference:,.0f} leads/s "
        f"on {SAMPLE:,} leads, compute only; batch path whole process is "
        f"{rate / reference:.1f}x"
    )


if __name__ == "__main__":
    main()
