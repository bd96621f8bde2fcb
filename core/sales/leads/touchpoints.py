"""Touchpoints: the behaviour events connectors and API clients deliver for leads.

Delivery is idempotent per `(source, external_id)`: a sender that retries stores its
event once (events without an external id are always new). A touchpoint names its lead
by id or by e-mail (what marketing tools know). A touchpoint whose type is one of the
lead's pool follow-up types (a call, a visit, ...) also restarts the owner's follow-up
deadline through the ownership service.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import DataError
from core.model.tables import Touchpoint, table_of
from core.sales.leads import ownership, pools
from core.store.bulk import bulk_writer

TOUCHPOINT = table_of(Touchpoint)
LEAD = ownership.LEAD
FUTURE_SLACK = timedelta(minutes=5)
EventType = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[a-z0-9_.]+$"),
]


class TouchpointIn(BaseModel):
    """One behaviour event; `lead_id` or `email` names the lead."""

    model_config = ConfigDict(extra="forbid")

    lead_id: uuid.UUID | None = None
    email: str | None = Field(default=None, max_length=255)
    type: EventType = Field(examples=["webinar"])
    occurred_at: AwareDatetime
    external_id: str | None = Field(default=None, min_length=1, max_length=128)
    campaign: str | None = Field(default=None, max_length=128)
    properties: dict[str, Any] | None = None


class TouchpointView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    lead_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    account_id: uuid.UUID | None
    opportunity_id: uuid.UUID | None
    type: str
    occurred_at: datetime
    source: str
    external_id: str | None
    campaign: str | None
    properties: dict[str, Any] | None


class RecordReport(BaseModel):
    inserted: int
    duplicates: int
    followups: int
    ids: list[uuid.UUID]


def _resolve(
    session: Session, tenant_id: uuid.UUID, items: Sequence[TouchpointIn]
) -> list[uuid.UUID]:
    ids = {i.lead_id for i in items if i.lead_id}
    emails = {i.email.strip().lower() for i in items if i.lead_id is None and i.email}
    known = set(
        session.scalars(select(LEAD.c.id).where(LEAD.c.tenant_id == tenant_id, LEAD.c.id.in_(ids)))
    )
    by_email: dict[str, uuid.UUID] = {}
    if emails:
        for lead_id, email in session.execute(
            select(LEAD.c.id, func.lower(LEAD.c.email))
            .where(LEAD.c.tenant_id == tenant_id, func.lower(LEAD.c.email).in_(emails))
            .order_by(LEAD.c.created_at.desc())
        ):
            by_email.setdefault(email, lead_id)
    out: list[uuid.UUID] = []
    for n, item in enumerate(items):
        if item.lead_id is not None:
            if item.lead_id not in known:
                raise DataError(
                    f"items.{n}.lead_id: no lead {item.lead_id} in this tenant",
                    field=f"items.{n}.lead_id",
                    code="unknown_reference",
                    hint="send the id of an existing lead, or its e-mail",
                )
            out.append(item.lead_id)
        elif item.email:
            found = by_email.get(item.email.strip().lower())
            if found is None:
                raise DataError(
                    f"items.{n}.email: no lead with e-mail {item.email!r}",
                    field=f"items.{n}.email",
                    code="unknown_reference",
                    hint="create the lead first, or send its lead_id",
                )
            out.append(found)
        else:
            raise DataError(
                f"items.{n}: names no lead",
                field=f"items.{n}.lead_id",
                code="required",
                hint="send lead_id or email",
            )
    return out


def record(
    session: Session,
    tenant_id: uuid.UUID,
    items: Sequence[TouchpointIn],
    *,
    source: str,
    now: datetime | None = None,
) -> RecordReport:
    """Store new events in one batch; repeats of a `(source, external_id)` are counted,
    not stored. Events more than five minutes in the future are refused (a clock bug)."""
    now = now or utcnow()
    for n, item in enumerate(items):
        if item.occurred_at > now + FUTURE_SLACK:
            raise DataError(
                f"items.{n}.occurred_at: {item.occurred_at.isoformat()} is in the future",
                field=f"items.{n}.occurred_at",
                code="future",
                hint="send the time the event happened, with its time zone",
            )
    lead_ids = _resolve(session, tenant_id, items)
    keys = {i.external_id for i in items if i.external_id}
    seen = (
        set(
            session.scalars(
                select(TOUCHPOINT.c.external_id).where(
                    TOUCHPOINT.c.tenant_id == tenant_id,
                    TOUCHPOINT.c.source == source,
                    TOUCHPOINT.c.external_id.in_(keys),
                )
            )
        )
        if keys
        else set()
    )
    rows: list[tuple[Any, ...]] = []
    new: list[tuple[uuid.UUID, TouchpointIn]] = []
    for lead_id, item in zip(lead_ids, items, strict=True):
        if item.external_id and item.external_id in seen:
            continue
        if item.external_id:
            seen.add(item.external_id)
        row_id = uuid.uuid4()
        rows.append(
            (
                row_id,
                tenant_id,
                lead_id,
                item.type,
                item.occurred_at,
                source,
                item.external_id,
                item.campaign,
                item.properties,
                now,
            )
        )
        new.append((lead_id, item))
    bulk_writer(session).insert(
        TOUCHPOINT,
        [
            "id",
            "tenant_id",
            "lead_id",
            "type",
            "occurred_at",
            "source",
            "external_id",
            "campaign",
            "properties",
            "created_at",
        ],
        rows,
    )
    followup_types = {
        t for p in pools.list_pools(session, tenant_id) for t in p.rules.followup_types
    }
    followups = sum(
        ownership.record_followup(session, tenant_id, lead_id, item.type, item.occurred_at, now=now)
        for lead_id, item in new
        if item.type in followup_types  # a webinar or an e-mail open costs no lookups
    )
    return RecordReport(
        inserted=len(rows),
        duplicates=len(items) - len(rows),
        followups=followups,
        ids=[r[0] for r in rows],
    )


def for_lead(
    session: Session, tenant_id: uuid.UUID, lead_id: uuid.UUID, *, limit: int = 200
) -> list[TouchpointView]:
    rows = session.execute(
        select(TOUCHPOINT)
        .where(TOUCHPOINT.c.tenant_id == tenant_id, TOUCHPOINT.c.lead_id == lead_id)
        .order_by(TOUCHPOINT.c.occurred_at.desc(), TOUCHPOINT.c.id)
        .limit(limit)
    )
    return [TouchpointView.model_validate(r, from_attributes=True) for r in rows]
