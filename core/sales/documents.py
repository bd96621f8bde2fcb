"""Per-tenant configuration documents of lead management, validated on the way in.

Each document is one pydantic model stored as JSON in `sales_setting` under its name,
with a version that grows by one per change (routing outcomes and scores cite it). A
tenant that never set one gets the default, so scoring and routing work from day one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import DataError, NotFoundError
from core.model.tables import SalesSetting, table_of
from core.sales.attribute_score import DEFAULT_THRESHOLDS, GradeThresholds, IcpProfile, IcpRule
from core.sales.behaviour import DEFAULT_MODEL, BehaviourModel
from core.sales.ltv import LtvMethod
from core.sales.routing import RoutingLadder, RoutingRule, Target, Team

_SETTING = table_of(SalesSetting)
M = TypeVar("M", bound=BaseModel)


class Teams(RootModel[tuple[Team, ...]]):
    """The sales teams routing may assign to, in a stable order."""


class RoutingState(BaseModel):
    """What routing carries between runs: the last member each team assigned."""

    last_assigned: dict[str, str] = {}


class ScoringSettings(BaseModel):
    """How the ML score is trained and shown."""

    model_config = ConfigDict(extra="forbid")

    min_sample: int = Field(
        default=200, ge=20, description="closed leads needed to show a probability"
    )
    min_per_class: int = Field(
        default=20, ge=5, description="converted and lost leads needed, each"
    )
    cv_folds: int = Field(default=3, ge=2, le=10)
    top_factors: int = Field(default=3, ge=1, le=10)


class RfmSettings(BaseModel):
    """How RFM and LTV are computed from orders and payments."""

    model_config = ConfigDict(extra="forbid")

    window_days: int = Field(default=730, ge=30, le=3650)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    ltv_method: LtvMethod = LtvMethod.TRANSACTIONAL
    lifespan_years: Decimal = Field(default=Decimal(3), gt=0, le=50)
    margin_rate: Decimal = Field(default=Decimal("0.3"), ge=0, le=1)
    retention_rate: Decimal = Field(default=Decimal("0.8"), ge=0, lt=1)
    discount_rate: Decimal = Field(default=Decimal("0.1"), ge=0, le=1)


class RfmState(BaseModel):
    """What the last RFM computation saw: the change-log position, its as-of date and the
    `rfm` settings version (recompute when any of them moves)."""

    last_seq: int = 0
    as_of: date | None = None
    settings_version: int = 0


DEFAULT_ICP = IcpProfile(
    name="default",
    rules=(
        IcpRule(field="uscc", op="present", points=20, label="registered company (USCC)"),
        IcpRule(field="company", op="present", points=10, label="company named"),
        IcpRule(field="email", op="present", points=10, label="reachable by e-mail"),
        IcpRule(field="mobile", op="present", points=10, label="reachable by mobile"),
        IcpRule(
            field="industry",
            op="in",
            value=("Manufacturing", "Technology", "Retail", "Healthcare"),
            points=30,
            label="target industry",
        ),
        IcpRule(
            field="title",
            op="in",
            value=("CEO", "CTO", "CIO", "总经理", "采购总监", "IT总监", "董事长"),
            points=20,
            label="decision-maker title",
        ),
        IcpRule(field="source", op="eq", value="competitor", points=-50, label="competitor"),
    ),
)
DEFAULT_LADDER = RoutingLadder(
    rules=(RoutingRule(name="everything else", target=Target(kind="pool", id="General")),)
)


@dataclass(frozen=True)
class Document(Generic[M]):
    name: str
    model: type[M]
    default: Callable[[], M]
    description: str


DOCUMENTS: dict[str, Document[Any]] = {
    d.name: d
    for d in (
        Document(
            "icp", IcpProfile, lambda: DEFAULT_ICP, "ideal-customer profile (attribute score)"
        ),
        Document("behaviour", BehaviourModel, lambda: DEFAULT_MODEL, "behaviour points model"),
        Document("grades", GradeThresholds, lambda: DEFAULT_THRESHOLDS, "A1-C3 grade thresholds"),
        Document(
            "routing", RoutingLadder, lambda: DEFAULT_LADDER, "routing ladder (first match wins)"
        ),
        Document("teams", Teams, lambda: Teams(()), "sales teams routing assigns to"),
        Document("routing_state", RoutingState, RoutingState, "routing's round-robin positions"),
        Document("scoring", ScoringSettings, ScoringSettings, "ML score training settings"),
        Document("rfm", RfmSettings, RfmSettings, "RFM and LTV settings"),
        Document("rfm_state", RfmState, RfmState, "RFM's change-log position"),
    )
}


def _spec(name: str) -> Document[Any]:
    try:
        return DOCUMENTS[name]
    except KeyError:
        raise NotFoundError(
            f"no setting named {name!r}", hint=f"settings: {', '.join(sorted(DOCUMENTS))}"
        ) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def parse(name: str, raw: Any) -> BaseModel:
    """Validate `raw` (JSON-shaped) as the named document; errors name the path."""
    spec = _spec(name)
    try:
        model: BaseModel = spec.model.model_validate_json(orjson.dumps(raw, default=_json_default))
    except ValidationError as invalid:
        first = invalid.errors()[0]
        where = ".".join([name, *(str(p) for p in first["loc"])])
        raise DataError(
            f"{where}: {first['msg']}",
            field=where,
            code=str(first["type"]),
            hint=f"see docs/leads.md for the {spec.description} format",
        ) from None
    return model


def get(session: Session, tenant_id: uuid.UUID, name: str) -> tuple[Any, int]:
    """The tenant's document and its version (0 = the built-in default)."""
    spec = _spec(name)
    row = session.execute(
        select(_SETTING.c.document, _SETTING.c.version).where(
            _SETTING.c.tenant_id == tenant_id, _SETTING.c.name == name
        )
    ).first()
    if row is None:
        return spec.default(), 0
    return parse(name, row.document), int(row.version)


def put(session: Session, tenant_id: uuid.UUID, name: str, raw: Any) -> tuple[Any, int]:
    """Validate and store a document; return it and its new version."""
    model = parse(name, raw)
    document = orjson.loads(model.model_dump_json())
    current = session.execute(
        select(_SETTING.c.version)
        .where(_SETTING.c.tenant_id == tenant_id, _SETTING.c.name == name)
        .with_for_update()
    ).scalar()
    if current is None:
        session.execute(
            insert(_SETTING).values(
                tenant_id=tenant_id, name=name, document=document, version=1, updated_at=utcnow()
            )
        )
        return model, 1
    session.execute(
        update(_SETTING)
        .where(_SETTING.c.tenant_id == tenant_id, _SETTING.c.name == name)
        .values(document=document, version=current + 1, updated_at=utcnow())
    )
    return model, int(current) + 1


def dump(model: BaseModel) -> Any:
    """A document as JSON-shaped data (what the API returns)."""
    return orjson.loads(model.model_dump_json())
