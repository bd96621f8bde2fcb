"""Finding mappings (files or built-in names), caching, and previewing samples."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import ConfigError, DataError
from core.model.mapped import Ref
from mappings.catalog import builtin_path, clear_cache, list_builtin, load_mapping, resolve
from mappings.preview import outcome, preview, read_sample, to_json

DOC = """\
version: 1
source: {connector: files, stream: customers}
target: account
key: code
when: "code != 'TOTAL'"
fields:
  name: n
"""


def test_builtin_mappings_are_listed_by_connector_and_name() -> None:
    assert {
        "files/demo_accounts",
        "files/demo_contacts",
        "files/demo_products",
        "files/demo_orders",
        "files/demo_payments",
    } <= set(list_builtin())


def test_builtin_name_resolves_to_package_data() -> None:
    path, name = resolve("files/demo_accounts")
    assert path == builtin_path("files/demo_accounts")
    assert path.parts[-3:] == ("mappings", "files", "demo_accounts.yaml")
    assert name == "files/demo_accounts"
    assert load_mapping("files/demo_accounts").name == "files/demo_accounts"


def test_file_path_resolves_to_itself(tmp_path: Path) -> None:
    spec = tmp_path / "mine.yaml"
    spec.write_text(DOC, encoding="utf-8")
    mapping = load_mapping(str(spec))
    assert mapping.name == str(spec)
    assert mapping.entity == "account"


def test_unknown_reference_suggests_a_builtin() -> None:
    with pytest.raises(ConfigError) as caught:
        load_mapping("files/demo_acounts")
    assert "no mapping 'files/demo_acounts'" in caught.value.message
    assert caught.value.hint == "did you mean 'files/demo_accounts'?"


def test_compiled_mapping_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    clear_cache()
    spec = tmp_path / "mine.yaml"
    spec.write_text(DOC, encoding="utf-8")
    first = load_mapping(str(spec))
    assert load_mapping(str(spec)) is first
    spec.write_text(DOC.replace("name: n", "name: m"), encoding="utf-8")
    stat = spec.stat()
    os.utime(spec, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = load_mapping(str(spec))
    assert second is not first
    assert second.map({"code": "1", "m": "乙"}).values == {"name": "乙"}  # type: ignore[union-attr]


def test_preview_is_json_friendly() -> None:
    mapping = load_mapping("files/demo_orders")
    shown = preview(
        mapping,
        {
            "order_no": "SO1",
            "customer_code": "C1",
            "order_date": "20240506",
            "status": "A",
            "currency": "rmb",
            "net": "1,000.00",
            "updated_at": "2024-05-06T14:30:00+08:00",
            "items": [{"line": 10, "sku": "p-1", "qty": "2", "uom": "ST"}],
        },
    )
    assert shown["external_id"] == "SO1"
    assert shown["entity"] == "order"
    assert shown["source_ts"] == "2024-05-06T06:30:00+00:00"
    values = shown["values"]
    assert values["net_amount"] == "1000.00"
    assert values["order_date"] == "2024-05-06"
    assert values["account_id"] == {"ref": {"object": "customers", "external_id": "C1"}}
    assert values["lines"][0]["product_id"] == {"ref": {"object": "products", "external_id": "P-1"}}
    json.dumps(shown)


def test_preview_says_why_a_record_is_skipped(tmp_path: Path) -> None:
    spec = tmp_path / "mine.yaml"
    spec.write_text(DOC, encoding="utf-8")
    assert preview(load_mapping(str(spec)), {"code": "TOTAL"}) == {
        "skipped": True,
        "reason": "when: code != 'TOTAL'",
    }


def test_preview_lets_data_errors_through_and_outcome_records_them() -> None:
    mapping = load_mapping("files/demo_accounts")
    record = {"customer_code": "C1", "company_name": "甲", "credit_limit": "12,3x"}
    with pytest.raises(DataError):
        preview(mapping, record)
    assert outcome(mapping, record) == {
        "error": {
            "field": "credit_limit",
            "code": "invalid_decimal",
            "message": "credit_limit: cannot read '12,3x' as a decimal (from 'credit_limit')",
        }
    }


def test_to_json_keeps_decimal_digits_and_spells_instants() -> None:
    assert to_json(
        {
            "a": Decimal("1E+3"),
            "b": Decimal("0.10"),
            "c": datetime(2024, 5, 6, tzinfo=UTC),
            "d": [Ref("customers", "C1")],
            "e": None,
        }
    ) == {
        "a": "1000",
        "b": "0.10",
        "c": "2024-05-06T00:00:00+00:00",
        "d": [{"ref": {"object": "customers", "external_id": "C1"}}],
        "e": None,
    }


@pytest.mark.parametrize(
    ("name", "text", "count"),
    [
        ("one.json", '{"a": 1}', 1),
        ("many.json", '[{"a": 1}, {"a": 2}]', 2),
        ("lines.jsonl", '{"a": 1}\n\n{"a": 2}\n', 2),
    ],
)
def test_sample_file_holds_one_record_or_many(
    tmp_path: Path, name: str, text: str, count: int
) -> None:
    sample = tmp_path / name
    sample.write_text(text, encoding="utf-8")
    assert len(read_sample(sample)) == count


@pytest.mark.parametrize(("text", "message"), [("{", "not valid JSON"), ("[1, 2]", "JSON object")])
def test_bad_sample_file_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    sample = tmp_path / "s.json"
    sample.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        read_sample(sample)
