"""Text transforms, each with hand-written expectations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.errors import DataError
from mappings.transforms import parse_step

Make = Callable[..., Callable[[Any], Any]]


@pytest.mark.parametrize(
    ("step", "given", "expected"),
    [
        ("trim", "  上海市 ", "上海市"),
        ("trim", "\u3000北京\u3000", "北京"),
        ("trim", 1000042, "1000042"),
        ("upper", "cny", "CNY"),
        ("lower", "Sales@HDJM.com.cn", "sales@hdjm.com.cn"),
        ("nfkc", "１２３ＡＢＣ", "123ABC"),
        ("nfkc", "（上海）", "(上海)"),
        ("nfkc", "plain ascii", "plain ascii"),
        ("collapse_space", "  南山区  前海大道\u30001号\t", "南山区 前海大道 1号"),
        ("strip_zeros", "0001000042", "1000042"),
        ("strip_zeros", "0000", "0"),
        ("strip_zeros", "A0001", "A0001"),
        ("strip_zeros", "１２", "１２"),
        ("text", 1000042, "1000042"),
        ("text", 12.0, "12"),
        ("text", 12.5, "12.5"),
        ({"truncate": 3}, "abcdef", "abc"),
        ({"truncate": {"length": 2}}, "数控车床", "数控"),
        ({"null_if": ["-", "N/A"]}, "-", None),
        ({"null_if": ["-", "N/A"]}, "x", "x"),
        ({"null_if": "无"}, "无", None),
        ({"null_if": {"values": [0]}}, 0, None),
        ({"default": "CNY"}, None, "CNY"),
        ({"default": "CNY"}, "", "CNY"),
        ({"default": {"value": "CNY"}}, "USD", "USD"),
        ("join", ["上海市", None, "浦东新区", ""], "上海市 浦东新区"),
        ({"join": "/"}, ["a", 1], "a/1"),
        ({"join": "-"}, [None, ""], None),
        ("join", "single", "single"),
        ("split", "a, b,,c ", ["a", "b", "c"]),
        ({"split": "/"}, "x/y", ["x", "y"]),
        ("coalesce", [None, "", "b", "c"], "b"),
        ("coalesce", [None, ""], None),
        ("coalesce", "x", "x"),
    ],
)
def test_text_transform_gives_expected_value(
    make: Make, step: Any, given: Any, expected: Any
) -> None:
    assert make(step)(given) == expected


@pytest.mark.parametrize(
    "step", ["trim", "upper", "lower", "nfkc", "collapse_space", "strip_zeros"]
)
@pytest.mark.parametrize("given", [True, ["a"], {"a": 1}])
def test_text_transform_refuses_non_text(make: Make, step: str, given: Any) -> None:
    with pytest.raises(DataError) as caught:
        make(step)(given)
    assert caught.value.code == "not_text"
    assert repr(given) in caught.value.message


def test_truncate_needs_a_positive_length() -> None:
    _, problems = parse_step({"truncate": 0}, ("t",))
    assert problems
    assert "greater than or equal to 1" in problems[0].message
