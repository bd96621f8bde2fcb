"""/v1/touchpoints: behaviour events of leads (webinars, downloads, calls, visits, ...).

Delivery is idempotent per `external_id`: a client that retries stores its event once.
A touchpoint whose type is one of the pool's follow-up types restarts the owner's
follow-up deadline (the report counts them as `followups`).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError
from sqlalchemy import and_, or_, select

from api.http.deps import ReadSession, WriteSession, tenant_of
from api.http.pagination import Cursor, Limit, Page, decode_cursor, page_of
from api.http.routers._integration import JsonObject, page_example
from api.http.routers._sales import (
    EXAMPLE_LEAD,
    MAX_BATCH,
    in_body,
    require_leads,
    single_valued,
)
from core.errors import DataError
from core.sales.leads import touchpoints
from core.sales.leads.touchpoints import TOUCHPOINT, EventType, TouchpointIn, TouchpointView

router = APIRouter(tags=["touchpoints"], dependencies=[Depends(single_valued)])

SOURCE = "api"
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_text(value: Any) -> Any:
    """ISO 8601 text only (pydantic would also read numbers as Unix timestamps)."""
    if isinstance(value, str) and _ISO.match(value):
        return value
    raise PydanticCustomError(
        "datetime_type",
        "Input should be an ISO 8601 date-time with a zone, e.g. 2025-06-02T09:30:00Z",
    )


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        raise ValueError("the time is out of range once converted to UTC") from None


Occurred = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_utc)]
NoNul = r"^[^\x00]*$"
TOUCHPOINT_EXAMPLE: dict[str, Any] = {
    "lead_id": EXAMPLE_LEAD,
    "type": "webinar",
    "occurred_at": "2025-06-02T09:30:00Z",
    "external_id": "evt-20250602-0001",
    "campaign": "2025-智能制造-webinar",
    "properties": {"minutes_watched": 42},
}
RECORD_EXAMPLE: dict[str, Any] = {"items": [TOUCHPOINT_EXAMPLE]}
VIEW_EXAMPLE: dict[str, Any] = {
    "id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d06",
    "contact_id": None,
    "account_id": None,
    "opportunity_id": None,
    "source": SOURCE,
    **TOUCHPOINT_EXAMPLE,
}


class TouchpointItem(BaseModel):
    """One event; `lead_id` or `email` (the lead's address) names the lead."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [TOUCHPOINT_EXAMPLE]})

    lead_id: uuid.UUID | None = None
    email: str | None = Field(
        default=None, max_length=255, pattern=NoNul, examples=["li.na@qinghe.example.cn"]
    )
    type: EventType = Field(
        examples=["webinar"], description="`call`, `visit`, ... restart the follow-up clock."
    )
    occurred_at: Occurred = Field(description="When it happened, with its time zone.")
    external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=NoNul,
        description="The sender's id of the event: a repeat is stored once.",
    )
    campaign: str | None = Field(default=None, max_length=128, pattern=NoNul)
    properties: JsonObject | None = None


class RecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [RECORD_EXAMPLE]})

    items: list[TouchpointItem] = Field(min_length=1, max_length=MAX_BATCH)


class RecordOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "inserted": 1,
                    "duplicates": 0,
                    "followups": 0,
                    "ids": ["0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d06"],
                }
            ]
        }
    )

    inserted: int = Field(description="New events stored.")
    duplicates: int = Field(description="Repeats of an `external_id` already stored: skipped.")
    followups: int = Field(description="Events that restarted an owner's follow-up deadline.")
    ids: list[uuid.UUID] = Field(description="Ids of the stored events.")


class TouchpointOut(TouchpointView):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [VIEW_EXAMPLE]})


def _utc_range_ok(item: TouchpointItem, n: int) -> None:
    """Years the databases hold (a far offset can push year 1 or 9999 out of range)."""
    if not 1900 <= item.occurred_at.year <= 9998:
        raise DataError(
            f"items.{n}.occurred_at: {item.occurred_at.isoformat()} is not a plausible time",
            field=f"body.items.{n}.occurred_at",
            code="out_of_range",
            hint="send the time the event happened, with its time zone",
        )


@router.post("/touchpoints", response_model=RecordOut, summary="Record touchpoints")
def record(body: RecordIn, session: WriteSession) -> RecordOut:
    """Store up to 1000 events in one batch (all or none: 422 naming the item when a
    lead is unknown). Repeats of an `external_id` are counted, not stored again."""
    for n, item in enumerate(body.items):
        _utc_range_ok(item, n)
    items = [TouchpointIn.model_validate(item.model_dump()) for item in body.items]
    with in_body():
        report = touchpoints.record(session, tenant_of(session), items, source=SOURCE)
    return RecordOut.model_validate(report.model_dump())


def _after(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    try:
        at, key = value
        return datetime.fromisoformat(at), uuid.UUID(key)
    except (TypeError, ValueError):
        raise DataError(
            "the cursor is not one this API issued",
            field="query.cursor",
            code="invalid_cursor",
            hint="pass the next_cursor of the previous page unchanged, or omit it",
        ) from None


@router.get(
    "/leads/{lead_id}/touchpoints",
    response_model=Page[TouchpointOut],
    summary="A lead's touchpoints",
    responses=page_example(VIEW_EXAMPLE),
)
def for_lead(
    lead_id: Annotated[uuid.UUID, Path(examples=[EXAMPLE_LEAD])],
    session: ReadSession,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TouchpointOut]:
    """The lead's events, newest first."""
    tenant_id = tenant_of(session)
    require_leads(session, tenant_id, [lead_id])
    query = select(TOUCHPOINT).where(
        TOUCHPOINT.c.tenant_id == tenant_id, TOUCHPOINT.c.lead_id == lead_id
    )
    after = _after(cursor)
    if after is not None:
        at, key = after
        query = query.where(
            or_(
                TOUCHPOINT.c.occurred_at < at,
                and_(TOUCHPOINT.c.occurred_at == at, TOUCHPOINT.c.id > key),
            )
        )
    rows = session.execute(
        query.order_by(TOUCHPOINT.c.occurred_at.desc(), TOUCHPOINT.c.id).limit(limit + 1)
    ).all()
    views = [TouchpointOut.model_validate(r, from_attributes=True) for r in rows]
    return page_of(views, limit, key=lambda v: [v.occurred_at.isoformat(), str(v.id)])
