"""decimal, int and bool: exact numbers and flags from what sources really send."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from core.errors import DataError
from mappings.transforms import parse_step

Make = Callable[..., Callable[[Any], Any]]


@pytest.mark.parametrize(
    ("step", "given", "expected"),
    [
        ("decimal", "1,200,000.00", Decimal("1200000.00")),
        ("decimal", " 80,000.50 ", Decimal("80000.50")),
        ("decimal", "１２，０００．００", Decimal("12000.00")),
        ("decimal", "-3.5", Decimal("-3.5")),
        ("decimal", "12.50-", Decimal("-12.50")),
        ("decimal", "1E+3", Decimal("1E+3")),
        ("decimal", 1200, Decimal(1200)),
        ("decimal", 0.1, Decimal("0.1")),
        ("decimal", 3580.5, Decimal("3580.5")),
        ("decimal", Decimal("7.25"), Decimal("7.25")),
        ({"decimal": {"thousands": ".", "decimal": ","}}, "1.234,56-", Decimal("-1234.56")),
        ({"decimal": {"thousands": " ", "decimal": ","}}, "1 234,5", Decimal("1234.5")),
        ({"decimal": {"thousands": ""}}, "1200.5", Decimal("1200.5")),
    ],
)
def test_decimal_reads_exact_values(make: Make, step: Any, given: Any, expected: Decimal) -> None:
    result = make(step)(given)
    assert result == expected
    assert str(result) == str(expected)  # same exponent: '1200000.00' keeps its cents


@pytest.mark.parametrize(
    "given",
    [
        "12,3x",
        "NaN",
        "Infinity",
        "-inf",
        "1_000",
        "",
        "-",
        "￥100",
        "13%",
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        True,
        [1],
        {"a": 1},
    ],
)
def test_decimal_refuses_what_is_not_a_finite_number(make: Make, given: Any) -> None:
    with pytest.raises(DataError) as caught:
        make("decimal")(given)
    assert caught.value.code == "invalid_decimal"
    assert caught.value.message == f"cannot read {given!r} as a decimal"


def test_decimal_separators_must_differ() -> None:
    _, problems = parse_step({"decimal": {"thousands": ".", "decimal": "."}}, ("t",))
    assert [p.message for p in problems] == ["thousands and decimal separators must differ"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("42", 42),
        (" -7 ", -7),
        ("42.00", 42),
        ("４２", 42),
        (42, 42),
        (42.0, 42),
        (Decimal("3"), 3),
    ],
)
def test_int_reads_whole_numbers(make: Make, given: Any, expected: int) -> None:
    assert make("int")(given) == expected


@pytest.mark.parametrize("given", ["4.2", "x", 4.5, True, "1,000"])
def test_int_refuses_fractions_and_garbage(make: Make, given: Any) -> None:
    with pytest.raises(DataError) as caught:
        make("int")(given)
    assert caught.value.code == "invalid_int"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("true", True),
        ("FALSE", False),
        ("1", True),
        ("0", False),
        ("yes", True),
        ("No", False),
        ("Y", True),
        ("n", False),
        ("X", True),
        ("", False),
        ("是", True),
        ("否", False),
        (" x ", True),
        (1, True),
        (0, False),
        (True, True),
        (1.0, True),
    ],
)
def test_bool_defaults_read_common_flags(make: Make, given: Any, expected: bool) -> None:
    assert make("bool")(given) is expected


def test_bool_lists_replace_the_defaults(make: Make) -> None:
    flag = make({"bool": {"true": ["启用", "在用"], "false": "停用"}})
    assert flag("启用") is True
    assert flag("停用") is False
    with pytest.raises(DataError) as caught:
        flag("yes")
    assert caught.value.code == "invalid_bool"


def test_bool_lists_must_not_overlap() -> None:
    _, problems = parse_step({"bool": {"true": ["Y"], "false": ["y"]}}, ("t",))
    assert "cannot be both true and false" in problems[0].message
