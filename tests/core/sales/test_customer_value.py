"""RFM, LTV and segment history over the store (core.sales.customer_value), both dialects.

The fixture tenant has six scored accounts A-F with known orders, as of 2026-06-30 and
the default 730-day window (2024-07-01..2026-06-30). With six distinct values the
min-rank rule scores worst..best as 1, 1, 2, 3, 4, 5 (score = 1 + floor(5*worse/6)):

    acct  recency  orders  monetary   R F M  segment
    A        5        5     500.50    5 4 2  champions          (5[4-5])
    B       10        4    1200.00    4 3 3  potential_loyalists ([4-5][2-3])
    C       30        3    3000.00    3 2 4  about_to_sleep     (3[1-2])
    D      100        2     100.00    2 1 1  hibernating        ([1-2][1-2])
    E      200        1    5000.00    1 1 5  hibernating
    F      400        6      60.00    1 5 1  cant_lose          ([1-2]5)

Left out: A's USD order, G's two USD orders (G is not scored), B's draft and cancelled
orders, C's order 800 days back (outside the window) and one order without an account.
D's second order has no currency and counts as CNY.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from core.model.entities import ENTITIES
from core.model.tables import Account, AccountRfm, AccountSegmentChange, Order, Tenant, table_of
from core.sales import documents
from core.sales.customer_value import (
    CurrencyExcluded,
    account_rfm,
    inputs_changed,
    recompute,
    segment_history,
    segments,
)
from core.sales.ltv import LtvMethod
from core.sales.rfm import Segment
from core.store.direct import create_record, patch_record

AS_OF = date(2026, 6, 30)
ORDERS = table_of(Order)
S = Segment


def _orders(
    session: Session, tenant: Tenant, account: uuid.UUID | None, spec: list[tuple[Any, ...]]
) -> None:
    """Insert orders (days before AS_OF, amount, currency, status) straight into the table."""
    session.execute(
        insert(ORDERS),
        [
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant.id,
                "number": f"SO-{uuid.uuid4().hex[:8]}",
                "account_id": account,
                "order_date": AS_OF - timedelta(days=days),
                "currency": currency,
                "status": status,
                "net_amount": Decimal(amount),
            }
            for days, amount, currency, status in spec
        ],
    )


def _n(days: list[int], amount: str) -> list[tuple[Any, ...]]:
    return [(d, amount, "CNY", "confirmed") for d in days]


@pytest.fixture
def accounts(sessions: sessionmaker[Session], tenant: Tenant) -> dict[str, uuid.UUID]:
    with sessions.begin() as session:
        ids = {}
        for name in "ABCDEFG":
            account = Account(tenant_id=tenant.id, name=f"Account {name}")
            session.add(account)
            session.flush()
            ids[name] = account.id
        _orders(
            session, tenant, ids["A"], [*_n([5, 6, 7, 8, 9], "100.10"), (2, "999", "USD", None)]
        )
        _orders(
            session,
            tenant,
            ids["B"],
            [
                *_n([10, 11, 12, 13], "300"),
                (1, "10000", "CNY", "draft"),
                (1, "10000", "CNY", "cancelled"),
            ],
        )
        _orders(session, tenant, ids["C"], [*_n([30, 31, 32], "1000"), *_n([800], "9999")])
        _orders(
            session, tenant, ids["D"], [(100, "50", "CNY", None), (101, "50", None, "fulfilled")]
        )
        _orders(session, tenant, ids["E"], _n([200], "5000"))
        _orders(session, tenant, ids["F"], _n([400, 401, 402, 403, 404, 405], "10"))
        _orders(session, tenant, ids["G"], [(29, "20", "USD", "confirmed")] * 2)
        _orders(session, tenant, None, _n([3], "777"))
    return ids


def _run(sessions: sessionmaker[Session], tenant: Tenant, **kwargs: Any) -> Any:
    with sessions.begin() as session:
        return recompute(session, tenant.id, as_of=kwargs.pop("as_of", AS_OF), **kwargs)


def _stored(
    sessions: sessionmaker[Session], ids: dict[str, uuid.UUID]
) -> dict[str, tuple[str, str]]:
    names = {v: k for k, v in ids.items()}
    with sessions() as session:
        rows = session.execute(select(AccountRfm)).scalars()
        return {names[r.account_id]: (f"{r.r}{r.f}{r.m}", r.segment) for r in rows}


def test_first_computation_scores_segments_and_reports_left_out_orders(
    sessions: sessionmaker[Session], tenant: Tenant, accounts: dict[str, uuid.UUID]
) -> None:
    report = _run(sessions, tenant)

    assert _stored(sessions, accounts) == {
        "A": ("542", "champions"),
        "B": ("433", "potential_loyalists"),
        "C": ("324", "about_to_sleep"),
        "D": ("211", "hibernating"),
        "E": ("115", "hibernating"),
        "F": ("151", "cant_lose"),
    }
    assert report.window_start == date(2024, 7, 1)
    assert report.accounts_scored == 6
    assert report.segment_changes == 6  # first computation: one row each, from NULL
    assert report.orders_counted == 5 + 4 + 3 + 2 + 1 + 6
    assert report.orders_without_currency == 1
    assert report.orders_without_amount == 0
    assert report.orders_without_account_or_date == 1
    # A's 999 + G's 2 x 20, never mixed into CNY
    assert report.other_currencies == (
        CurrencyExcluded(currency="USD", orders=3, accounts=2, amount=Decimal("1039")),
    )
    assert report.accounts_only_other_currency == 1
    assert report.skipped is False


def test_account_value_shows_exact_monetary_ltv_inputs_and_first_history(
    sessions: sessionmaker[Session], tenant: Tenant, accounts: dict[str, uuid.UUID]
) -> None:
    _run(sessions, tenant)
    with sessions() as session:
        value = account_rfm(session, tenant.id, accounts["A"])
        assert account_rfm(session, tenant.id, accounts["G"]) is None
    assert value is not None
    # 5 x 100.10 exactly (a float SUM would give 500.49999999999994)
    assert value.monetary == Decimal("500.50")
    assert (value.recency_days, value.frequency, value.cell, value.score) == (5, 5, "542", 11)
    assert value.segment is S.CHAMPIONS
    assert value.currency == "CNY"
    # transactional: AOV 100.10 x (5 orders x 365 / 730 days = 2.5 a year) x 3 years
    assert value.ltv_method is LtvMethod.TRANSACTIONAL
    assert value.ltv == Decimal("750.75")
    detail = value.ltv_detail
    assert detail is not None
    assert (detail.aov, detail.frequency_per_year, detail.lifespan_years) == (
        Decimal("100.10"),
        Decimal("2.5"),
        Decimal(3),
    )
    assert (detail.order_count, detail.window_days) == (5, 730)
    assert [(h.from_segment, h.to_segment, h.from_cell, h.to_cell) for h in value.history] == [
        (None, S.CHAMPIONS, None, "542")
    ]


def test_new_orders_move_segments_and_append_transition_rows(
    sessions: sessionmaker[Session], tenant: Tenant, accounts: dict[str, uuid.UUID]
) -> None:
    _run(sessions, tenant)
    with sessions.begin() as session:
        _orders(session, tenant, accounts["E"], _n([1, 1, 1, 1, 1], "100"))
    # straight table inserts write no change-log rows, hence force (as a manual rerun)
    report = _run(sessions, tenant, force=True)

    # E: recency 1, 6 orders, 5500. R: E5 A4 B3 C2 D1 F1; F: E,F tie at 6 -> worse 4 -> 4,
    # A 3, B 2, C 1, D 1; M: F60 1, D100 1, A500.50 2, B1200 3, C3000 4, E5500 5.
    assert _stored(sessions, accounts) == {
        "A": ("432", "potential_loyalists"),
        "B": ("323", "about_to_sleep"),
        "C": ("214", "hibernating"),
        "D": ("111", "hibernating"),
        "E": ("545", "champions"),
        "F": ("141", "at_risk"),
    }
    assert report.segment_changes == 5  # D stays hibernating
    with sessions() as session:
        history_e = segment_history(session, tenant.id, accounts["E"])
        history_d = segment_history(session, tenant.id, accounts["D"])
        total = len(session.execute(select(AccountSegmentChange)).all())
    assert [(h.from_segment, h.to_segment, h.from_cell, h.to_cell) for h in history_e] == [
        (S.HIBERNATING, S.CHAMPIONS, "115", "545"),
        (None, S.HIBERNATING, None, "115"),
    ]
    assert len(history_d) == 1
    assert total == 6 + 5


def test_accounts_without_purchases_in_a_shorter_window_lapse(
    sessions: sessionmaker[Session], tenant: Tenant, accounts: dict[str, uuid.UUID]
) -> None:
    _run(sessions, tenant)
    with sessions.begin() as session:
        documents.put(session, tenant.id, "rfm", {"window_days": 60})
    report = _run(sessions, tenant)

    # Only A (5 d), B (10 d), C (30 d) buy within 60 days. n=3: worse 0,1,2 -> 1, 2, 4.
    # R: A4 B2 C1; F (5, 4, 3 orders): A4 B2 C1; M (500.50, 1200, 3000): A1 B2 C4.
    assert _stored(sessions, accounts) == {
        "A": ("441", "loyal"),
        "B": ("222", "hibernating"),
        "C": ("114", "hibernating"),
    }
    assert (report.accounts_scored, report.accounts_lapsed, report.segment_changes) == (3, 3, 6)
    with sessions() as session:
        assert account_rfm(session, tenant.id, accounts["D"]) is None
        lapsed = segment_history(session, tenant.id, accounts["F"])
        value_a = account_rfm(session, tenant.id, accounts["A"])
    assert [(h.from_segment, h.to_segment, h.from_cell, h.to_cell) for h in lapsed] == [
        (S.CANT_LOSE, None, "151", None),
        (None, S.CANT_LOSE, None, "151"),
    ]
    assert value_a is not None and value_a.ltv_detail is not None
    # 5 orders x 365 / 60 days = 30.41666... a year; 100.10 x that x 3 = 9134.125
    assert value_a.ltv_detail.window_days == 60
    assert value_a.ltv == Decimal("9134.1250")


def test_margin_and_discounted_methods_follow_the_settings(
    sessions: sessionmaker[Session], tenant: Tenant, accounts: dict[str, uuid.UUID]
) -> None:
    with sessions.begin() as session:
        documents.put(session, tenant.id, "rfm", {"ltv_method": "margin", "margin_rate": "0.4"})
    _run(sessions, tenant)
    with sessions() as session:
        margin = account_rfm(session, tenant.id, accounts["A"])
    with sessions.begin() as session:
        documents.put(
            session,
            tenant.id,
            "rfm",
            {"ltv_method": "discounted", "margin_rate": "0.4", "retention_rate": "0.8"},
        )
    _run(sessions, tenant)
    with sessions() as session:
        discounted = account_rfm(session, tenant.id, accounts["A"])
    assert margin is not None and discounted is not None
    # margin: 750.75 x 0.4 = 300.30
    assert (margin.ltv_method, margin.ltv) == (LtvMethod.MARGIN, Decimal("300.30"))
    # discounted: m = 100.10 x 2.5 x 0.4 = 100.10; x (1.1) / (1.1 - 0.8) = 367.0333...
    assert (discounted.ltv_method, discounted.ltv) == (LtvMethod.DISCOUNTED, Decimal("367.0333"))
    assert discounted.ltv_detail is not None
    assert discounted.ltv_detail.retention_rate == Decimal("0.8")
    assert discounted.ltv_detail.lifespan_years is None


def test_segment_counts_cover_all_ten_segments_with_monetary_sums(
    sessions: sessionmaker[Session], tenant: Tenant, accounts: dict[str, uuid.UUID]
) -> None:
    _run(sessions, tenant)
    with sessions() as session:
        counts = {
            c.segment: (c.accounts, c.monetary, c.currency) for c in segments(session, tenant.id)
        }
    assert counts == {
        S.HIBERNATING: (2, Decimal("5100"), "CNY"),  # D 100 + E 5000
        S.AT_RISK: (0, Decimal(0), "CNY"),
        S.CANT_LOSE: (1, Decimal("60"), "CNY"),
        S.ABOUT_TO_SLEEP: (1, Decimal("3000"), "CNY"),
        S.NEED_ATTENTION: (0, Decimal(0), "CNY"),
        S.LOYAL: (0, Decimal(0), "CNY"),
        S.PROMISING: (0, Decimal(0), "CNY"),
        S.NEW_CUSTOMERS: (0, Decimal(0), "CNY"),
        S.POTENTIAL_LOYALISTS: (1, Decimal("1200"), "CNY"),
        S.CHAMPIONS: (1, Decimal("500.50"), "CNY"),
    }


def test_unchanged_inputs_skip_and_force_recomputes_without_new_history(
    sessions: sessionmaker[Session], tenant: Tenant, accounts: dict[str, uuid.UUID]
) -> None:
    first = _run(sessions, tenant)
    skipped = _run(sessions, tenant)
    forced = _run(sessions, tenant, force=True)
    next_day = _run(sessions, tenant, as_of=AS_OF + timedelta(days=1))

    assert skipped.skipped and skipped.accounts_scored == 0
    assert skipped.last_seq == first.last_seq
    assert not forced.skipped and forced.accounts_scored == 6 and forced.segment_changes == 0
    # a day later every recency grows by one: the ranks, hence the segments, stay
    assert not next_day.skipped and next_day.segment_changes == 0


def test_inputs_changed_flips_on_order_writes_and_settings_only(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as session:
        account = create_record(session, tenant.id, ENTITIES["account"], {"name": "Hangzhou Co"})
        assert inputs_changed(session, tenant.id) is False  # no orders, default settings
    with sessions.begin() as session:
        order = create_record(
            session,
            tenant.id,
            ENTITIES["order"],
            {
                "number": "SO-1",
                "account_id": account["id"],
                "order_date": AS_OF,
                "currency": "CNY",
                "net_amount": Decimal("10"),
            },
        )
        assert inputs_changed(session, tenant.id) is True
    report = _run(sessions, tenant)
    assert report.accounts_scored == 1 and report.last_seq > 0
    with sessions.begin() as session:
        assert inputs_changed(session, tenant.id) is False
        patch_record(session, tenant.id, ENTITIES["account"], account["id"], {"industry": "Retail"})
        assert inputs_changed(session, tenant.id) is False  # accounts are not an input
        patch_record(session, tenant.id, ENTITIES["order"], order["id"], {"status": "cancelled"})
        assert inputs_changed(session, tenant.id) is True
    report = _run(sessions, tenant)
    assert (report.accounts_scored, report.accounts_lapsed) == (0, 1)
    with sessions.begin() as session:
        assert inputs_changed(session, tenant.id) is False
        documents.put(session, tenant.id, "rfm", {"currency": "USD"})
        assert inputs_changed(session, tenant.id) is True


def test_other_tenants_orders_and_rows_are_untouched(
    sessions: sessionmaker[Session], tenant: Tenant, accounts: dict[str, uuid.UUID]
) -> None:
    with sessions.begin() as session:
        other = Tenant(slug="globex", name="Globex")
        session.add(other)
        session.flush()
        theirs = Account(tenant_id=other.id, name="Their account")
        session.add(theirs)
        session.flush()
        _orders(session, other, theirs.id, _n([1], "5"))
    _run(sessions, tenant)
    with sessions.begin() as session:
        recompute(session, other.id, as_of=AS_OF)
        assert len(segments(session, tenant.id)) == 10
        assert account_rfm(session, other.id, accounts["A"]) is None
    assert len(_stored(sessions, accounts | {"theirs": theirs.id})) == 7
