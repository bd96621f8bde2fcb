"""value_map, currency and unit: code lists with explicit policies for the unknown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.errors import ConfigError, DataError
from mappings.transforms import parse_step

Make = Callable[..., Callable[[Any], Any]]

INDUSTRY = {"map": {"01": "manufacturing", "02": "retail", "1": "one", "true": "yes"}}


def test_value_map_translates_codes_compared_as_text(make: Make) -> None:
    translate = make({"value_map": INDUSTRY})
    assert translate("01") == "manufacturing"
    assert translate(1) == "one"
    assert translate(1.0) == "one"
    assert translate(True) == "yes"


def test_value_map_quarantines_unknown_codes_by_default(make: Make) -> None:
    with pytest.raises(DataError) as caught:
        make({"value_map": INDUSTRY}, field="industry", mapping="files/demo_accounts")("09")
    assert caught.value.code == "unknown_code"
    assert caught.value.message == "'09' is not in the value map"
    assert "files/demo_accounts" in (caught.value.hint or "")


def test_value_map_fail_stops_the_run_with_a_config_error(make: Make) -> None:
    translate = make(
        {"value_map": {**INDUSTRY, "unknown": "fail"}},
        field="industry",
        mapping="files/demo_accounts",
    )
    with pytest.raises(ConfigError) as caught:
        translate("09")
    assert caught.value.message == (
        "value '09' of field industry is not in the value map of files/demo_accounts: add it"
    )


def test_value_map_default_and_keep_policies(make: Make) -> None:
    assert (
        make({"value_map": {**INDUSTRY, "unknown": "default", "default": "other"}})("09") == "other"
    )
    assert make({"value_map": {**INDUSTRY, "unknown": "keep"}})("09") == "09"


def test_value_map_default_policy_needs_a_default() -> None:
    _, problems = parse_step({"value_map": {**INDUSTRY, "unknown": "default"}}, ("t",))
    assert problems[0].message == "unknown: default needs a `default` value"


def test_value_map_may_map_a_code_to_null(make: Make) -> None:
    assert make({"value_map": {"map": {"-": None}, "unknown": "keep"}})("-") is None


def test_value_map_rejects_unknown_policy() -> None:
    _, problems = parse_step({"value_map": {**INDUSTRY, "unknown": "ignore"}}, ("t",))
    assert problems[0].path == ("t", "value_map", "unknown")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("CNY", "CNY"),
        (" cny ", "CNY"),
        ("RMB", "CNY"),
        ("rmb", "CNY"),
        ("人民币", "CNY"),
        ("CNH", "CNH"),
        ("US$", "USD"),
        ("美元", "USD"),
        ("ＵＳＤ", "USD"),
        ("港币", "HKD"),
        ("eur", "EUR"),
    ],
)
def test_currency_normalises_to_iso_4217(make: Make, given: str, expected: str) -> None:
    assert make("currency")(given) == expected


@pytest.mark.parametrize("given", ["¥", "$", "DOLLAR", "C1Y", "人民", 156])
def test_currency_refuses_what_is_not_three_letters(make: Make, given: Any) -> None:
    with pytest.raises(DataError) as caught:
        make("currency")(given)
    assert caught.value.code == "invalid_currency"
    assert repr(given) in caught.value.message


def test_currency_map_comes_before_the_aliases(make: Make) -> None:
    normalise = make({"currency": {"map": {"rmb": "CNH", "本币": "CNY"}}})
    assert normalise("RMB") == "CNH"
    assert normalise("本币") == "CNY"


def test_currency_map_targets_must_be_iso_codes() -> None:
    _, problems = parse_step({"currency": {"map": {"x": "yuan"}}}, ("t",))
    assert "3-letter upper-case ISO 4217" in problems[0].message


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ST", "H87"),
        ("PC", "H87"),
        ("ea", "H87"),
        ("个", "H87"),
        ("台", "H87"),
        ("套", "SET"),
        ("KG", "KGM"),
        ("公斤", "KGM"),
        ("M", "MTR"),
        ("L", "LTR"),
        ("M3", "MTQ"),
        ("KAR", "CT"),
        ("H87", "H87"),
        ("XYZ", "XYZ"),
        (" zz ", "ZZ"),
    ],
)
def test_unit_normalises_to_rec20_codes(make: Make, given: str, expected: str) -> None:
    assert make("unit")(given) == expected


def test_unit_map_and_quarantine_policy(make: Make) -> None:
    normalise = make({"unit": {"map": {"批次": "LO"}, "unknown": "quarantine"}})
    assert normalise("批次") == "LO"
    assert normalise("KG") == "KGM"
    with pytest.raises(DataError) as caught:
        normalise("桶")
    assert caught.value.code == "unknown_unit"


def test_memoised_code_transforms_still_raise_every_time(make: Make) -> None:
    normalise = make("currency")
    for _ in range(2):
        with pytest.raises(DataError):
            normalise("¥")
    assert normalise("rmb") == normalise("rmb") == "CNY"
