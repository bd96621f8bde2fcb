"""Customer lifetime value, three ways (research note l2c-anchors.md §b11).

All money is Decimal and nothing is rounded here: callers round once, for display.
Rates are Decimal fractions (0.35 for 35 %). Periods are years throughout: purchase
frequency is per year, lifespan in years, retention and discount rates per year.

The inputs come from an account's orders by one rule (`ltv_inputs`):
    AOV                 = sum(amounts) / number of orders
    frequency per year  = number of orders / (observation window in days / 365)
Frequency always uses the observation window, not the span from first to last order:
with one order there is no span, and a rule that switched on the order count would
make one extra order jump the estimate. One order in a 730-day window is 0.5 a year.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

DAYS_PER_YEAR = Decimal(365)
_ZERO = Decimal(0)
_ONE = Decimal(1)


class LtvMethod(StrEnum):
    TRANSACTIONAL = "transactional"  # the default
    MARGIN = "margin"
    DISCOUNTED = "discounted"


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """One order of an account: the day it was placed and its amount."""

    placed_on: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class LtvInputs:
    """What the formulas need, derived from orders inside one observation window."""

    order_count: int
    aov: Decimal
    frequency_per_year: Decimal
    window_days: int


def ltv_inputs(orders: Iterable[PlacedOrder], *, window_start: date, window_end: date) -> LtvInputs:
    """Derive AOV and yearly frequency from the orders placed in [window_start, window_end].

    Orders outside the window are ignored (the window is the observation, by definition).
    Amounts are taken as given: net refunds into their order before calling.
    The window counts both ends, so 2024-01-01..2024-12-30 is 365 days. No orders give
    AOV 0 and frequency 0, hence an LTV of 0.
    """
    if window_end < window_start:
        raise ValueError(f"window ends ({window_end}) before it starts ({window_start})")
    window_days = (window_end - window_start).days + 1
    amounts = [o.amount for o in orders if window_start <= o.placed_on <= window_end]
    if not amounts:
        return LtvInputs(0, _ZERO, _ZERO, window_days)
    count = len(amounts)
    aov = sum(amounts, _ZERO) / count
    frequency = Decimal(count) * DAYS_PER_YEAR / window_days
    return LtvInputs(count, aov, frequency, window_days)


def transactional_ltv(
    aov: Decimal, frequency_per_year: Decimal, lifespan_years: Decimal
) -> Decimal:
    """LTV = AOV × purchase frequency per year × expected lifespan in years (§b11)."""
    _non_negative(frequency_per_year=frequency_per_year, lifespan_years=lifespan_years)
    return aov * frequency_per_year * lifespan_years


def margin_ltv(
    aov: Decimal, frequency_per_year: Decimal, lifespan_years: Decimal, gross_margin: Decimal
) -> Decimal:
    """LTV = AOV × frequency per year × lifespan years × gross margin (§b11, profit LTV)."""
    _fraction("gross_margin", gross_margin)
    return transactional_ltv(aov, frequency_per_year, lifespan_years) * gross_margin


def discounted_ltv(margin_per_year: Decimal, retention: Decimal, discount_rate: Decimal) -> Decimal:
    """LTV = m × (1 + d) / (1 + d − r) (§b11).

    This is the closed form of Σₜ₌₀..∞ m × rᵗ / (1 + d)ᵗ: the current year's margin counts
    in full, each later year is kept with probability r (retention) and discounted by d.
    The series converges only when r < 1 + d; with r in [0, 1] and d ≥ 0 that excludes
    exactly r = 1 with d = 0 (a customer who never leaves, valued without discounting).
    """
    _fraction("retention", retention)
    if discount_rate < 0:
        raise ValueError(f"discount_rate must be >= 0, got {discount_rate}")
    if not retention < _ONE + discount_rate:
        raise ValueError(
            f"retention ({retention}) must be below 1 + discount_rate ({discount_rate}); "
            "otherwise the lifetime value is infinite"
        )
    return margin_per_year * (_ONE + discount_rate) / (_ONE + discount_rate - retention)


def account_ltv(
    orders: Iterable[PlacedOrder],
    *,
    window_start: date,
    window_end: date,
    method: LtvMethod = LtvMethod.TRANSACTIONAL,
    lifespan_years: Decimal | None = None,
    gross_margin: Decimal | None = None,
    retention: Decimal | None = None,
    discount_rate: Decimal | None = None,
) -> Decimal:
    """One account's LTV from its orders by the chosen method.

    transactional needs ``lifespan_years``; margin also ``gross_margin``; discounted needs
    ``gross_margin``, ``retention`` and ``discount_rate`` and uses the yearly margin
    m = AOV × frequency per year × gross margin. A missing parameter is a ValueError.
    """
    inputs = ltv_inputs(orders, window_start=window_start, window_end=window_end)
    if method is LtvMethod.DISCOUNTED:
        margin = _required("gross_margin", gross_margin)
        _fraction("gross_margin", margin)
        m = inputs.aov * inputs.frequency_per_year * margin
        return discounted_ltv(
            m, _required("retention", retention), _required("discount_rate", discount_rate)
        )
    lifespan = _required("lifespan_years", lifespan_years)
    if method is LtvMethod.MARGIN:
        return margin_ltv(
            inputs.aov,
            inputs.frequency_per_year,
            lifespan,
            _required("gross_margin", gross_margin),
        )
    return transactional_ltv(inputs.aov, inputs.frequency_per_year, lifespan)


def _required(name: str, value: Decimal | None) -> Decimal:
    if value is None:
        raise ValueError(f"{name} is required for this LTV method")
    return value


def _fraction(name: str, value: Decimal) -> None:
    if not _ZERO <= value <= _ONE:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


def _non_negative(**values: Decimal) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
