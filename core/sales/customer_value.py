"""RFM scores, segments and lifetime value of accounts, computed over the store.

Definitions (research note l2c-anchors.md §b10, §b11; pure maths in core.sales.rfm/ltv):

- A **purchase** is a `sales_order` with an account, an order date inside the window and a
  status other than ``draft`` or ``cancelled`` (``confirmed``, ``in_fulfilment``,
  ``fulfilled`` and no status at all count: an ERP that sends no status sends booked
  orders). Orders are the input; payments and invoices are not, because the order is
  the buying decision while payment timing follows credit terms, and counting both
  would count one sale twice.
- The **window** is the ``window_days`` days ending on ``as_of``, both ends included.
  Orders dated after ``as_of`` are not yet placed as of that day.
- **Recency** = days from the last purchase to ``as_of``; **Frequency** = purchases;
  **Monetary** = the sum of their net amounts (VAT excluded: tax is not customer value),
  the total amount standing in when an order has no net amount, 0 when it has neither.
- **Currency**: only orders in the settings' currency count, for all three values.
  Orders without a currency are taken to be in it (single-currency ERPs omit it) and
  counted in the report. Orders in any other currency are left out and reported per
  currency; an account with only such orders is not scored. Nothing is converted.
- Accounts with no purchase in the window are not scored. An account scored before
  that no longer qualifies loses its `account_rfm` row and gets a history row with
  ``to_segment = "lapsed"`` (the column is required): `account_rfm` always holds
  exactly the accounts of the latest computation.
- **History**: one `account_segment_change` row per account whose segment changed,
  including the first computation (``from_segment`` NULL). A change of cell inside
  the same segment is not history.
- **LTV** uses the same window and orders (`ltv.ltv_inputs`' definitions, from the
  aggregates) and the settings' method; inputs are kept in full in `ltv_detail`, the
  value is rounded once, to 4 places, when stored.

Sums run in SQL per account (GROUP BY); on SQLite, where money is stored as text, an
exact Decimal aggregate registered on the connection does the sum instead of SUM's float.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field, field_validator
from sqlalchemy import ColumnElement, case, delete, exists, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import DataError
from core.ids import new_id
from core.model.tables import AccountRfm, AccountSegmentChange, Order, RecordChange, table_of
from core.model.tables.base import ExactDecimal
from core.sales import documents
from core.sales.documents import RfmSettings, RfmState
from core.sales.ltv import (
    DAYS_PER_YEAR,
    LtvMethod,
    discounted_ltv,
    margin_ltv,
    transactional_ltv,
)
from core.sales.rfm import AccountActivity, RfmScore, Segment, score_accounts, transitions
from core.store.bulk import bulk_writer

INPUT_ENTITIES = ("order",)
"""Change-log entities whose changes make RFM stale (see the module docstring)."""
NOT_PURCHASES = ("draft", "cancelled")
LAPSED = "lapsed"
"""`to_segment` of a history row whose account left RFM (no purchase in the window)."""

_ORDER = table_of(Order)
_RFM = table_of(AccountRfm)
_CHANGE = table_of(AccountSegmentChange)
_LOG = table_of(RecordChange)
_CENT = Decimal("0.0001")
_ZERO = Decimal(0)
_FORMULAS = {
    LtvMethod.TRANSACTIONAL: "AOV × frequency per year × lifespan years",
    LtvMethod.MARGIN: "AOV × frequency per year × lifespan years × margin rate",
    LtvMethod.DISCOUNTED: "m × (1 + d) / (1 + d − r), m = AOV × frequency per year × margin rate",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class CurrencyExcluded(_Frozen):
    """Purchases in a currency other than the settings' (left out, never converted)."""

    currency: str
    orders: int
    accounts: int
    amount: Decimal


class RfmReport(_Frozen):
    """What one `recompute` did. A skipped run (nothing changed since the last one) wrote
    nothing and reports zero counts."""

    as_of: date
    window_start: date
    currency: str
    skipped: bool = False
    accounts_scored: int = 0
    accounts_lapsed: int = 0
    segment_changes: int = 0
    orders_counted: int = 0
    orders_without_currency: int = 0
    orders_without_amount: int = 0
    orders_without_account_or_date: int = 0
    other_currencies: tuple[CurrencyExcluded, ...] = ()
    accounts_only_other_currency: int = 0
    last_seq: int
    settings_version: int


class LtvDetail(_Frozen):
    """The formula and its inputs, so a reader can redo the arithmetic."""

    formula: str
    order_count: int
    window_days: int
    aov: Decimal
    frequency_per_year: Decimal
    lifespan_years: Decimal | None = None
    margin_rate: Decimal | None = None
    retention_rate: Decimal | None = None
    discount_rate: Decimal | None = None


class SegmentChange(_Frozen):
    """One history row; ``to_segment`` None means the account lapsed (left RFM)."""

    as_of: date
    from_segment: Segment | None
    to_segment: Segment | None
    from_cell: str | None
    to_cell: str | None
    at: datetime

    @field_validator("to_segment", "to_cell", mode="before")
    @classmethod
    def _lapsed_is_none(cls, value: Any) -> Any:
        return None if value in (LAPSED, "") else value


class AccountValue(_Frozen):
    """An account's latest RFM scores, segment and LTV, with its history newest first."""

    account_id: uuid.UUID
    as_of: date
    currency: str | None
    recency_days: int | None
    frequency: int
    monetary: Decimal
    r: int
    f: int
    m: int
    segment: Segment
    ltv: Decimal | None
    ltv_method: LtvMethod | None
    ltv_detail: LtvDetail | None
    computed_at: datetime
    history: tuple[SegmentChange, ...]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cell(self) -> str:
        """The "RFM" cell, e.g. "542"."""
        return f"{self.r}{self.f}{self.m}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def score(self) -> int:
        """R + F + M (3..15)."""
        return self.r + self.f + self.m


class SegmentCount(_Frozen):
    """Accounts and their summed monetary value in one segment."""

    segment: Segment
    accounts: int
    monetary: Decimal
    currency: str


@dataclass
class _Bucket:
    account_id: uuid.UUID
    orders: int = 0
    last: date | None = None
    amount: Decimal = _ZERO


# ----------------------------------------------------------------------------- public
def inputs_changed(session: Session, tenant_id: uuid.UUID) -> bool:
    """Whether orders changed, or the `rfm` settings did, since the last computation."""
    state, _ = documents.get(session, tenant_id, "rfm_state")
    _, version = documents.get(session, tenant_id, "rfm")
    return version != state.settings_version or _orders_changed(session, tenant_id, state)


def recompute(
    session: Session, tenant_id: uuid.UUID, *, as_of: date | None = None, force: bool = False
) -> RfmReport:
    """Rescore every account with purchases as of ``as_of`` (default: today, UTC).

    Without ``force`` nothing is written when the inputs, the settings and the date are
    those of the last run. Never commits.
    """
    as_of = as_of or utcnow().date()
    if as_of.year < 1900:
        raise DataError(
            f"as_of: {as_of.isoformat()} is before 1900",
            field="as_of",
            code="out_of_range",
            hint="give the date the scores are as of, e.g. today",
        )
    settings, version = documents.get(session, tenant_id, "rfm")
    state, _ = documents.get(session, tenant_id, "rfm_state")
    window_start = as_of - timedelta(days=settings.window_days - 1)
    unchanged = state.as_of == as_of and state.settings_version == version
    if not force and unchanged and not _orders_changed(session, tenant_id, state):
        return RfmReport(
            as_of=as_of,
            window_start=window_start,
            currency=settings.currency,
            skipped=True,
            last_seq=state.last_seq,
            settings_version=state.settings_version,
        )
    # Writing the state first locks its row: a concurrent run waits for this one to commit.
    documents.put(session, tenant_id, "rfm_state", documents.dump(state))
    last_seq = session.scalar(select(func.max(_LOG.c.seq)).where(_LOG.c.tenant_id == tenant_id))
    last_seq = int(last_seq or 0)

    rows = _order_aggregates(session, tenant_id, window_start, as_of)
    own: dict[str, _Bucket] = {}  # by account id text, as core.sales.rfm keys accounts
    foreign: dict[str, dict[str, _Bucket]] = {}
    no_currency = no_amount = 0
    for account_id, currency, orders, last, amount, missing in rows:
        if currency is None or currency == settings.currency:
            bucket = own.setdefault(str(account_id), _Bucket(account_id))
            no_currency += orders if currency is None else 0
            no_amount += int(missing)
        else:
            accounts = foreign.setdefault(currency, {})
            bucket = accounts.setdefault(str(account_id), _Bucket(account_id))
        bucket.orders += int(orders)
        bucket.last = last if bucket.last is None else max(bucket.last, last)
        bucket.amount += amount

    result = score_accounts(
        (AccountActivity(a, b.last, b.orders, b.amount) for a, b in own.items()),
        as_of=as_of,
    )
    previous = _current_rows(session, tenant_id)
    now = utcnow()
    writer = bulk_writer(session)
    writer.upsert(
        _RFM,
        ["account_id"],
        _RFM_COLUMNS,
        [_rfm_row(tenant_id, s, own, settings, as_of, window_start, now) for s in result.scores],
    )
    current = {s.account_id: s for s in result.scores}
    moves = transitions(
        {a: Segment(seg) for a, (seg, _) in previous.items()},
        {a: s.segment for a, s in current.items()},
    )
    history = [
        (
            new_id(), tenant_id, uuid.UUID(move.account_id), as_of,
            move.before.value if move.before else None,
            move.after.value if move.after else LAPSED,
            previous[move.account_id][1] if move.before else None,
            current[move.account_id].cell if move.after else "",
            now,
        )
        for move in moves
    ]  # fmt: skip
    writer.insert(_CHANGE, _CHANGE_COLUMNS, history)
    lapsed = sorted(uuid.UUID(a) for a in previous.keys() - current.keys())
    for start in range(0, len(lapsed), 500):
        session.execute(
            delete(_RFM).where(
                _RFM.c.tenant_id == tenant_id, _RFM.c.account_id.in_(lapsed[start : start + 500])
            )
        )
    new_state = RfmState(last_seq=last_seq, as_of=as_of, settings_version=version)
    documents.put(session, tenant_id, "rfm_state", documents.dump(new_state))

    only_foreign = set().union(*(f.keys() for f in foreign.values())) - own.keys()
    return RfmReport(
        as_of=as_of,
        window_start=window_start,
        currency=settings.currency,
        skipped=False,
        accounts_scored=len(result.scores),
        accounts_lapsed=len(lapsed),
        segment_changes=len(history),
        orders_counted=sum(b.orders for b in own.values()),
        orders_without_currency=no_currency,
        orders_without_amount=no_amount,
        orders_without_account_or_date=_unplaced_orders(session, tenant_id),
        other_currencies=tuple(
            CurrencyExcluded(
                currency=code,
                orders=sum(b.orders for b in accounts.values()),
                accounts=len(accounts),
                amount=sum((b.amount for b in accounts.values()), _ZERO),
            )
            for code, accounts in sorted(foreign.items())
        ),
        accounts_only_other_currency=len(only_foreign),
        last_seq=last_seq,
        settings_version=version,
    )


def account_rfm(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID
) -> AccountValue | None:
    """The account's latest RFM and LTV; None when it is not scored (no purchases)."""
    row = session.execute(
        select(_RFM).where(_RFM.c.tenant_id == tenant_id, _RFM.c.account_id == account_id)
    ).first()
    if row is None:
        return None
    history = segment_history(session, tenant_id, account_id)
    return AccountValue.model_validate({**row._mapping, "history": history})


def segment_history(
    session: Session, tenant_id: uuid.UUID, account_id: uuid.UUID
) -> tuple[SegmentChange, ...]:
    """An account's segment changes, newest first (also for lapsed accounts)."""
    rows = session.execute(
        select(_CHANGE)
        .where(_CHANGE.c.tenant_id == tenant_id, _CHANGE.c.account_id == account_id)
        .order_by(_CHANGE.c.at.desc(), _CHANGE.c.as_of.desc())
    )
    return tuple(SegmentChange.model_validate(r._mapping) for r in rows)


def segments(session: Session, tenant_id: uuid.UUID) -> list[SegmentCount]:
    """All ten segments in map order, with account counts and summed monetary (0 if empty)."""
    settings, _ = documents.get(session, tenant_id, "rfm")
    found = {
        (seg, currency): (int(count), total)
        for seg, currency, count, total in session.execute(
            select(
                _RFM.c.segment,
                _RFM.c.currency,
                func.count(),
                _decimal_sum(session, _RFM.c.monetary),
            )
            .where(_RFM.c.tenant_id == tenant_id)
            .group_by(_RFM.c.segment, _RFM.c.currency)
        )
    }
    currencies = sorted({c for _, c in found if c}) or [settings.currency]
    return [
        SegmentCount(segment=seg, accounts=count, monetary=total, currency=code)
        for code in currencies
        for seg in Segment
        for count, total in [found.get((seg.value, code), (0, _ZERO))]
    ]


# ----------------------------------------------------------------------------- internals
_RFM_COLUMNS = [
    "tenant_id", "as_of", "recency_days", "frequency", "monetary", "currency", "r", "f", "m",
    "segment", "ltv", "ltv_method", "ltv_detail", "computed_at",
]  # fmt: skip
_CHANGE_COLUMNS = [
    "id", "tenant_id", "account_id", "as_of", "from_segment", "to_segment", "from_cell",
    "to_cell", "at",
]  # fmt: skip


def _orders_changed(session: Session, tenant_id: uuid.UUID, state: RfmState) -> bool:
    newer = select(_LOG.c.seq).where(
        _LOG.c.seq > state.last_seq,
        _LOG.c.tenant_id == tenant_id,
        _LOG.c.entity.in_(INPUT_ENTITIES),
    )
    return bool(session.scalar(select(exists(newer))))


def _is_purchase() -> ColumnElement[bool]:
    return or_(_ORDER.c.status.is_(None), _ORDER.c.status.not_in(NOT_PURCHASES))


def _order_aggregates(
    session: Session, tenant_id: uuid.UUID, start: date, end: date
) -> Sequence[Any]:
    """(account, currency, orders, last date, amount, orders without amount) per pair."""
    amount = func.coalesce(_ORDER.c.net_amount, _ORDER.c.total_amount)
    missing = func.sum(case((amount.is_(None), 1), else_=0))
    return session.execute(
        select(
            _ORDER.c.account_id,
            _ORDER.c.currency,
            func.count(),
            func.max(_ORDER.c.order_date),
            _decimal_sum(session, amount),
            missing,
        )
        .where(
            _ORDER.c.tenant_id == tenant_id,
            _ORDER.c.account_id.is_not(None),
            _ORDER.c.order_date.between(start, end),
            _is_purchase(),
        )
        .group_by(_ORDER.c.account_id, _ORDER.c.currency)
    ).all()


def _unplaced_orders(session: Session, tenant_id: uuid.UUID) -> int:
    """Purchases that cannot be placed: no account or no order date."""
    return int(
        session.scalar(
            select(func.count()).where(
                _ORDER.c.tenant_id == tenant_id,
                or_(_ORDER.c.account_id.is_(None), _ORDER.c.order_date.is_(None)),
                _is_purchase(),
            )
        )
        or 0
    )


def _current_rows(session: Session, tenant_id: uuid.UUID) -> dict[str, tuple[str, str]]:
    """Account id (text, as core.sales.rfm keys them) -> (segment, cell) of stored rows."""
    rows = session.execute(
        select(_RFM.c.account_id, _RFM.c.segment, _RFM.c.r, _RFM.c.f, _RFM.c.m).where(
            _RFM.c.tenant_id == tenant_id
        )
    )
    return {str(r.account_id): (r.segment, f"{r.r}{r.f}{r.m}") for r in rows}


def _rfm_row(
    tenant_id: uuid.UUID,
    score: RfmScore,
    own: dict[str, _Bucket],
    settings: RfmSettings,
    as_of: date,
    window_start: date,
    now: datetime,
) -> tuple[Any, ...]:
    bucket = own[score.account_id]
    window_days = (as_of - window_start).days + 1
    ltv, detail = _ltv(bucket, settings, window_days)
    return (
        bucket.account_id, tenant_id, as_of, score.recency_days, score.frequency,
        score.monetary.quantize(_CENT, ROUND_HALF_UP), settings.currency, score.r, score.f,
        score.m, score.segment.value, ltv, settings.ltv_method.value,
        detail, now,
    )  # fmt: skip


def _ltv(
    bucket: _Bucket, settings: RfmSettings, window_days: int
) -> tuple[Decimal, dict[str, Any]]:
    """LTV by the settings' method from an account's aggregates (`ltv.ltv_inputs` rules),
    and its `LtvDetail` as JSON (built by hand: pydantic per row doubled the run time)."""
    aov = bucket.amount / bucket.orders
    frequency = Decimal(bucket.orders) * DAYS_PER_YEAR / window_days
    method = settings.ltv_method
    detail: dict[str, Any] = {
        "formula": _FORMULAS[method],
        "order_count": bucket.orders,
        "window_days": window_days,
        "aov": aov,
        "frequency_per_year": frequency,
    }
    if method is LtvMethod.TRANSACTIONAL:
        value = transactional_ltv(aov, frequency, settings.lifespan_years)
        detail |= {"lifespan_years": settings.lifespan_years}
    elif method is LtvMethod.MARGIN:
        value = margin_ltv(aov, frequency, settings.lifespan_years, settings.margin_rate)
        detail |= {"lifespan_years": settings.lifespan_years, "margin_rate": settings.margin_rate}
    else:
        margin = aov * frequency * settings.margin_rate
        value = discounted_ltv(margin, settings.retention_rate, settings.discount_rate)
        detail |= {
            "margin_rate": settings.margin_rate,
            "retention_rate": settings.retention_rate,
            "discount_rate": settings.discount_rate,
        }
    json = {k: str(v) if isinstance(v, Decimal) else v for k, v in detail.items()}
    return value.quantize(_CENT, ROUND_HALF_UP), json


class _DecimalSum:
    """Exact SUM for SQLite, where ExactDecimal columns hold canonical decimal text."""

    def __init__(self) -> None:
        self.total = _ZERO

    def step(self, value: Any) -> None:
        if value is not None:
            self.total += Decimal(str(value))

    def finalize(self) -> str:
        return str(self.total)


def _decimal_sum(session: Session, column: ColumnElement[Any]) -> ColumnElement[Decimal]:
    """SUM(column) as an exact Decimal on both dialects (0 for no rows)."""
    if session.get_bind().dialect.name != "sqlite":
        return type_coerce(func.coalesce(func.sum(column), 0), ExactDecimal())
    raw: Any = session.connection().connection.driver_connection
    raw.create_aggregate("l2c_decimal_sum", 1, _DecimalSum)
    return type_coerce(func.l2c_decimal_sum(column), ExactDecimal())
