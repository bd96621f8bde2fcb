"""cn_province, country and join_words: the value maps and joins the SAP mappings share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.errors import DataError
from mappings.transforms import REGISTRY, parse_step
from mappings.transforms.places import (
    _DIVISIONS,
    PROVINCE_SPELLINGS,
    PROVINCES,
    SAP_REGION_KEYS,
)

Make = Callable[..., Callable[[Any], Any]]


def test_the_34_provincial_divisions_have_distinct_full_names() -> None:
    assert len(PROVINCES) == len(set(PROVINCES)) == 34
    assert {"北京市", "内蒙古自治区", "广西壮族自治区", "台湾省"} <= set(PROVINCES)


@pytest.mark.parametrize(("gb", "iso", "full", "short", "english"), _DIVISIONS)
def test_every_spelling_of_a_division_gives_its_full_name(
    make: Make, gb: str, iso: str, full: str, short: str, english: str
) -> None:
    province = make("cn_province")
    spellings = [gb, f"{gb}0000", iso, iso.lower(), f"CN-{iso}", f"CN-{gb}", full, short]
    spellings += english.split("|")
    assert {s: province(s) for s in spellings} == dict.fromkeys(spellings, full)


@pytest.mark.parametrize(
    ("key", "full"),
    [("010", "北京市"), ("020", "上海市"), ("100", "江苏省"), ("190", "广东省"), ("320", "重庆市")],
)
def test_sap_region_keys_are_read(make: Make, key: str, full: str) -> None:
    assert make("cn_province")(key) == full


def test_sap_region_keys_name_31_distinct_mainland_divisions() -> None:
    assert len(set(SAP_REGION_KEYS.values())) == len(SAP_REGION_KEYS) == 31
    assert set(SAP_REGION_KEYS.values()) <= set(PROVINCES)
    assert not {"香港特别行政区", "澳门特别行政区", "台湾省"} & set(SAP_REGION_KEYS.values())


def test_no_spelling_is_claimed_by_two_divisions() -> None:
    spellings: dict[str, set[str]] = {}
    for gb, iso, full, short, english in _DIVISIONS:
        for spelling in (gb, iso, full, short, *english.upper().split("|")):
            spellings.setdefault(spelling, set()).add(full)
    assert {s: names for s, names in spellings.items() if len(names) > 1} == {}
    assert PROVINCE_SPELLINGS["SX"] == "山西省"
    assert PROVINCE_SPELLINGS["SN"] == "陕西省"
    assert PROVINCE_SPELLINGS["SHAANXI"] == "陕西省"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (" 31 ", "上海市"),
        ("310115", "上海市"),  # a district of Shanghai: its province
        (44, "广东省"),
        ("ＧＤ", "广东省"),
        ("inner  mongolia", "内蒙古自治区"),
        ("NEI MONGOL", "内蒙古自治区"),
        ("Tibet", "西藏自治区"),
        ("macau", "澳门特别行政区"),
    ],
)
def test_codes_and_names_are_read_loosely(make: Make, given: Any, expected: str) -> None:
    assert make("cn_province")(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["CN", "020"], "上海市"),
        (["cn", "44"], "广东省"),
        (["CHN", "XZ"], "西藏自治区"),
        (["中国", "上海"], "上海市"),
        ([None, "11"], "北京市"),  # no country: read as China
        (["", "11"], "北京市"),
        (["DE", "HE"], "HE"),  # Hessen, not Hebei
        (["US", " CA "], "CA"),
        (["CN", None], None),
        (["DE", ""], None),
    ],
)
def test_country_and_region_pairs_translate_only_chinese_regions(
    make: Make, given: list[Any], expected: str | None
) -> None:
    assert make("cn_province")(given) == expected


def test_an_unknown_region_is_quarantined_with_a_hint(make: Make) -> None:
    province = make("cn_province", field="province", mapping="sap/bp_accounts")
    with pytest.raises(DataError) as caught:
        province(["CN", "999"])
    assert caught.value.code == "unknown_region"
    assert caught.value.message == "'999' is not a province-level division of China"
    assert "sap/bp_accounts" in (caught.value.hint or "")
    assert "fields.province" in (caught.value.hint or "")


@pytest.mark.parametrize("given", ["999", "990000", "CN-99", "Atlantis", "HE-1"])
def test_unknown_spellings_are_refused(make: Make, given: str) -> None:
    with pytest.raises(DataError) as caught:
        make("cn_province")(given)
    assert caught.value.code == "unknown_region"


def test_unknown_keep_passes_the_region_through(make: Make) -> None:
    assert make({"cn_province": {"unknown": "keep"}})(" Z99 ") == "Z99"


def test_map_adds_and_overrides_keys_with_any_spelling(make: Make) -> None:
    province = make({"cn_province": {"map": {"330": "香港", "ZJ1": "Zhejiang", "020": "北京"}}})
    assert province(["CN", "330"]) == "香港特别行政区"
    assert province("zj1") == "浙江省"
    assert province("020") == "北京市"  # a system whose keys differ from SAP's defaults
    assert province("010") == "北京市"


def test_map_values_must_be_divisions() -> None:
    _, problems = parse_step({"cn_province": {"map": {"020": "Shangai"}}}, ("t",))
    assert [p.path for p in problems] == [("t", "cn_province", "map")]
    assert "not 'Shangai'" in problems[0].message


def test_a_list_must_be_a_country_and_region_pair(make: Make) -> None:
    with pytest.raises(DataError) as caught:
        make("cn_province")(["CN", "31", "x"])
    assert caught.value.code == "invalid_region"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("CN", "CN"),
        (" de ", "DE"),
        ("ＵＳ", "US"),
        ("CHN", "CN"),
        ("中国", "CN"),
        ("中华人民共和国", "CN"),
        ("香港", "HK"),
        ("Macau", "MO"),
        ("TWN", "TW"),
    ],
)
def test_country_reads_codes_and_chinese_spellings(make: Make, given: str, expected: str) -> None:
    assert make("country")(given) == expected


@pytest.mark.parametrize("given", ["Germany", "DEU", "C", "12", "中"])
def test_country_refuses_what_is_not_a_two_letter_code(make: Make, given: str) -> None:
    with pytest.raises(DataError) as caught:
        make("country")(given)
    assert caught.value.code == "invalid_country"


def test_country_map_comes_first_and_must_name_iso_codes(make: Make) -> None:
    assert make({"country": {"map": {"deu": "DE", "CN": "HK"}}})("DEU") == "DE"
    _, problems = parse_step({"country": {"map": {"Deutschland": "DEU"}}}, ("t",))
    assert problems and problems[0].path[:3] == ("t", "country", "map")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["上海华东精密机械", "有限公司"], "上海华东精密机械有限公司"),
        (["Shanghai  Precision", "Machinery Co., Ltd."], "Shanghai Precision Machinery Co., Ltd."),
        (["科技园路", "88号"], "科技园路88号"),
        (["Mörfelder Landstraße", "117"], "Mörfelder Landstraße 117"),
        (["ACME", "（中国）有限公司"], "ACME（中国）有限公司"),
        (["张", "伟"], "张伟"),
        (["Anna", None, "", "  ", "Schmidt"], "Anna Schmidt"),
        ([None, ""], None),
        ([], None),
        ("  前海大道\u3000 1号 ", "前海大道 1号"),
        ([2024, "年报"], "2024年报"),
    ],
)
def test_join_words_spaces_only_between_latin_words(
    make: Make, given: Any, expected: str | None
) -> None:
    assert make("join_words")(given) == expected


def test_join_words_refuses_what_is_not_text(make: Make) -> None:
    with pytest.raises(DataError) as caught:
        make("join_words")([{"a": 1}])
    assert caught.value.code == "not_text"


def test_the_transforms_are_registered() -> None:
    assert {"cn_province", "country", "join_words"} <= set(REGISTRY)
    assert not REGISTRY["join_words"].needs_args
    assert not REGISTRY["cn_province"].needs_args
