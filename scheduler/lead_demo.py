"""The demo's lead-management story, played through the same services the API, CLI and
scheduled tasks use (nothing is written around them).

Thirty days ago a manager set up three pools, a team and a routing ladder; leads arrived
and were routed; reps claimed, followed up, returned and converted leads; leads nobody
followed up went back to their pools when the recycle task ran today. Scores and RFM
segments are computed at the end. Deterministic: the same clock gives the same story.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import HubError
from core.model.entities import ENTITIES
from core.model.tables import Order, User, table_of
from core.sales import customer_value, documents
from core.sales.leads import ownership, pools, recycling, routing_run, scoring, touchpoints
from core.sales.leads.ownership import Actor
from core.store.direct import create_record, patch_record

DAY = timedelta(days=1)
ORDER = table_of(Order)
EAST = "华东线索池"
MAKERS = "制造业线索池"
GENERAL = "公海"
PEOPLE = (
    ("wang.min@demo.l2c", "王敏", "manager"),
    ("li.na@demo.l2c", "李娜", "rep"),
    ("zhang.wei@demo.l2c", "张伟", "rep"),
    ("chen.jing@demo.l2c", "陈静", "rep"),
)
COMPANIES = (
    ("苏州精工机械有限公司", "Manufacturing", "江苏省", "苏州市"),
    ("宁波海天塑机集团有限公司", "Manufacturing", "浙江省", "宁波市"),
    ("上海云启信息技术有限公司", "Technology", "上海市", "上海市"),
    ("杭州数澜科技有限公司", "Technology", "浙江省", "杭州市"),
    ("南京医联健康管理有限公司", "Healthcare", "江苏省", "南京市"),
    ("无锡新锐电子有限公司", "Manufacturing", "江苏省", "无锡市"),
    ("广州优品零售有限公司", "Retail", "广东省", "广州市"),
    ("深圳智联物流有限公司", "Logistics", "广东省", "深圳市"),
    ("成都天府软件有限公司", "Technology", "四川省", "成都市"),
    ("武汉光谷生物医药有限公司", "Healthcare", "湖北省", "武汉市"),
    ("青岛海润食品有限公司", "Food", "山东省", "青岛市"),
    ("合肥恒创新能源有限公司", "Manufacturing", "安徽省", "合肥市"),
)
NAMES = ("刘洋", "赵磊", "孙丽", "周杰", "吴静", "郑强", "冯雪", "陈晨", "杨帆", "黄蕾")
TITLES = ("采购总监", "IT总监", "总经理", "工程师", "采购专员", "CTO")
SOURCES = ("website", "trade_show", "referral", "webinar", "cold_call")
RULES = {
    "claim_budget": 4,
    "budget_period": "week",
    "wip_cap": 10,
    "cooldown_days": 7,
    "deadlines": {"followup_days": 7, "convert_days": 30},
    "by_grade": {"A": {"followup_days": 10, "convert_days": 45}},
    "remind_days_before": 2,
}


@dataclass
class LeadDemo:
    """What the story did, for the demo to print."""

    users: dict[str, uuid.UUID] = field(default_factory=dict)
    pools: dict[str, uuid.UUID] = field(default_factory=dict)
    leads: list[uuid.UUID] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    recycled: int = 0
    reminded: int = 0
    converted: int = 0
    rfm_accounts: int = 0
    rfm_as_of: date | None = None
    ml_reason: str | None = None


def _users(session: Session, tenant_id: uuid.UUID, story: LeadDemo) -> None:
    for email, name, role in PEOPLE:
        found = session.scalar(
            select(User.id).where(User.tenant_id == tenant_id, User.email == email)
        )
        if found is None:
            user = User(tenant_id=tenant_id, email=email, name=name, role=role)
            session.add(user)
            session.flush()
            found = user.id
        story.users[name] = found


def _setup(session: Session, tenant_id: uuid.UUID, story: LeadDemo) -> None:
    for name in (EAST, MAKERS, GENERAL):
        pool = pools.pool_by_name(session, tenant_id, name) or pools.create_pool(
            session, tenant_id, name, rules=RULES, description=f"{name}（演示）"
        )
        story.pools[name] = pool.id
    reps = [story.users[n] for n in ("李娜", "张伟", "陈静")]
    for pool_id in story.pools.values():
        for rep in reps:
            pools.add_member(session, tenant_id, pool_id, user_id=rep)
    documents.put(
        session,
        tenant_id,
        "teams",
        [
            {
                "id": "east",
                "method": "round_robin",
                "members": [
                    {"user_id": str(reps[0]), "capacity": 3},
                    {"user_id": str(reps[1]), "capacity": 3},
                ],
                "overflow_pool": EAST,
            }
        ],
    )
    documents.put(
        session,
        tenant_id,
        "routing",
        {
            "rules": [
                {
                    "name": "manufacturing",
                    "conditions": [{"op": "eq", "attribute": "industry", "value": "Manufacturing"}],
                    "target": {"kind": "pool", "id": MAKERS},
                },
                {
                    "name": "east china",
                    "conditions": [
                        {
                            "op": "in",
                            "attribute": "province",
                            "values": ["上海市", "江苏省", "浙江省"],
                        }
                    ],
                    "target": {"kind": "team", "id": "east"},
                },
                {"name": "everything else", "target": {"kind": "pool", "id": GENERAL}},
            ]
        },
    )


def _leads(
    session: Session, tenant_id: uuid.UUID, story: LeadDemo, rng: random.Random, at: datetime
) -> None:
    spec = ENTITIES["lead"]
    for n in range(36):
        company, industry, province, city = COMPANIES[n % len(COMPANIES)]
        person = NAMES[n % len(NAMES)]
        values: dict[str, Any] = {
            "name": person,
            "company": company if n < len(COMPANIES) else f"{company[:-6]}{n}号分公司",
            "title": rng.choice(TITLES),
            "email": f"lead{n}@{['jinggong', 'haitian', 'yunqi', 'shulan'][n % 4]}.example.cn",
            "mobile": f"+86 139 {1000 + n:04d} {rng.randint(1000, 9999)}",
            "industry": industry,
            "province": province,
            "city": city,
            "country": "CN",
            "source": rng.choice(SOURCES),
            "status": "new",
        }
        record = create_record(session, tenant_id, spec, values, now=at + n * timedelta(minutes=7))
        story.leads.append(uuid.UUID(str(record["id"])))
    routing_run.route(session, tenant_id, now=at + DAY)


def _behaviour(
    session: Session, tenant_id: uuid.UUID, story: LeadDemo, rng: random.Random, start: datetime
) -> None:
    kinds = ("email_open", "email_click", "webinar", "download", "visit", "form")
    items = []
    for lead in story.leads:
        for k in range(rng.randint(0, 7)):
            items.append(
                touchpoints.TouchpointIn(
                    lead_id=lead,
                    type=rng.choice(kinds),
                    occurred_at=start + timedelta(hours=rng.randint(1, 24 * 28)),
                    external_id=f"demo-{lead.hex}-{k}",
                    campaign="2026 智能制造峰会" if k % 3 == 0 else None,
                )
            )
    touchpoints.record(session, tenant_id, items, source="marketing-demo", now=start + 29 * DAY)


def _play(session: Session, tenant_id: uuid.UUID, story: LeadDemo, start: datetime) -> None:
    """Reps at work over the month; refusals are part of the story."""
    li, zhang, chen = (story.users[n] for n in ("李娜", "张伟", "陈静"))
    manager = story.users["王敏"]
    unowned = [
        lead
        for lead in story.leads
        if ownership.get_assignment(session, tenant_id, lead).owner_id is None
    ]
    day = start + 2 * DAY

    def attempt(what: str, action: Any) -> None:
        try:
            with session.begin_nested():
                action()
        except HubError as refused:
            story.refused.append(f"{what}: {refused.message}")

    def in_pool(name: str) -> list[uuid.UUID]:
        pool_id = story.pools[name]
        return [
            lead
            for lead in unowned
            if ownership.get_assignment(session, tenant_id, lead).pool_id == pool_id
        ]

    plan = [(li, MAKERS, 3), (chen, EAST, 3), (zhang, GENERAL, 5)]  # 张伟's 5th: over budget
    for rep, pool_name, count in plan:
        for n, lead in enumerate(in_pool(pool_name)[:count]):
            at = day + n * timedelta(hours=3)
            attempt(
                "claim",
                lambda lead=lead, rep=rep, at=at: ownership.claim(
                    session, tenant_id, lead, rep, Actor.user(rep, "demo"), now=at
                ),
            )
    owned = [
        lead for lead in story.leads if ownership.get_assignment(session, tenant_id, lead).owner_id
    ]
    # follow-up calls keep some leads alive
    calls = [
        touchpoints.TouchpointIn(lead_id=lead, type="call", occurred_at=start + 24 * DAY)
        for lead in owned[::3]
    ]
    touchpoints.record(session, tenant_id, calls, source="demo-phone", now=start + 24 * DAY)
    # two returns with reasons, then the same rep tries to re-claim within the cooldown
    for lead, reason in zip(owned[1:3], ("no_budget", "wrong_contact"), strict=False):
        owner = ownership.get_assignment(session, tenant_id, lead).owner_id
        assert owner is not None
        ownership.return_lead(
            session,
            tenant_id,
            lead,
            reason,
            Actor.user(owner, "demo"),
            note="客户今年无预算" if reason == "no_budget" else "联系人已离职",
            now=start + 9 * DAY,
        )
        attempt(
            "re-claim in cooldown",
            lambda lead=lead, owner=owner: ownership.claim(
                session, tenant_id, lead, owner, Actor.user(owner, "demo"), now=start + 10 * DAY
            ),
        )
    # the manager hands a lead over
    if len(owned) > 4:
        ownership.assign(
            session,
            tenant_id,
            [owned[4]],
            chen,
            Actor.user(manager, "demo"),
            note="陈静负责该区域",
            now=start + 12 * DAY,
        )
    # history for scoring: some earlier leads were won or lost
    spec = ENTITIES["lead"]
    for n, lead in enumerate(owned[5:9]):
        status = "converted" if n % 2 == 0 else "disqualified"
        patch_record(session, tenant_id, spec, lead, {"status": status}, now=start + 15 * DAY)
        if status == "converted":
            ownership.close(
                session,
                tenant_id,
                lead,
                Actor.system("demo"),
                action="convert",
                now=start + 15 * DAY,
            )
            story.converted += 1


def seed(session: Session, tenant_id: uuid.UUID, *, now: datetime | None = None) -> LeadDemo:
    """Play the story once (a second call on the same tenant adds nothing new)."""
    now = now or utcnow()
    start = now - 30 * DAY
    story = LeadDemo()
    _users(session, tenant_id, story)
    if pools.pool_by_name(session, tenant_id, EAST) is not None:
        return story
    rng = random.Random(5)  # noqa: S311 - demo data, not security
    _setup(session, tenant_id, story)
    _leads(session, tenant_id, story, rng, start)
    _behaviour(session, tenant_id, story, rng, start)
    _play(session, tenant_id, story, start)
    story.reminded = recycling.remind_due(session, tenant_id, now=now)
    story.recycled = len(recycling.recycle_due(session, tenant_id, now=now))
    trained = scoring.train(session, tenant_id, now=now)
    story.ml_reason = trained.ml_reason
    scoring.rescore(session, tenant_id, as_of=now)
    # the sample orders are historic: RFM as of their last day shows real segments
    last_order = session.scalar(
        select(func.max(ORDER.c.order_date)).where(ORDER.c.tenant_id == tenant_id)
    )
    story.rfm_as_of = last_order or now.date()
    report = customer_value.recompute(session, tenant_id, as_of=story.rfm_as_of)
    story.rfm_accounts = report.accounts_scored
    return story
