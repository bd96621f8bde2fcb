"""Code-list transforms: value maps, ISO 4217 currencies, UN/ECE Rec 20 units.

Keys are compared as text (`as_key`), so the YAML key '01' matches the CSV cell '01' and
the spreadsheet number 1.0 matches the key '1'.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from core.errors import ConfigError, DataError
from mappings.transforms.registry import Args, Context, Fn, as_key, as_text, describe, register


def _text_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {as_key(k): v for k, v in value.items()}
    return value


class ValueMapArgs(Args):
    map: Annotated[dict[str, Any], BeforeValidator(_text_keys), Field(min_length=1)]
    unknown: Literal["quarantine", "fail", "default", "keep"] = "quarantine"
    default: Any = None

    @model_validator(mode="after")
    def _default_given(self) -> ValueMapArgs:
        if self.unknown == "default" and "default" not in self.model_fields_set:
            raise ValueError("unknown: default needs a `default` value")
        return self


@register("value_map", args=ValueMapArgs)
def value_map(args: ValueMapArgs, ctx: Context) -> Fn:
    """Translate codes through `map`; `unknown` says what an unlisted code does.

    quarantine (default): the record is quarantined (code unknown_code) and can be replayed
    once the map is extended; fail: the run stops with a ConfigError; default: use
    `default`; keep: pass the code through unchanged.
    """
    table = dict(args.map)
    unknown, fallback = args.unknown, args.default
    field, mapping = ctx.field, ctx.mapping

    def translate(value: Any) -> Any:
        key = value if value.__class__ is str else as_key(value)
        try:
            return table[key]
        except KeyError:
            pass
        if unknown == "keep":
            return value
        if unknown == "default":
            return fallback
        if unknown == "fail":
            raise ConfigError(
                f"value {key!r} of field {field} is not in the value map of {mapping}: add it",
                hint=f"add {key!r} under the value_map of fields.{field}",
            )
        raise DataError(
            f"{describe(value)} is not in the value map",
            code="unknown_code",
            hint=f"add it to the value_map of fields.{field} in {mapping}, then replay",
        )

    return translate


def _norm(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return text.strip().upper()


def _is_iso_4217(code: str) -> bool:
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


_MEMO_SIZE = 4096


def memoised(fn: Fn) -> Fn:
    """Remember results per input text: code lists are small and these functions pure.

    Errors are not remembered (they raise every time); non-text inputs are not cached.
    """
    memo: dict[str, Any] = {}

    def cached(value: Any) -> Any:
        if value.__class__ is not str:
            return fn(value)
        try:
            return memo[value]
        except KeyError:
            result = fn(value)
            if len(memo) < _MEMO_SIZE:
                memo[value] = result
            return result

    return cached


def aliased_code(
    table: dict[str, str],
    valid: Callable[[str], bool],
    *,
    what: str,
    error_code: str,
    norm: Callable[[str], str] | None = None,
) -> Fn:
    """A code-list normaliser: text normalised (`norm`, by default trimmed, upper-cased,
    half-width), aliases looked up, the result checked. Shared by `currency` (ISO 4217)
    and `country` (ISO 3166-1); `what` names the code list in the error."""
    spell = norm or _norm

    def normalise(value: Any) -> str:
        code = spell(as_text(value))
        code = table.get(code, code)
        if not valid(code):
            raise DataError(f"cannot read {describe(value)} as {what}", code=error_code)
        return code

    return memoised(normalise)


def _normalised_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_norm(as_key(k)): v for k, v in value.items()}
    return value


# Spellings seen in Chinese ERP and bank exports. CNH (offshore yuan) is a code of its own
# in practice (ISO lists only CNY) and is kept; ¥ and $ alone are ambiguous and refused.
CURRENCY_ALIASES: dict[str, str] = {
    "RMB": "CNY",
    "人民币": "CNY",
    "人民币元": "CNY",
    "CN¥": "CNY",
    "US$": "USD",
    "USD$": "USD",
    "美元": "USD",
    "HK$": "HKD",
    "港币": "HKD",
    "港元": "HKD",
    "€": "EUR",
    "欧元": "EUR",
    "£": "GBP",
    "英镑": "GBP",
    "日元": "JPY",
}


class CurrencyArgs(Args):
    map: Annotated[dict[str, str], BeforeValidator(_normalised_keys)] = Field(default_factory=dict)

    @field_validator("map")
    @classmethod
    def _iso_targets(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(v for v in value.values() if not _is_iso_4217(v))
        if bad:
            raise ValueError(f"map to 3-letter upper-case ISO 4217 codes, not {bad}")
        return value


@register("currency", args=CurrencyArgs)
def currency(args: CurrencyArgs, _: Context) -> Fn:
    """ISO 4217 code: trims, upper-cases, reads RMB/人民币 as CNY and US$ as USD; {map} first."""
    return aliased_code(
        CURRENCY_ALIASES | args.map,
        _is_iso_4217,
        what="an ISO 4217 currency code",
        error_code="invalid_currency",
    )


_UNITS = {
    "H87": "ST PC PCE PCS EA EACH PIECE 个 件 只 台 支",  # piece
    "SET": "SET 套",
    "PR": "PR PAA PAIR 双 对",
    "KGM": "KG KGM 千克 公斤",
    "GRM": "G GR GRM 克",
    "TNE": "TO TNE T 吨",
    "MTR": "M MTR 米",
    "CMT": "CM CMT 厘米",
    "MMT": "MM MMT 毫米",
    "KMT": "KM KMT 公里 千米",
    "MTK": "M2 MTK 平方米",
    "MTQ": "M3 MTQ 立方米",
    "LTR": "L LTR 升",
    "MLT": "ML MLT 毫升",
    "HUR": "H HR HUR 小时",
    "MIN": "MIN 分钟",
    "DAY": "TAG DAY 天",
    "CT": "KAR CAR CT CTN 箱",
    "PK": "PAK PAC PK 包",
    "BX": "BOX BX 盒",
    "LO": "LOT LO 批",
}
UNIT_ALIASES: dict[str, str] = {
    alias: code for code, aliases in _UNITS.items() for alias in aliases.split()
}
"""SAP internal/ISO unit codes, English and Chinese unit names -> UN/ECE Rec 20 codes."""


class UnitArgs(Args):
    map: Annotated[dict[str, str], BeforeValidator(_normalised_keys)] = Field(default_factory=dict)
    unknown: Literal["keep", "quarantine"] = "keep"


@register("unit", args=UnitArgs)
def unit(args: UnitArgs, _: Context) -> Fn:
    """UN/ECE Rec 20 unit code: ST/PC/EA/个 -> H87, KG -> KGM, M -> MTR, L -> LTR; {map} first.

    Units not in the table are kept (upper-cased) unless `unknown: quarantine`.
    """
    table = UNIT_ALIASES | args.map
    quarantine = args.unknown == "quarantine"

    def normalise(value: Any) -> str:
        code = _norm(as_text(value))
        found = table.get(code)
        if found is not None:
            return found
        if quarantine:
            raise DataError(f"unknown unit of measure {describe(value)}", code="unknown_unit")
        return code

    return memoised(normalise)
