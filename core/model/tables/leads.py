"""Lead management (issue 5): pools, ownership and its audit, routing outcomes,
touchpoints, scores and scoring models, account RFM/LTV, conversions and merges.

The lead's `owner_id` column stays the canonical field every surface reads; the
ownership service (core.sales.leads.ownership) is its only writer and keeps
`lead_assignment` (pool, deadlines) and `lead_ownership_event` (the audit) in step
with it in the same transaction. Per-tenant configuration documents (ideal-customer
profile, behaviour model, grade thresholds, routing ladder, teams) live in
`sales_setting`, validated by their pydantic models on the way in.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.model.tables.base import (
    Base,
    BulkTenantMixin,
    ExactDecimal,
    IdMixin,
    TenantMixin,
    TimestampMixin,
)


def _fk(table: str, ondelete: str = "SET NULL") -> Any:
    return mapped_column(ForeignKey(f"{table}.id", ondelete=ondelete), default=None)


# ----------------------------------------------------------------------------- configuration
class SalesSetting(TenantMixin, Base):
    """One named configuration document of a tenant: `icp`, `behaviour`, `grades`,
    `routing`, `teams`, `routing_state`. `version` grows by one per change."""

    __tablename__ = "sales_setting"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# ----------------------------------------------------------------------------- pools
class LeadPool(IdMixin, TenantMixin, TimestampMixin, Base):
    """A lead pool (线索池). `rules` is a PoolRules document (claim budget, WIP cap,
    cooldown, recycle deadlines per grade, reminder lead time, follow-up types, return
    reasons)."""

    __tablename__ = "lead_pool"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(String(2000))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(default=True)


class LeadPoolMember(IdMixin, TenantMixin, Base):
    """A user or a team (by its id in the `teams` setting) with a role in a pool."""

    __tablename__ = "lead_pool_member"
    __table_args__ = (
        UniqueConstraint("pool_id", "user_id", "team_id"),
        CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="user_or_team"),
    )

    pool_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lead_pool.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = _fk("user_account", "CASCADE")
    team_id: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), default="member")
    """`member` (may claim) or `admin` (may also deposit, assign, transfer)."""


# ----------------------------------------------------------------------------- ownership
class LeadAssignment(BulkTenantMixin, Base):
    """Where a lead is (pool) and who owns it, with the deadlines that recycle it.

    An owned lead always has a recycle deadline (the check constraint holds it even
    against a bug): `recycle_at` = the earlier of `followup_due` and `convert_due`.
    """

    __tablename__ = "lead_assignment"
    __table_args__ = (
        Index(None, "tenant_id", "recycle_at"),
        Index(None, "tenant_id", "remind_at"),
        Index(None, "tenant_id", "owner_id"),
        Index(None, "tenant_id", "pool_id"),
        CheckConstraint("owner_id IS NULL OR recycle_at IS NOT NULL", name="owned_has_deadline"),
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lead.id", ondelete="CASCADE"), primary_key=True
    )
    pool_id: Mapped[uuid.UUID | None] = _fk("lead_pool")
    owner_id: Mapped[uuid.UUID | None] = _fk("user_account")
    owned_since: Mapped[datetime | None]
    followup_due: Mapped[datetime | None]
    convert_due: Mapped[datetime | None]
    recycle_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    last_followup_at: Mapped[datetime | None]
    grade: Mapped[str | None] = mapped_column(String(2))
    """The grade the deadlines were computed with."""
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LeadOwnershipEvent(IdMixin, BulkTenantMixin, Base):
    """The audit of every owner and pool change: who, what, why, through which surface.

    Claim budgets count `claim` rows of the claiming rep; cooldowns read the rep's last
    `return`/`recycle` of the lead.
    """

    __tablename__ = "lead_ownership_event"
    __table_args__ = (
        Index(None, "tenant_id", "lead_id", "at"),
        Index(None, "tenant_id", "to_owner", "action", "at"),
    )

    lead_id: Mapped[uuid.UUID]
    """No foreign key: the audit outlives a lead merged away (and its claims still count)."""
    action: Mapped[str] = mapped_column(String(16))
    """deposit, claim, return, assign, transfer, release, recycle, route, convert, merge."""
    via: Mapped[str] = mapped_column(String(16))
    """api, cli, sync, import, bulk, routing, schedule."""
    actor: Mapped[str] = mapped_column(String(64))
    """A user id, `connection:<id>`, or `system`."""
    from_owner: Mapped[uuid.UUID | None]
    to_owner: Mapped[uuid.UUID | None]
    pool_id: Mapped[uuid.UUID | None]
    reason_code: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(500))
    recycle_at: Mapped[datetime | None]
    at: Mapped[datetime] = mapped_column(default=utcnow)


class LeadRouting(BulkTenantMixin, Base):
    """The routing ladder's verdict on a lead, once (re-routing is explicit)."""

    __tablename__ = "lead_routing"

    lead_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lead.id", ondelete="CASCADE"), primary_key=True
    )
    rule: Mapped[str] = mapped_column(String(128))
    target_kind: Mapped[str] = mapped_column(String(8))
    target_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[uuid.UUID | None]
    pool_id: Mapped[uuid.UUID | None]
    reason: Mapped[str] = mapped_column(String(500))
    ladder_version: Mapped[int]
    routed_at: Mapped[datetime] = mapped_column(default=utcnow)


# ----------------------------------------------------------------------------- behaviour
class Touchpoint(IdMixin, BulkTenantMixin, Base):
    """A behaviour event (email open/click, webinar, download, visit, form, ...).

    `(source, external_id)` makes delivery idempotent: a connector or API client that
    sends the same event twice stores it once. Conversion re-points the lead's
    touchpoints at the contact, account and opportunity (attribution).
    """

    __tablename__ = "touchpoint"
    __table_args__ = (
        Index(None, "tenant_id", "lead_id", "occurred_at"),
        Index(None, "tenant_id", "account_id"),
        Index(None, "tenant_id", "created_at"),
        UniqueConstraint("tenant_id", "source", "external_id"),
    )

    lead_id: Mapped[uuid.UUID | None] = _fk("lead")
    contact_id: Mapped[uuid.UUID | None] = _fk("contact")
    account_id: Mapped[uuid.UUID | None] = _fk("account")
    opportunity_id: Mapped[uuid.UUID | None] = _fk("opportunity")
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(128))
    campaign: Mapped[str | None] = mapped_column(String(128))
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# ----------------------------------------------------------------------------- scores
class LeadScore(BulkTenantMixin, Base):
    """A lead's latest scores and grade, with the explanation of every part."""

    __tablename__ = "lead_score"
    __table_args__ = (Index(None, "tenant_id", "grade"),)

    lead_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lead.id", ondelete="CASCADE"), primary_key=True
    )
    attribute_points: Mapped[int]
    attribute_percent: Mapped[Decimal] = mapped_column(ExactDecimal(7, 2))
    behaviour_points: Mapped[Decimal] = mapped_column(ExactDecimal(12, 2))
    pls_probability: Mapped[Decimal | None] = mapped_column(ExactDecimal(7, 2))
    ml_probability: Mapped[Decimal | None] = mapped_column(ExactDecimal(7, 2))
    grade: Mapped[str] = mapped_column(String(2))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScoringModel(IdMixin, TenantMixin, Base):
    """A trained model: `pls` (Odoo's frequency table) or `ml` (calibrated logistic
    regression as plain parameters: no pickles are ever loaded from the database)."""

    __tablename__ = "scoring_model"
    __table_args__ = (Index(None, "tenant_id", "kind", "trained_at"),)

    kind: Mapped[str] = mapped_column(String(16))
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)
    sample_size: Mapped[int]
    positives: Mapped[int]
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


# ----------------------------------------------------------------------------- accounts
class AccountRfm(BulkTenantMixin, Base):
    """An account's latest RFM scores, segment and lifetime value."""

    __tablename__ = "account_rfm"
    __table_args__ = (Index(None, "tenant_id", "segment"),)

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("account.id", ondelete="CASCADE"), primary_key=True
    )
    as_of: Mapped[date]
    recency_days: Mapped[int | None]
    frequency: Mapped[int]
    monetary: Mapped[Decimal]
    currency: Mapped[str | None] = mapped_column(String(3))
    r: Mapped[int]
    f: Mapped[int]
    m: Mapped[int]
    segment: Mapped[str] = mapped_column(String(32))
    ltv: Mapped[Decimal | None]
    ltv_method: Mapped[str | None] = mapped_column(String(16))
    ltv_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountSegmentChange(IdMixin, BulkTenantMixin, Base):
    """A change of an account's RFM segment between two computations (history)."""

    __tablename__ = "account_segment_change"
    __table_args__ = (Index(None, "tenant_id", "account_id", "as_of"),)

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    as_of: Mapped[date]
    from_segment: Mapped[str | None] = mapped_column(String(32))
    to_segment: Mapped[str] = mapped_column(String(32))
    from_cell: Mapped[str | None] = mapped_column(String(8))
    to_cell: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(default=utcnow)


# ----------------------------------------------------------------------------- conversion
class LeadConversion(BulkTenantMixin, Base):
    """What a converted lead became; `*_created` says whether it attached or created."""

    __tablename__ = "lead_conversion"

    lead_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lead.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID | None] = _fk("account")
    contact_id: Mapped[uuid.UUID | None] = _fk("contact")
    opportunity_id: Mapped[uuid.UUID | None] = _fk("opportunity")
    account_created: Mapped[bool]
    contact_created: Mapped[bool]
    touchpoints_moved: Mapped[int] = mapped_column(default=0)
    converted_by: Mapped[str] = mapped_column(String(64))
    converted_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeadMerge(IdMixin, BulkTenantMixin, Base):
    """A duplicate merged into a survivor: the merged lead's last state is kept whole,
    with the fields the survivor took from it and the match that justified the merge."""

    __tablename__ = "lead_merge"
    __table_args__ = (
        Index(None, "tenant_id", "survivor_id"),
        Index(None, "tenant_id", "merged_id"),
    )

    survivor_id: Mapped[uuid.UUID]
    merged_id: Mapped[uuid.UUID]
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    fields_taken: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[int]
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    merged_by: Mapped[str] = mapped_column(String(64))
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
