"""Converting leads on both databases: attach to matching account and contact or create
them, the opportunity, touchpoints carried for attribution, one conversion per lead."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConflictError, DataError
from core.model.entities import ENTITIES
from core.model.tables import (
    Account,
    Contact,
    Lead,
    LeadAssignment,
    LeadConversion,
    LeadOwnershipEvent,
    Opportunity,
    Tenant,
    Touchpoint,
    User,
    table_of,
)
from core.sales.leads.conversion import ConversionResult, convert_lead
from core.sales.leads.ownership import Actor
from core.store.direct import create_record

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
USCC_A = "91310000132200821H"
USCC_B = "91110000100000000R"


def make(
    sessions: sessionmaker[Session], tenant_id: uuid.UUID, kind: str, **values: Any
) -> uuid.UUID:
    with sessions.begin() as s:
        record = create_record(s, tenant_id, ENTITIES[kind], values, now=T0)
        return uuid.UUID(str(record["id"]))


def rep(sessions: sessionmaker[Session], tenant: Tenant) -> uuid.UUID:
    with sessions.begin() as s:
        row = User(tenant_id=tenant.id, email="li@acme.cn", name="Li")
        s.add(row)
        s.flush()
        return row.id


def convert(
    sessions: sessionmaker[Session], tenant_id: uuid.UUID, lead: uuid.UUID, **options: Any
) -> ConversionResult:
    with sessions.begin() as s:
        return convert_lead(s, tenant_id, lead, Actor.system("api"), now=T1, **options)


def count(sessions: sessionmaker[Session], table: type[Any]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_a_lead_without_matches_creates_account_contact_and_opportunity(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    owner = rep(sessions, tenant)
    lead = make(
        sessions,
        tenant.id,
        "lead",
        name="张伟",
        company="上海汽车集团有限公司",
        title="采购总监",
        email="zw@saic.cn",
        mobile="13800138000",
        uscc=USCC_A,
        industry="automotive",
        country="CN",
        province="上海",
        city="上海",
        owner_id=owner,
    )

    result = convert(sessions, tenant.id, lead)

    assert (result.account_match, result.contact_match) == ("created", "created")
    assert (result.account_created, result.contact_created) == (True, True)
    with sessions() as s:
        account = s.get(Account, result.account_id)
        contact = s.get(Contact, result.contact_id)
        deal = s.get(Opportunity, result.opportunity_id)
        converted = s.get(Lead, lead)
        row = s.get(LeadConversion, lead)
        assignment = s.get(LeadAssignment, lead)
        actions = s.scalars(select(LeadOwnershipEvent.action).order_by(LeadOwnershipEvent.at)).all()
    assert account is not None and contact is not None and deal is not None
    assert (account.name, account.uscc, account.industry, account.lifecycle) == (
        "上海汽车集团有限公司",
        USCC_A,
        "automotive",
        "prospect",
    )
    assert (account.country, account.province, account.city, account.owner_id) == (
        "CN",
        "上海",
        "上海",
        owner,
    )
    assert (contact.name, contact.title, contact.email, contact.mobile) == (
        "张伟",
        "采购总监",
        "zw@saic.cn",
        "13800138000",
    )
    assert (contact.account_id, contact.owner_id) == (account.id, owner)
    assert (deal.name, deal.account_id, deal.owner_id, deal.status, deal.stage) == (
        "上海汽车集团有限公司 — 张伟",
        account.id,
        owner,
        "open",
        None,
    )
    assert converted is not None and converted.status == "converted"
    assert row is not None
    assert (row.account_id, row.contact_id, row.opportunity_id) == (
        account.id,
        contact.id,
        deal.id,
    )
    assert (row.account_created, row.contact_created, row.converted_by) == (True, True, "system")
    assert assignment is None
    assert actions == ["assign", "convert"]


def test_a_lead_attaches_to_the_account_with_its_uscc_and_the_contact_with_its_email(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    account = make(sessions, tenant.id, "account", name="SAIC Motor", uscc=USCC_A)
    make(sessions, tenant.id, "account", name="上海汽车集团有限公司")  # name only: USCC wins
    make(sessions, tenant.id, "contact", name="Other", email="x@saic.cn", account_id=account)
    contact = make(
        sessions, tenant.id, "contact", name="Wei", email="zw@saic.cn", account_id=account
    )
    lead = make(
        sessions,
        tenant.id,
        "lead",
        name="张伟",
        company="上海汽车集团有限公司",
        uscc=USCC_A,
        email="ZW@saic.cn",
    )

    result = convert(sessions, tenant.id, lead)

    assert (result.account_id, result.account_match) == (account, "uscc")
    assert (result.contact_id, result.contact_match) == (contact, "email")
    assert (result.account_created, result.contact_created) == (False, False)
    assert count(sessions, Account) == 2
    assert count(sessions, Contact) == 2


def test_a_lead_attaches_by_company_name_and_contact_phone_unless_the_usccs_differ(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    other_person = make(sessions, tenant.id, "account", name="上海汽车(集团)有限公司", uscc=USCC_B)
    namesake = make(sessions, tenant.id, "account", name="上海汽车集团")
    contact = make(
        sessions, tenant.id, "contact", name="张伟", phone="+86 138-0013-8000", account_id=namesake
    )
    lead = make(
        sessions,
        tenant.id,
        "lead",
        name="张伟",
        company="上海汽车集团有限公司",
        uscc=USCC_A,
        mobile="13800138000",
    )

    result = convert(sessions, tenant.id, lead)

    assert result.account_id != other_person  # a different valid USCC: another legal person
    assert (result.account_id, result.account_match) == (namesake, "company_name")
    assert (result.contact_id, result.contact_match) == (contact, "phone")


def test_touchpoints_get_account_contact_and_opportunity_and_keep_the_lead(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    lead = make(sessions, tenant.id, "lead", name="A", company="Acme Ltd.")
    elsewhere = make(sessions, tenant.id, "contact", name="Known")
    table = table_of(Touchpoint)
    with sessions.begin() as s:
        for index, contact in enumerate((None, None, elsewhere)):
            s.execute(
                insert(table).values(
                    id=uuid.uuid4(),
                    tenant_id=tenant.id,
                    lead_id=lead,
                    contact_id=contact,
                    type="webinar",
                    occurred_at=T0,
                    source="web",
                    external_id=f"t{index}",
                )
            )

    result = convert(sessions, tenant.id, lead)

    assert result.touchpoints_moved == 3
    with sessions() as s:
        rows = s.execute(
            select(
                Touchpoint.lead_id,
                Touchpoint.account_id,
                Touchpoint.contact_id,
                Touchpoint.opportunity_id,
            ).order_by(Touchpoint.external_id)
        ).all()
        moved = s.get(LeadConversion, lead)
    ids = (lead, result.account_id, result.contact_id, result.opportunity_id)
    assert [tuple(r) for r in rows] == [
        ids,
        ids,
        (lead, result.account_id, elsewhere, result.opportunity_id),  # its contact stays
    ]
    assert moved is not None and moved.touchpoints_moved == 3


def test_opportunity_values_are_taken_and_validated(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    lead = make(sessions, tenant.id, "lead", name="A")
    with pytest.raises(DataError) as error:
        convert(sessions, tenant.id, lead, opportunity={"amount": "100"})
    assert error.value.field == "opportunity.currency"
    with pytest.raises(DataError) as error:
        convert(sessions, tenant.id, lead, opportunity={"status": "won"})
    assert error.value.field == "opportunity.status"
    with pytest.raises(DataError) as error:
        convert(sessions, tenant.id, lead, opportunity={"close_date": "someday"})
    assert error.value.field == "opportunity.close_date"

    result = convert(
        sessions,
        tenant.id,
        lead,
        opportunity={
            "name": "Pilot",
            "stage": "qualify",
            "amount": "250000",
            "currency": "cny",
            "close_date": "2026-06-30",
        },
    )

    with sessions() as s:
        deal = s.get(Opportunity, result.opportunity_id)
    assert deal is not None
    assert (deal.name, deal.stage, deal.amount, deal.currency, deal.close_date) == (
        "Pilot",
        "qualify",
        Decimal("250000"),
        "CNY",
        date(2026, 6, 30),
    )


def test_no_opportunity_when_not_wanted(sessions: sessionmaker[Session], tenant: Tenant) -> None:
    lead = make(sessions, tenant.id, "lead", name="A")
    with pytest.raises(DataError) as error:
        convert(sessions, tenant.id, lead, create_opportunity=False, opportunity={"name": "X"})
    assert error.value.field == "opportunity"

    result = convert(sessions, tenant.id, lead, create_opportunity=False)

    assert result.opportunity_id is None
    assert count(sessions, Opportunity) == 0
    with sessions() as s:
        account = s.get(Account, result.account_id)
    assert account is not None and account.name == "A"  # no company: the lead's name


def test_converting_twice_is_refused_with_the_first_conversions_ids(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    lead = make(sessions, tenant.id, "lead", name="A", company="Acme")
    first = convert(sessions, tenant.id, lead)

    with pytest.raises(ConflictError) as error:
        convert(sessions, tenant.id, lead)

    assert error.value.details == {
        "account_id": first.account_id,
        "contact_id": first.contact_id,
        "opportunity_id": first.opportunity_id,
    }
    assert str(first.account_id) in error.value.message
    assert count(sessions, Account) == 1
    assert count(sessions, Opportunity) == 1


def test_given_records_must_be_of_the_tenant_and_agree(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as s:
        rival = Tenant(slug="rival", name="Rival")
        s.add(rival)
        s.flush()
        rival_id = rival.id
    theirs = make(sessions, rival_id, "account", name="Theirs")
    mine = make(sessions, tenant.id, "account", name="Mine")
    other = make(sessions, tenant.id, "account", name="Other")
    their_contact = make(sessions, tenant.id, "contact", name="C", account_id=other)
    loose = make(sessions, tenant.id, "contact", name="Loose")
    lead = make(sessions, tenant.id, "lead", name="A")

    with pytest.raises(DataError) as error:
        convert(sessions, tenant.id, lead, account_id=theirs)
    assert (error.value.field, error.value.code) == ("account_id", "unknown_reference")
    with pytest.raises(DataError) as error:
        convert(sessions, tenant.id, lead, account_id=mine, contact_id=their_contact)
    assert (error.value.field, error.value.code) == ("contact_id", "account_mismatch")

    via_contact = convert(sessions, tenant.id, lead, contact_id=their_contact)
    assert (via_contact.account_id, via_contact.account_match) == (other, "contact")

    second = make(sessions, tenant.id, "lead", name="B")
    attached = convert(sessions, tenant.id, second, account_id=mine, contact_id=loose)
    assert (attached.account_match, attached.contact_match) == ("given", "given")
    with sessions() as s:
        contact = s.get(Contact, loose)
    assert contact is not None and contact.account_id == mine
