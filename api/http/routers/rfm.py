"""RFM and lifetime value of accounts, from their synced orders.

Definitions (window, what counts as a purchase, currency, the quintile tie rule, the
ten R×F segments, the LTV formulas) are core.sales.customer_value's and the `rfm`
setting's; docs/leads.md has them in prose. The scheduler recomputes after a sync
changes orders; `POST /v1/rfm/recompute` does it now.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from sqlalchemy import select

from api.http.deps import ReadSession, WriteSession, tenant_of
from api.http.routers.record_shapes import IsoDate
from core.errors import NotFoundError
from core.model.tables import Account, table_of
from core.sales import customer_value, documents
from core.sales.customer_value import AccountValue, RfmReport, SegmentCount

router = APIRouter(tags=["rfm"])

ACCOUNT = table_of(Account)
EXAMPLE_ACCOUNT = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d21"
AccountId = Annotated[uuid.UUID, Path(examples=[EXAMPLE_ACCOUNT], description="The account's id.")]
RECOMPUTE_HINT = "POST /v1/rfm/recompute or wait for the scheduled recomputation"

RFM_EXAMPLE: dict[str, Any] = {
    "account_id": EXAMPLE_ACCOUNT,
    "as_of": "2025-06-30",
    "currency": "CNY",
    "recency_days": 29,
    "frequency": 2,
    "monetary": "250000.0000",
    "r": 5,
    "f": 4,
    "m": 5,
    "segment": "champions",
    "cell": "545",
    "score": 14,
    "ltv": "547500.0000",
    "ltv_method": "transactional",
    "ltv_detail": {
        "formula": "AOV × frequency per year × lifespan years",
        "order_count": 2,
        "window_days": 730,
        "aov": "125000",
        "frequency_per_year": "1.000",
        "lifespan_years": "3",
    },
    "computed_at": "2025-06-30T02:00:00Z",
    "history": [
        {
            "as_of": "2025-06-30",
            "from_segment": "potential_loyalists",
            "to_segment": "champions",
            "from_cell": "435",
            "to_cell": "545",
            "at": "2025-06-30T02:00:00Z",
        }
    ],
}
SEGMENTS_EXAMPLE: dict[str, Any] = {
    "as_of": "2025-06-30",
    "items": [
        {"segment": "champions", "accounts": 12, "monetary": "3800000.0000", "currency": "CNY"}
    ],
}
RECOMPUTE_EXAMPLE: dict[str, Any] = {"as_of": "2025-06-30", "force": True}
REPORT_EXAMPLE: dict[str, Any] = {
    "as_of": "2025-06-30",
    "window_start": "2023-07-02",
    "currency": "CNY",
    "skipped": False,
    "accounts_scored": 12,
    "accounts_lapsed": 0,
    "segment_changes": 3,
    "orders_counted": 40,
    "orders_without_currency": 0,
    "orders_without_amount": 0,
    "orders_without_account_or_date": 1,
    "other_currencies": [{"currency": "USD", "orders": 2, "accounts": 1, "amount": "9000.00"}],
    "accounts_only_other_currency": 0,
    "last_seq": 1042,
    "settings_version": 0,
}


class AccountRfmOut(AccountValue):
    """An account's latest R, F, M (1-5 each), segment and LTV with the formula's
    inputs, and its segment changes newest first (`to_segment` null: it lapsed)."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [RFM_EXAMPLE]})


class SegmentsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [SEGMENTS_EXAMPLE]})

    as_of: date | None = Field(description="The last computation's date; null before the first.")
    items: list[SegmentCount] = Field(description="All ten segments per currency, in map order.")


class RecomputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [RECOMPUTE_EXAMPLE]})

    as_of: IsoDate | None = Field(
        default=None, description="The day to compute for; default today."
    )
    force: StrictBool = Field(
        default=False, description="Recompute even when nothing changed since the last run."
    )

    @field_validator("as_of")
    @classmethod
    def _plausible(cls, value: date | None) -> date | None:
        """Years the window arithmetic and the databases hold."""
        if value is not None and not 1900 <= value.year <= 9998:
            raise ValueError("as_of must be a date between 1900 and 9998")
        return value


class RecomputeOut(RfmReport):
    """What the run did; `skipped` when nothing changed since the last run (no `force`)."""

    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [REPORT_EXAMPLE]})


def _require_account(session: Any, tenant_id: uuid.UUID, account_id: uuid.UUID) -> None:
    found = session.scalar(
        select(ACCOUNT.c.id).where(ACCOUNT.c.tenant_id == tenant_id, ACCOUNT.c.id == account_id)
    )
    if found is None:
        raise NotFoundError(
            f"no account {account_id} in this tenant", hint="list accounts: GET /v1/accounts"
        )


@router.get(
    "/accounts/{account_id}/rfm", response_model=AccountRfmOut, summary="An account's RFM and LTV"
)
def account_rfm(account_id: AccountId, session: ReadSession) -> AccountRfmOut:
    """Recency, frequency and monetary value of the account's purchases in the window,
    their quintile scores and R×F segment, the LTV and the segment history. 404 when the
    account has no RFM (no purchase in the window, or no computation yet)."""
    tenant_id = tenant_of(session)
    _require_account(session, tenant_id, account_id)
    value = customer_value.account_rfm(session, tenant_id, account_id)
    if value is None:
        raise NotFoundError(
            f"account {account_id} has no RFM yet: no purchase in the window as of the "
            "last computation, or none ran since it bought",
            hint=RECOMPUTE_HINT,
        )
    return AccountRfmOut.model_validate(value.model_dump(exclude={"cell", "score"}))


@router.get("/rfm/segments", response_model=SegmentsOut, summary="RFM segments")
def rfm_segments(session: ReadSession) -> SegmentsOut:
    """How many accounts sit in each segment, with their summed monetary value."""
    tenant_id = tenant_of(session)
    state, _ = documents.get(session, tenant_id, "rfm_state")
    return SegmentsOut(as_of=state.as_of, items=customer_value.segments(session, tenant_id))


@router.post("/rfm/recompute", response_model=RecomputeOut, summary="Recompute RFM and LTV")
def recompute(body: RecomputeIn, session: WriteSession) -> RecomputeOut:
    """Rescore every account with purchases as of `as_of`, record segment changes and
    drop accounts that no longer buy (history `lapsed`). Without `force` nothing is
    written when orders, settings and the date are those of the last run."""
    report = customer_value.recompute(
        session, tenant_of(session), as_of=body.as_of, force=body.force
    )
    return RecomputeOut.model_validate(report.model_dump())
