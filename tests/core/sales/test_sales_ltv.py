"""LTV formulas and the inputs derived from orders (l2c-anchors.md §b11)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.sales.ltv import (
    LtvInputs,
    LtvMethod,
    PlacedOrder,
    account_ltv,
    discounted_ltv,
    ltv_inputs,
    margin_ltv,
    transactional_ltv,
)

D = Decimal
START, END = date(2023, 1, 1), date(2023, 12, 31)  # 364 + 1 = 365 days
ORDERS = [
    PlacedOrder(date(2022, 12, 31), D("999.00")),  # before the window: ignored
    PlacedOrder(date(2023, 1, 10), D("100.00")),
    PlacedOrder(date(2023, 6, 1), D("300.00")),
    PlacedOrder(date(2023, 12, 1), D("200.00")),
]


def test_inputs_from_orders_in_the_window() -> None:
    # AOV = (100 + 300 + 200) / 3 = 200; frequency = 3 * 365 / 365 = 3 a year
    assert ltv_inputs(ORDERS, window_start=START, window_end=END) == LtvInputs(
        order_count=3, aov=D(200), frequency_per_year=D(3), window_days=365
    )


def test_one_order_takes_its_frequency_from_the_window() -> None:
    # window 2022-01-01..2023-12-31 = 729 + 1 = 730 days; frequency = 1 * 365 / 730 = 0.5
    one = [PlacedOrder(date(2023, 3, 1), D("250.00"))]
    inputs = ltv_inputs(one, window_start=date(2022, 1, 1), window_end=END)
    assert (inputs.order_count, inputs.aov, inputs.frequency_per_year) == (1, D(250), D("0.5"))


def test_no_orders_give_zero_inputs_and_zero_ltv() -> None:
    inputs = ltv_inputs([], window_start=START, window_end=END)
    assert (inputs.aov, inputs.frequency_per_year) == (D(0), D(0))
    assert account_ltv([], window_start=START, window_end=END, lifespan_years=D(3)) == 0


def test_window_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        ltv_inputs(ORDERS, window_start=END, window_end=START)


def test_transactional_ltv() -> None:
    # 200 * 3 * 2.5 = 1500
    assert transactional_ltv(D(200), D(3), D("2.5")) == D(1500)


def test_margin_ltv() -> None:
    # 200 * 3 * 2.5 * 0.40 = 1500 * 0.40 = 600
    assert margin_ltv(D(200), D(3), D("2.5"), D("0.40")) == D(600)


@pytest.mark.parametrize(
    ("retention", "discount", "expected"),
    [
        ("0.8", "0.1", "2200"),  # 600 * 1.1 / (1.1 - 0.8) = 660 / 0.3 = 2200
        ("1", "0.1", "6600"),  # never churns: 600 * 1.1 / 0.1 = 6600
        ("0", "0.1", "600"),  # leaves at once: only this year's margin, 600 * 1.1 / 1.1
        ("0.5", "0", "1200"),  # no discounting: 600 / (1 - 0.5) = 1200
    ],
)
def test_discounted_ltv(retention: str, discount: str, expected: str) -> None:
    assert discounted_ltv(D(600), D(retention), D(discount)) == D(expected)


@pytest.mark.parametrize(
    ("retention", "discount", "message"),
    [
        ("1", "0", "below 1 \\+ discount_rate"),
        ("1.2", "0.5", "retention must be between 0 and 1"),
        ("-0.1", "0.1", "retention must be between 0 and 1"),
        ("0.5", "-0.1", "discount_rate must be >= 0"),
    ],
)
def test_discounted_ltv_refuses_a_divergent_or_meaningless_rate(
    retention: str, discount: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        discounted_ltv(D(600), D(retention), D(discount))


def test_rates_are_validated() -> None:
    with pytest.raises(ValueError, match="gross_margin"):
        margin_ltv(D(200), D(3), D(2), D("1.2"))
    with pytest.raises(ValueError, match="lifespan_years"):
        transactional_ltv(D(200), D(3), D(-1))


@given(
    m=st.decimals(min_value=0, max_value=10_000, places=2),
    r=st.decimals(min_value=0, max_value="0.9", places=2),
    d=st.decimals(min_value=0, max_value="0.5", places=2),
)
def test_discounted_ltv_is_the_sum_of_the_series(m: Decimal, r: Decimal, d: Decimal) -> None:
    # sum over t of m * r^t / (1+d)^t; with r/(1+d) <= 0.9, 400 terms leave < 1e-17 of m
    ratio, term, partial = r / (1 + d), m, D(0)
    for _ in range(400):
        partial, term = partial + term, term * ratio
    assert abs(discounted_ltv(m, r, d) - partial) <= D("1e-12") * (m + 1)


# ------------------------------------------------------------------ account_ltv


def test_account_ltv_defaults_to_transactional() -> None:
    # AOV 200, 3 a year (see above), lifespan 2.5 -> 1500
    got = account_ltv(ORDERS, window_start=START, window_end=END, lifespan_years=D("2.5"))
    assert got == D(1500)


def test_account_ltv_margin_and_discounted() -> None:
    # margin: 1500 * 0.4 = 600
    margin = account_ltv(
        ORDERS,
        window_start=START,
        window_end=END,
        method=LtvMethod.MARGIN,
        lifespan_years=D("2.5"),
        gross_margin=D("0.4"),
    )
    assert margin == D(600)
    # discounted: m = 200 * 3 * 0.4 = 240 a year; 240 * 1.1 / (1.1 - 0.8) = 264 / 0.3 = 880
    discounted = account_ltv(
        ORDERS,
        window_start=START,
        window_end=END,
        method=LtvMethod.DISCOUNTED,
        gross_margin=D("0.4"),
        retention=D("0.8"),
        discount_rate=D("0.1"),
    )
    assert discounted == D(880)


@pytest.mark.parametrize(
    ("method", "missing"),
    [
        (LtvMethod.TRANSACTIONAL, "lifespan_years"),
        (LtvMethod.MARGIN, "gross_margin"),
        (LtvMethod.DISCOUNTED, "retention"),
    ],
)
def test_account_ltv_names_a_missing_parameter(method: LtvMethod, missing: str) -> None:
    kwargs = {"lifespan_years": D(2)} if method is LtvMethod.MARGIN else {}
    if method is LtvMethod.DISCOUNTED:
        kwargs = {"gross_margin": D("0.4"), "discount_rate": D("0.1")}
    with pytest.raises(ValueError, match=missing):
        account_ltv(ORDERS, window_start=START, window_end=END, method=method, **kwargs)
