"""Pydantic shapes of lead management: pool rules and the views services return."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$"),
]
Via = Literal["api", "cli", "sync", "import", "bulk", "routing", "schedule", "demo"]
Action = Literal[
    "deposit",
    "claim",
    "return",
    "assign",
    "transfer",
    "release",
    "recycle",
    "route",
    "convert",
    "merge",
]

DEFAULT_RETURN_REASONS = (
    "unreachable",
    "no_budget",
    "no_need",
    "not_decision_maker",
    "wrong_contact",
    "duplicate",
    "competitor",
    "other",
)
DEFAULT_FOLLOWUP_TYPES = ("call", "visit", "meeting", "email_sent", "wechat")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deadlines(_Strict):
    """Days an owner has: to log a qualifying follow-up (the clock restarts with each
    one) and to convert the lead (counted from when they got it)."""

    followup_days: int = Field(default=7, ge=1, le=365)
    convert_days: int = Field(default=30, ge=1, le=3650)

    @model_validator(mode="after")
    def _followup_within_convert(self) -> Deadlines:
        if self.followup_days > self.convert_days:
            raise ValueError(
                f"followup_days ({self.followup_days}) exceeds convert_days "
                f"({self.convert_days}): the follow-up deadline could never apply"
            )
        return self


class PoolRules(_Strict):
    """A pool's rules (线索池规则). Every owner change applies them, whatever the surface."""

    claim_budget: int | None = Field(
        default=20,
        ge=0,
        le=1_000_000,
        description="Claims one rep may make from this pool per period; null = no limit.",
    )
    budget_period: Literal["day", "week", "month"] = "week"
    timezone: str = Field(
        default="Asia/Shanghai",
        min_length=1,
        max_length=64,
        description="IANA zone where budget days, weeks (from Monday) and months begin.",
    )
    wip_cap: int | None = Field(
        default=50,
        ge=0,
        le=1_000_000,
        description="Open leads (any pool) a rep may own before claims are refused; null = none.",
    )
    cooldown_days: int = Field(
        default=7,
        ge=0,
        le=365,
        description="Days before a rep may re-claim a lead they returned or lost.",
    )
    deadlines: Deadlines = Deadlines()
    by_grade: dict[Annotated[str, StringConstraints(pattern=r"^[ABC][123]?$")], Deadlines] = Field(
        default_factory=dict,
        description="Deadlines per grade (`A1`) or grade letter (`A`); the full grade wins.",
    )
    remind_days_before: int = Field(default=2, ge=0, le=365)
    followup_types: tuple[Code, ...] = Field(default=DEFAULT_FOLLOWUP_TYPES, min_length=1)
    return_reasons: tuple[Code, ...] = Field(default=DEFAULT_RETURN_REASONS, min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai"
            ) from None
        return value

    def deadlines_for(self, grade: str | None) -> Deadlines:
        if grade:
            found = self.by_grade.get(grade) or self.by_grade.get(grade[0])
            if found is not None:
                return found
        return self.deadlines


DEFAULT_RULES = PoolRules()


class AssignmentView(BaseModel):
    """Where a lead is, who owns it and when it goes back to its pool."""

    model_config = ConfigDict(from_attributes=True)

    lead_id: uuid.UUID
    pool_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    owned_since: datetime | None
    followup_due: datetime | None
    convert_due: datetime | None
    recycle_at: datetime | None
    remind_at: datetime | None
    last_followup_at: datetime | None
    grade: str | None


class OwnershipEventView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    lead_id: uuid.UUID
    action: str
    via: str
    actor: str
    from_owner: uuid.UUID | None
    to_owner: uuid.UUID | None
    pool_id: uuid.UUID | None
    reason_code: str | None
    note: str | None
    recycle_at: datetime | None
    at: datetime
