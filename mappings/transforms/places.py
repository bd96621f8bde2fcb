"""Place transforms: ISO 3166-1 country codes and China's 34 provincial divisions (省级行政区).

ERPs spell a province in many ways: GB/T 2260 codes ('31', '310000', or a district's
'310115'), ISO 3166-2:CN codes ('SH', 'CN-SH', and the pre-2017 'CN-31'), short and full
Chinese names (上海, 上海市) and pinyin or English names (Shanghai, Inner Mongolia). The
canonical `province` holds the full Chinese name (上海市, 内蒙古自治区), so search, pools
and reports group one province under one spelling whatever the source wrote.

SAP keeps its own three-digit region keys for China (table T005S: 010 Beijing, 020
Shanghai, ... 320 Chongqing), read as well; they are customising, so a system may differ:
keys that are not one of these spellings are added per mapping with `map`, whose values
may be any spelling (`{map: {"330": 香港}}`). Given `[country, region]`, region codes of
other countries are left as they are: Hessen's 'HE' is not Hebei.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from core.errors import DataError
from mappings.transforms.codes import aliased_code, memoised
from mappings.transforms.registry import Args, Context, Fn, as_key, as_text, describe, register

# GB/T 2260 code, ISO 3166-2:CN code, full name, short name, English/pinyin names
_DIVISIONS = (
    ("11", "BJ", "北京市", "北京", "Beijing"),
    ("12", "TJ", "天津市", "天津", "Tianjin"),
    ("13", "HE", "河北省", "河北", "Hebei"),
    ("14", "SX", "山西省", "山西", "Shanxi"),
    ("15", "NM", "内蒙古自治区", "内蒙古", "Inner Mongolia|Nei Mongol|Neimenggu"),
    ("21", "LN", "辽宁省", "辽宁", "Liaoning"),
    ("22", "JL", "吉林省", "吉林", "Jilin"),
    ("23", "HL", "黑龙江省", "黑龙江", "Heilongjiang"),
    ("31", "SH", "上海市", "上海", "Shanghai"),
    ("32", "JS", "江苏省", "江苏", "Jiangsu"),
    ("33", "ZJ", "浙江省", "浙江", "Zhejiang"),
    ("34", "AH", "安徽省", "安徽", "Anhui"),
    ("35", "FJ", "福建省", "福建", "Fujian"),
    ("36", "JX", "江西省", "江西", "Jiangxi"),
    ("37", "SD", "山东省", "山东", "Shandong"),
    ("41", "HA", "河南省", "河南", "Henan"),
    ("42", "HB", "湖北省", "湖北", "Hubei"),
    ("43", "HN", "湖南省", "湖南", "Hunan"),
    ("44", "GD", "广东省", "广东", "Guangdong"),
    ("45", "GX", "广西壮族自治区", "广西", "Guangxi"),
    ("46", "HI", "海南省", "海南", "Hainan"),
    ("50", "CQ", "重庆市", "重庆", "Chongqing"),
    ("51", "SC", "四川省", "四川", "Sichuan"),
    ("52", "GZ", "贵州省", "贵州", "Guizhou"),
    ("53", "YN", "云南省", "云南", "Yunnan"),
    ("54", "XZ", "西藏自治区", "西藏", "Xizang|Tibet"),
    ("61", "SN", "陕西省", "陕西", "Shaanxi"),
    ("62", "GS", "甘肃省", "甘肃", "Gansu"),
    ("63", "QH", "青海省", "青海", "Qinghai"),
    ("64", "NX", "宁夏回族自治区", "宁夏", "Ningxia"),
    ("65", "XJ", "新疆维吾尔自治区", "新疆", "Xinjiang"),
    ("71", "TW", "台湾省", "台湾", "Taiwan"),
    ("81", "HK", "香港特别行政区", "香港", "Hong Kong|Hongkong"),
    ("82", "MO", "澳门特别行政区", "澳门", "Macao|Macau"),
)
PROVINCES: tuple[str, ...] = tuple(full for _, _, full, _, _ in _DIVISIONS)
"""The full names of the 34 provincial divisions, in GB/T 2260 order."""

# SAP's delivered T005S keys for country CN, as our fake S/4HANA also uses them. No public
# SAP listing could be found to check them against: verify with SPRO (Set Countries >
# Insert Regions) and override a key with `map` where a system differs. Hong Kong, Macao
# and Taiwan are countries of their own in SAP (HK, MO, TW), so they have no key here.
SAP_REGION_KEYS: dict[str, str] = {
    "010": "北京市",
    "020": "上海市",
    "030": "天津市",
    "040": "内蒙古自治区",
    "050": "山西省",
    "060": "河北省",
    "070": "辽宁省",
    "080": "吉林省",
    "090": "黑龙江省",
    "100": "江苏省",
    "110": "安徽省",
    "120": "山东省",
    "130": "浙江省",
    "140": "江西省",
    "150": "福建省",
    "160": "湖南省",
    "170": "湖北省",
    "180": "河南省",
    "190": "广东省",
    "200": "海南省",
    "210": "广西壮族自治区",
    "220": "贵州省",
    "230": "四川省",
    "240": "云南省",
    "250": "陕西省",
    "260": "甘肃省",
    "270": "宁夏回族自治区",
    "280": "青海省",
    "290": "新疆维吾尔自治区",
    "300": "西藏自治区",
    "320": "重庆市",
}


def _spellings() -> dict[str, str]:
    table: dict[str, str] = {}
    for gb, iso, full, short, english in _DIVISIONS:
        for spelling in (gb, f"{gb}0000", iso, f"CN-{iso}", f"CN-{gb}", full, short):
            table[spelling] = full
        for name in english.split("|"):
            table[_norm(name)] = full
    return table | SAP_REGION_KEYS


def _norm(text: str) -> str:
    """Trimmed, upper-cased, half-width, single-spaced: how spellings are compared."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.upper().split())


PROVINCE_SPELLINGS: dict[str, str] = _spellings()
"""Every spelling the transform reads -> the full name (keys normalised)."""
_BY_GB_PREFIX = {gb: full for gb, _, full, _, _ in _DIVISIONS}
_CHINA = frozenset({"CN", "CHN", "156", "中国", "中华人民共和国", "CHINA", "PRC"})


def province_of(text: str) -> str | None:
    """The full name for one spelling, or None if it is not one (no `map`)."""
    key = _norm(text)
    found = PROVINCE_SPELLINGS.get(key)
    if found is None and len(key) == 6 and key.isascii() and key.isdigit():
        found = _BY_GB_PREFIX.get(key[:2])  # a city or district code: its province
    return found


def _province_targets(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for code, name in value.items():
        full = province_of(name) if isinstance(name, str) else None
        if full is None:
            raise ValueError(f"map {code!r} to a provincial division (上海, 上海市), not {name!r}")
        out[_norm(as_key(code))] = full
    return out


class ProvinceArgs(Args):
    map: Annotated[dict[str, str], BeforeValidator(_province_targets)] = Field(default_factory=dict)
    unknown: Literal["quarantine", "keep"] = "quarantine"


@register("cn_province", args=ProvinceArgs)
def cn_province(args: ProvinceArgs, ctx: Context) -> Fn:
    """Province name (上海市) from SAP region keys, GB/T 2260 or ISO 3166-2:CN codes, names.

    Given `[country, region]`, regions of other countries are kept as they are. Unknown
    spellings are quarantined (unknown_region) or, with `unknown: keep`, kept.
    """
    extra = dict(args.map)
    keep = args.unknown == "keep"
    field, mapping = ctx.field, ctx.mapping

    def lookup(value: Any) -> str:
        text = as_text(value).strip()
        found = extra.get(_norm(text)) or province_of(text)
        if found is not None:
            return found
        if keep:
            return text
        raise DataError(
            f"{describe(value)} is not a province-level division of China",
            code="unknown_region",
            hint=f"add it under the cn_province map of fields.{field} in {mapping}, then replay",
        )

    cached = memoised(lookup)

    def province(value: Any) -> str | None:
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise DataError(
                    f"cn_province expects a region or [country, region], got {describe(value)}",
                    code="invalid_region",
                )
            country, region = value
            if region is None or region == "":
                return None
            if country not in (None, "") and _norm(as_text(country)) not in _CHINA:
                return as_text(region).strip() or None
            value = region
        found: str = cached(value)
        return found

    return province


# Spellings of the countries a Chinese ERP names most, besides the ISO 3166-1 codes.
COUNTRY_ALIASES: dict[str, str] = {
    "CHN": "CN",
    "PRC": "CN",
    "CHINA": "CN",
    "中国": "CN",
    "中国大陆": "CN",
    "中华人民共和国": "CN",
    "HKG": "HK",
    "HONG KONG": "HK",
    "香港": "HK",
    "中国香港": "HK",
    "MAC": "MO",
    "MACAO": "MO",
    "MACAU": "MO",
    "澳门": "MO",
    "中国澳门": "MO",
    "TWN": "TW",
    "TAIWAN": "TW",
    "台湾": "TW",
    "中国台湾": "TW",
}


def _is_alpha2(code: str) -> bool:
    return len(code) == 2 and code.isascii() and code.isalpha()


def _country_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_norm(as_key(k)): v for k, v in value.items()}
    return value


class CountryArgs(Args):
    map: Annotated[dict[str, str], BeforeValidator(_country_keys)] = Field(default_factory=dict)

    @field_validator("map")
    @classmethod
    def _alpha2_targets(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(v for v in value.values() if not (_is_alpha2(v) and v.isupper()))
        if bad:
            raise ValueError(f"map to two-letter upper-case ISO 3166-1 codes, not {bad}")
        return value


@register("country", args=CountryArgs)
def country(args: CountryArgs, _: Context) -> Fn:
    """ISO 3166-1 alpha-2 code: upper-cased; reads CHN/中国 as CN and 香港 as HK; {map} first."""
    return aliased_code(
        COUNTRY_ALIASES | args.map,
        _is_alpha2,
        what="an ISO 3166-1 country code",
        error_code="invalid_country",
        norm=_norm,
    )
