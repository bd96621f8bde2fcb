"""Converting a lead into an account, a contact and an opportunity (issue 5 item 5).

Attach before create, so conversion does not breed the duplicates dedup hunts:

* account: the one given; else the contact's account when a contact is given; else the
  oldest account with the lead's USCC; else the oldest whose company key
  (core.sales.dedup.company_key) equals the lead's and whose valid USCC, if any, does not
  contradict the lead's; else a new `prospect` account from the lead;
* contact: the one given (attached to the account if it had none); else the oldest
  contact of that account with the lead's e-mail, then its E.164 phone/mobile; else new;
* opportunity (unless `create_opportunity=False`): always new, status `open`.

The lead's touchpoints keep `lead_id` (attribution) and get account, contact and
opportunity where they had none. The lead becomes `converted` (through the store, so the
change log and subscriptions see it), a `lead_conversion` row records what it became and
whether each part was attached or created, and its pool ownership ends (`convert`).
Converting twice is refused with the first conversion's ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import ValidationError
from sqlalchemy import Table, func, insert, literal, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ConflictError, DataError, NotFoundError
from core.model.entities import entity
from core.model.tables import Account, Contact, LeadConversion, Touchpoint, table_of
from core.sales.dedup import company_key, email_key, uscc_key
from core.sales.leads import ownership
from core.sales.leads.duplicates import name_key_variants
from core.sales.leads.ownership import Actor
from core.sales.phones import normalize_phone
from core.store.bulk import bulk_writer
from core.store.direct import create_record, patch_record
from core.store.records import read_record

AccountMatch = Literal["given", "contact", "uscc", "company_name", "created"]
ContactMatch = Literal["given", "email", "phone", "created"]
ACCOUNT = table_of(Account)
CONTACT = table_of(Contact)
CONVERSION = table_of(LeadConversion)
TOUCHPOINT = table_of(Touchpoint)
OPPORTUNITY_FIELDS: Final = frozenset(
    {"name", "stage", "amount", "currency", "close_date", "probability", "forecast_category"}
    | {"owner_id"}
)
"""What `opportunity` may set; account and status come from the conversion itself."""


@dataclass(frozen=True, slots=True)
class ConversionResult:
    """What the lead became; `*_match` says how each part was found (or `created`)."""

    lead_id: uuid.UUID
    account_id: uuid.UUID
    contact_id: uuid.UUID
    opportunity_id: uuid.UUID | None
    account_created: bool
    contact_created: bool
    account_match: AccountMatch
    contact_match: ContactMatch
    touchpoints_moved: int
    converted_at: datetime


def convert_lead(
    session: Session,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    actor: Actor,
    *,
    account_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    opportunity: Mapping[str, Any] | None = None,
    create_opportunity: bool = True,
    now: datetime | None = None,
) -> ConversionResult:
    """Convert the lead (rules in the module docstring); the caller commits."""
    now = now or utcnow()
    deal = _check_opportunity(opportunity, create_opportunity)
    bulk_writer(session).lock_tenant(str(tenant_id))
    lead = read_record(session, tenant_id, entity("lead"), lead_id)
    if lead is None:
        raise NotFoundError(
            f"no lead {lead_id} in this tenant", hint="list leads: GET /v1/leads", field="lead_id"
        )
    _refuse_converted(session, tenant_id, lead)
    contact = _given_contact(session, tenant_id, contact_id)
    account_match: AccountMatch
    if account_id is not None:
        _require(session, tenant_id, ACCOUNT, account_id, "account_id", "account")
        account_match = "given"
    elif contact is not None and contact["account_id"] is not None:
        account_id, account_match = contact["account_id"], "contact"
    else:
        account_id, account_match = _match_account(session, tenant_id, lead)
    if account_id is None:
        account_id = create_record(
            session, tenant_id, entity("account"), _new_account(lead), now=now
        )["id"]
    assert account_id is not None
    contact_match: ContactMatch
    if contact is not None:
        contact_match = "given"
        if contact["account_id"] is None:
            patch_record(
                session,
                tenant_id,
                entity("contact"),
                contact["id"],
                {"account_id": account_id},
                now=now,
            )
        elif contact["account_id"] != account_id:
            raise DataError(
                f"contact_id: contact {contact['id']} belongs to account {contact['account_id']}, "
                f"not {account_id}",
                field="contact_id",
                code="account_mismatch",
                hint="send a contact of that account, or leave account_id out to use the contact's",
            )
        found_contact: uuid.UUID | None = contact["id"]
    elif account_match == "created":
        found_contact, contact_match = None, "created"
    else:
        found_contact, contact_match = _match_contact(session, tenant_id, account_id, lead)
    if found_contact is None:
        found_contact = create_record(
            session, tenant_id, entity("contact"), _new_contact(lead, account_id), now=now
        )["id"]
    assert found_contact is not None
    opportunity_id = None
    if create_opportunity:
        values = {
            "name": _deal_name(lead),
            "owner_id": lead["owner_id"],
            **deal,
            "account_id": account_id,
            "status": "open",
        }
        opportunity_id = create_record(session, tenant_id, entity("opportunity"), values, now=now)[
            "id"
        ]
    moved = _carry_touchpoints(
        session, tenant_id, lead_id, account_id, found_contact, opportunity_id
    )
    patch_record(session, tenant_id, entity("lead"), lead_id, {"status": "converted"}, now=now)
    session.execute(
        insert(CONVERSION).values(
            lead_id=lead_id,
            tenant_id=tenant_id,
            account_id=account_id,
            contact_id=found_contact,
            opportunity_id=opportunity_id,
            account_created=account_match == "created",
            contact_created=contact_match == "created",
            touchpoints_moved=moved,
            converted_by=actor.id,
            converted_at=now,
        )
    )
    ownership.close(
        session, tenant_id, lead_id, actor, action="convert", note=f"account {account_id}", now=now
    )
    return ConversionResult(
        lead_id,
        account_id,
        found_contact,
        opportunity_id,
        account_match == "created",
        contact_match == "created",
        account_match,
        contact_match,
        moved,
        now,
    )


# ----------------------------------------------------------------------------- checks
def _check_opportunity(
    opportunity: Mapping[str, Any] | None, create_opportunity: bool
) -> dict[str, Any]:
    if opportunity is None:
        return {}
    if not create_opportunity:
        raise DataError(
            "opportunity: given while create_opportunity is false",
            field="opportunity",
            code="conflicting",
            hint="leave opportunity out, or let the conversion create one",
        )
    for name in sorted(opportunity):
        if name not in OPPORTUNITY_FIELDS:
            raise DataError(
                f"opportunity.{name}: not set through a conversion",
                field=f"opportunity.{name}",
                code="unknown_field",
                hint=f"send some of: {', '.join(sorted(OPPORTUNITY_FIELDS))}; the account "
                "comes from account_id and the status is open",
            )
    try:
        clean = entity("opportunity").batch_adapter.validate_python([dict(opportunity)])[0]
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"][1:])
        raise DataError(
            f"opportunity.{name}: {first['msg']}",
            field=f"opportunity.{name}",
            code="invalid",
            hint="correct the value, or leave it out",
        ) from None
    if clean.get("amount") is not None and clean.get("currency") is None:
        raise DataError(
            "opportunity.currency: an amount needs its currency",
            field="opportunity.currency",
            code="required",
            hint="send the ISO 4217 code with the amount, e.g. CNY",
        )
    if clean.get("name") is None:
        clean.pop("name", None)
    return clean


def _refuse_converted(session: Session, tenant_id: uuid.UUID, lead: Mapping[str, Any]) -> None:
    done = session.execute(
        select(CONVERSION).where(
            CONVERSION.c.tenant_id == tenant_id, CONVERSION.c.lead_id == lead["id"]
        )
    ).first()
    if done is not None:
        raise ConflictError(
            f"lead {lead['id']} was converted on {done.converted_at.isoformat()} into account "
            f"{done.account_id}, contact {done.contact_id}, opportunity {done.opportunity_id}",
            hint="open those records; a lead converts once",
            account_id=done.account_id,
            contact_id=done.contact_id,
            opportunity_id=done.opportunity_id,
        )
    if lead["status"] == "converted":
        raise ConflictError(
            f"lead {lead['id']} has status converted but no conversion record "
            "(it was set by an edit or a sync)",
            hint="set its status back (e.g. qualified) to convert it here",
            field="status",
        )


def _require(
    session: Session,
    tenant_id: uuid.UUID,
    table: Table,
    record_id: uuid.UUID,
    field: str,
    label: str,
) -> None:
    found = session.scalar(
        select(table.c.id).where(table.c.tenant_id == tenant_id, table.c.id == record_id)
    )
    if found is None:
        raise DataError(
            f"{field}: no {label} {record_id} in this tenant",
            field=field,
            code="unknown_reference",
            hint=f"send the id of an existing {label} of this tenant, or leave it out to match "
            "or create one",
        )


def _given_contact(
    session: Session, tenant_id: uuid.UUID, contact_id: uuid.UUID | None
) -> dict[str, Any] | None:
    if contact_id is None:
        return None
    _require(session, tenant_id, CONTACT, contact_id, "contact_id", "contact")
    row = session.execute(
        select(CONTACT.c.id, CONTACT.c.account_id).where(
            CONTACT.c.tenant_id == tenant_id, CONTACT.c.id == contact_id
        )
    ).one()
    return dict(row._mapping)


# ----------------------------------------------------------------------------- matching
def _match_account(
    session: Session, tenant_id: uuid.UUID, lead: Mapping[str, Any]
) -> tuple[uuid.UUID | None, AccountMatch]:
    uscc = uscc_key(lead["uscc"])
    oldest = (ACCOUNT.c.created_at, ACCOUNT.c.id)
    if uscc is not None:
        found = session.scalar(
            select(ACCOUNT.c.id)
            .where(ACCOUNT.c.tenant_id == tenant_id, ACCOUNT.c.uscc == uscc)
            .order_by(*oldest)
            .limit(1)
        )
        if found is not None:
            return found, "uscc"
    key = company_key(lead["company"])
    if key is None:
        return None, "created"
    rows = session.execute(
        select(ACCOUNT.c.id, ACCOUNT.c.name, ACCOUNT.c.uscc)
        .where(ACCOUNT.c.tenant_id == tenant_id, ACCOUNT.c.name_key.in_(name_key_variants(key)))
        .order_by(*oldest)
    )
    for row in rows:
        theirs = uscc_key(row.uscc)
        if company_key(row.name) == key and (uscc is None or theirs is None or theirs == uscc):
            return row.id, "company_name"
    return None, "created"


def _match_contact(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID, lead: Mapping[str, Any]
) -> tuple[uuid.UUID | None, ContactMatch]:
    email = email_key(lead["email"])
    phones = {p.e164 for raw in (lead["phone"], lead["mobile"]) if (p := normalize_phone(raw))}
    rows = list(
        session.execute(
            select(CONTACT.c.id, CONTACT.c.email, CONTACT.c.phone, CONTACT.c.mobile)
            .where(CONTACT.c.tenant_id == tenant_id, CONTACT.c.account_id == account_id)
            .order_by(CONTACT.c.created_at, CONTACT.c.id)
        )
    )
    if email is not None:
        for row in rows:
            if email_key(row.email) == email:
                return row.id, "email"
    for row in rows:
        theirs = {p.e164 for raw in (row.phone, row.mobile) if (p := normalize_phone(raw))}
        if phones & theirs:
            return row.id, "phone"
    return None, "created"


# ----------------------------------------------------------------------------- creating
def _new_account(lead: Mapping[str, Any]) -> dict[str, Any]:
    values = {
        "name": lead["company"] or lead["name"],
        "uscc": uscc_key(lead["uscc"]),
        "industry": lead["industry"],
        "country": lead["country"],
        "province": lead["province"],
        "city": lead["city"],
        "owner_id": lead["owner_id"],
        "lifecycle": "prospect",
    }
    return {k: v for k, v in values.items() if v is not None}


def _new_contact(lead: Mapping[str, Any], account_id: uuid.UUID) -> dict[str, Any]:
    values = {name: lead[name] for name in ("name", "title", "email", "phone", "mobile")}
    values |= {"account_id": account_id, "owner_id": lead["owner_id"]}
    return {k: v for k, v in values.items() if v is not None}


def _deal_name(lead: Mapping[str, Any]) -> str:
    name = f"{lead['company']} — {lead['name']}" if lead["company"] else str(lead["name"])
    return name[:255]


def _carry_touchpoints(
    session: Session,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    account_id: uuid.UUID,
    contact_id: uuid.UUID,
    opportunity_id: uuid.UUID | None,
) -> int:
    """Give the lead's touchpoints its account, contact and opportunity where they have
    none (a touchpoint delivered with a contact keeps it); `lead_id` stays."""
    values = {
        "account_id": func.coalesce(
            TOUCHPOINT.c.account_id, literal(account_id, TOUCHPOINT.c.account_id.type)
        ),
        "contact_id": func.coalesce(
            TOUCHPOINT.c.contact_id, literal(contact_id, TOUCHPOINT.c.contact_id.type)
        ),
    }
    if opportunity_id is not None:
        values["opportunity_id"] = func.coalesce(
            TOUCHPOINT.c.opportunity_id, literal(opportunity_id, TOUCHPOINT.c.opportunity_id.type)
        )
    result = session.execute(
        update(TOUCHPOINT)
        .where(TOUCHPOINT.c.tenant_id == tenant_id, TOUCHPOINT.c.lead_id == lead_id)
        .values(values)
    )
    return int(getattr(result, "rowcount", 0) or 0)
