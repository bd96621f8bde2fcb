"""Duplicate detection over the store on both databases: one lead against leads,
accounts and contacts, and the batch scan of open leads. Scores are dedup's weights
(uscc 100, email 90, phone 80, company name 70, capped at 100)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.errors import DataError, NotFoundError
from core.model.entities import ENTITIES
from core.model.tables import Tenant
from core.sales.dedup import MatchReason
from core.sales.leads.duplicates import find_duplicates, scan
from core.store.direct import create_record

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
USCC_A = "91310000132200821H"
USCC_B = "91110000100000000R"


def make(
    sessions: sessionmaker[Session], tenant: Tenant | uuid.UUID, kind: str, **values: Any
) -> uuid.UUID:
    tenant_id = tenant if isinstance(tenant, uuid.UUID) else tenant.id
    with sessions.begin() as s:
        record = create_record(s, tenant_id, ENTITIES[kind], values, now=T0)
        return uuid.UUID(str(record["id"]))


def other_tenant(sessions: sessionmaker[Session]) -> uuid.UUID:
    with sessions.begin() as s:
        other = Tenant(slug="rival", name="Rival")
        s.add(other)
        s.flush()
        return other.id


def test_a_lead_finds_leads_accounts_and_contacts_by_each_signal(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    lead = make(
        sessions,
        tenant,
        "lead",
        name="张伟",
        company="上海汽车集团有限公司",
        uscc=USCC_A,
        email="zhang.wei@saic.cn",
        mobile="+86 138 0013 8000",
    )
    # same e-mail, other company: 90
    same_mail = make(
        sessions, tenant, "lead", name="Wei Zhang", company="Foo", email="zhang.wei@saic.cn"
    )
    # same USCC and (group-marker) name: 100 + 70, capped at 100
    account = make(sessions, tenant, "account", name="上海汽车(集团)有限公司", uscc=USCC_A)
    # mobile written with dashes and a trunk prefix: 80
    contact = make(sessions, tenant, "contact", name="张伟", phone="0086-138-0013-8000")
    # only the name, but the USCCs differ: two legal persons, 0
    make(sessions, tenant, "account", name="上海汽车集团", uscc=USCC_B)
    make(sessions, tenant, "lead", name="无关", company="北京某某科技有限公司")

    with sessions() as s:
        found = find_duplicates(s, tenant.id, lead)

    assert [(m.entity, m.id, m.score) for m in found] == [
        ("account", account, 100),
        ("lead", same_mail, 90),
        ("contact", contact, 80),
    ]
    assert found[0].name == "上海汽车(集团)有限公司"
    assert found[0].reasons == (
        MatchReason("uscc", USCC_A, 100),
        MatchReason("company_name", "上海汽车", 70),
    )
    assert found[1].name == "Wei Zhang · Foo"
    assert found[1].reasons == (MatchReason("email", "zhang.wei@saic.cn", 90),)
    assert found[2].reasons == (MatchReason("phone", "+8613800138000", 80),)


def test_company_names_match_across_legal_forms_and_case(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    lead = make(sessions, tenant, "lead", name="A", company="ACME Widgets Co., Ltd.")
    twin = make(sessions, tenant, "lead", name="B", company="Acme Widgets Limited")
    account = make(sessions, tenant, "account", name="acme widgets (Group) Inc.")
    make(sessions, tenant, "lead", name="C", company="Acme Gadgets Ltd.")

    with sessions() as s:
        found = find_duplicates(s, tenant.id, lead)

    assert [(m.entity, m.id, m.score) for m in found] == [
        ("account", account, 70),
        ("lead", twin, 70),
    ]
    assert found[1].reasons == (MatchReason("company_name", "acmewidgets", 70),)


def test_min_score_drops_single_weak_signals(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    lead = make(
        sessions, tenant, "lead", name="A", company="华为技术有限公司", phone="0755-28780808"
    )
    by_name = make(sessions, tenant, "lead", name="B", company="华为技术")
    both = make(
        sessions, tenant, "lead", name="C", company="华为技术有限公司", mobile="(0755) 2878 0808"
    )

    with sessions() as s:
        assert [m.id for m in find_duplicates(s, tenant.id, lead)] == [both, by_name]
        strict = find_duplicates(s, tenant.id, lead, min_score=100)

    assert [(m.id, m.score) for m in strict] == [(both, 100)]  # 80 + 70 capped


def test_records_of_another_tenant_are_never_candidates(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    rival = other_tenant(sessions)
    lead = make(sessions, tenant, "lead", name="A", email="a@x.cn", uscc=USCC_A)
    make(sessions, rival, "lead", name="A", email="a@x.cn", uscc=USCC_A)
    make(sessions, rival, "account", name="X", uscc=USCC_A)

    with sessions() as s:
        assert find_duplicates(s, tenant.id, lead) == []
        with pytest.raises(NotFoundError):
            find_duplicates(s, rival, lead)


def test_min_score_out_of_range_names_the_field(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    lead = make(sessions, tenant, "lead", name="A")
    with sessions() as s, pytest.raises(DataError) as error:
        find_duplicates(s, tenant.id, lead, min_score=0)
    assert error.value.field == "min_score"


def test_scan_groups_open_leads_connected_by_pairs(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    a = make(sessions, tenant, "lead", name="A", email="li@a.cn")
    b = make(sessions, tenant, "lead", name="B", email="LI@a.cn", mobile="13912345678")
    c = make(sessions, tenant, "lead", name="C", phone="+86 139-1234-5678")
    d = make(sessions, tenant, "lead", name="D", company="腾讯科技(深圳)有限公司", uscc=USCC_A)
    e = make(sessions, tenant, "lead", name="E", company="腾讯科技（深圳）有限公司", uscc=USCC_A)
    make(sessions, tenant, "lead", name="F", company="腾讯科技(北京)有限公司")
    make(sessions, tenant, "lead", name="G", email="li@a.cn", status="converted")
    make(sessions, tenant, "lead", name="H", company="某某", status="disqualified")

    with sessions() as s:
        groups = scan(s, tenant.id)
        strict = scan(s, tenant.id, min_score=95)
        first = scan(s, tenant.id, limit=1)

    assert [[m.id for m in g.members] for g in groups] == [[d, e], [a, b, c]]
    assert groups[0].score == 100  # USCC 100 + name 70, capped
    assert [(p.a, p.b, p.score) for p in groups[1].pairs] == [(a, b, 90), (b, c, 80)]
    assert groups[1].score == 90
    assert [m.name for m in groups[0].members] == [
        "D · 腾讯科技(深圳)有限公司",
        "E · 腾讯科技（深圳）有限公司",
    ]
    assert [[m.id for m in g.members] for g in strict] == [[d, e]]
    assert [[m.id for m in g.members] for g in first] == [[d, e]]


def test_scan_of_a_tenant_without_duplicates_is_empty(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    make(sessions, tenant, "lead", name="A", email="a@x.cn")
    make(sessions, tenant, "lead", name="B", email="b@x.cn")
    with sessions() as s:
        assert scan(s, tenant.id) == []
