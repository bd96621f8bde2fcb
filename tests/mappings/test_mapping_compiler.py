"""Compiled mappings at run time: what map() returns, and how errors name their field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import jmespath
import pytest

from core.errors import ConfigError, DataError
from core.model.mapped import MappedRecord, Ref
from core.sync.ports import Mapper
from mappings.runtime import CompiledMapping

Compile = Callable[..., CompiledMapping]

ORDER = """\
version: 1
source: {connector: files, stream: orders, object: sales_orders}
target: order
key: order_no
fields:
  number: order_no
  account_id: {ref: {object: customers, key: customer}}
  lines:
    each: items
    fields:
      line_no: {from: line, transform: int}
      product_id: {ref: {object: products, key: sku, transform: [trim, upper]}}
      quantity: {from: qty, transform: decimal}
"""


def mapped(mapping: CompiledMapping, record: dict[str, Any]) -> MappedRecord:
    result = mapping.map(record)
    assert result is not None
    return result


def test_mapping_satisfies_the_sync_engines_mapper_protocol(compile_yaml: Compile) -> None:
    mapping = compile_yaml(ORDER, name="files/orders")
    port: Mapper = mapping
    assert (port.name, port.stream, port.object, port.entity) == (
        "files/orders",
        "orders",
        "sales_orders",
        "order",
    )
    assert port.owns == frozenset()
    assert tuple(port.match) == ()
    assert isinstance(port.map({"order_no": "1"}), MappedRecord)


def test_object_defaults_to_the_stream(compile_yaml: Compile) -> None:
    assert compile_yaml("fields: {name: n}\n").object == "customers"


def test_every_mapped_field_is_present_even_when_null(compile_yaml: Compile) -> None:
    mapping = compile_yaml("fields:\n  name: n\n  city: c\n  lifecycle: {const: customer}\n")
    result = mapped(mapping, {"code": "C1", "n": "甲公司", "c": ""})
    assert result == MappedRecord("C1", {"lifecycle": "customer", "name": "甲公司", "city": None})


def test_empty_strings_are_kept_when_empty_as_null_is_off(compile_yaml: Compile) -> None:
    mapping = compile_yaml(
        "options: {empty_as_null: false}\nfields:\n  name: n\n  city: {from: c, transform: trim}\n"
    )
    assert mapped(mapping, {"code": "C1", "n": "", "c": "  "}).values == {"name": "", "city": ""}


def test_key_is_text_and_a_list_is_joined_with_a_slash(compile_yaml: Compile) -> None:
    assert mapped(compile_yaml("fields: {name: n}\n"), {"code": 42}).external_id == "42"
    doc = (
        "version: 1\nsource: {connector: sap, stream: s}\ntarget: account\n"
        "key: [org, code]\nfields: {name: n}\n"
    )
    assert mapped(compile_yaml(doc), {"org": "1000", "code": 7}).external_id == "1000/7"


@pytest.mark.parametrize("record", [{}, {"code": ""}, {"code": None}])
def test_record_without_key_is_refused(compile_yaml: Compile, record: dict[str, Any]) -> None:
    with pytest.raises(DataError) as caught:
        compile_yaml("fields: {name: n}\n").map(record)
    assert (caught.value.code, caught.value.field) == ("missing_key", None)
    assert caught.value.message == "the record has no key: 'code' is empty"


def test_key_is_spelt_as_code_lists_compare_text(compile_yaml: Compile) -> None:
    mapping = compile_yaml("fields: {name: n}\n")
    assert mapped(mapping, {"code": 1000042.0}).external_id == "1000042"
    assert mapped(mapping, {"code": 12.5}).external_id == "12.5"


def test_empty_key_is_refused_even_when_empty_strings_are_kept(compile_yaml: Compile) -> None:
    mapping = compile_yaml("options: {empty_as_null: false}\nfields: {name: n}\n")
    with pytest.raises(DataError) as caught:
        mapping.map({"code": ""})
    assert caught.value.code == "missing_key"


def test_key_transforms_apply_to_each_part(compile_yaml: Compile) -> None:
    doc = (
        "version: 1\nsource: {connector: files, stream: p}\ntarget: product\n"
        "key: {from: [plant, sku], transform: [text, trim, upper]}\nfields: {sku: sku}\n"
    )
    assert mapped(compile_yaml(doc), {"plant": 1000, "sku": " p-1 "}).external_id == "1000/P-1"
    with pytest.raises(DataError) as caught:
        compile_yaml(doc).map({"plant": "1000", "sku": "  "})
    assert caught.value.code == "missing_key"


def test_key_transform_errors_name_the_key(compile_yaml: Compile) -> None:
    doc = (
        "version: 1\nsource: {connector: files, stream: p}\ntarget: product\n"
        "key: {from: sku, transform: int}\nfields: {sku: sku}\n"
    )
    with pytest.raises(DataError) as caught:
        compile_yaml(doc).map({"sku": "P-1"})
    assert caught.value.message == "key: cannot read 'P-1' as a whole number (from 'sku')"


def test_runtime_error_names_field_and_source_expression(compile_yaml: Compile) -> None:
    mapping = compile_yaml(
        "fields:\n  name: n\n  credit_limit: {from: CreditLimit, transform: decimal}\n"
    )
    with pytest.raises(DataError) as caught:
        mapping.map({"code": "C1", "n": "x", "CreditLimit": "12,3x"})
    error = caught.value
    assert error.message == "credit_limit: cannot read '12,3x' as a decimal (from 'CreditLimit')"
    assert (error.field, error.code) == ("credit_limit", "invalid_decimal")


def test_value_map_fail_policy_raises_a_config_error_at_run_time(compile_yaml: Compile) -> None:
    mapping = compile_yaml(
        "fields:\n  name: n\n"
        "  industry: {from: i, transform: {value_map: {map: {'01': a}, unknown: fail}}}\n",
        name="files/demo",
    )
    with pytest.raises(ConfigError) as caught:
        mapping.map({"code": "C1", "n": "x", "i": "07"})
    assert caught.value.message == (
        "value '07' of field industry is not in the value map of files/demo: add it"
    )


def test_default_is_read_like_a_source_value_and_used_when_null(compile_yaml: Compile) -> None:
    mapping = compile_yaml(
        "fields:\n  name: n\n"
        "  credit_limit: {from: c, transform: [{null_if: ['-']}, decimal], default: '1,000'}\n"
    )
    for raw in (None, "", "-"):
        assert mapped(mapping, {"code": "C1", "c": raw}).values["credit_limit"] == Decimal("1000")
    assert mapped(mapping, {"code": "C1", "c": "5"}).values["credit_limit"] == Decimal("5")


def test_default_transform_step_sees_missing_values(compile_yaml: Compile) -> None:
    mapping = compile_yaml("fields:\n  name: {from: n, transform: [{default: 未命名}, trim]}\n")
    assert mapped(mapping, {"code": "C1"}).values["name"] == "未命名"


def test_when_skips_records_by_jmespath_truth(compile_yaml: Compile) -> None:
    mapping = compile_yaml("when: \"status != 'deleted'\"\nfields: {name: n}\n")
    assert mapping.map({"code": "1", "status": "deleted"}) is None
    assert mapping.map({"code": "1", "status": "active"}) is not None
    zero_is_true = compile_yaml("when: flag\nfields: {name: n}\n")
    assert zero_is_true.map({"code": "1", "flag": 0}) is not None
    assert zero_is_true.map({"code": "1", "flag": ""}) is None


def test_when_runs_before_the_key_is_read(compile_yaml: Compile) -> None:
    mapping = compile_yaml("when: code\nfields: {name: n}\n")
    assert mapping.map({"n": "合计"}) is None


def test_refs_and_child_collections(compile_yaml: Compile) -> None:
    result = mapped(
        compile_yaml(ORDER),
        {
            "order_no": "SO1",
            "customer": "C1",
            "items": [{"line": "10", "sku": " p-1 ", "qty": "2"}, {"line": 20, "qty": 1}],
        },
    )
    assert result.values == {
        "number": "SO1",
        "account_id": Ref("customers", "C1"),
        "lines": [
            {"line_no": 10, "product_id": Ref("products", "P-1"), "quantity": Decimal("2")},
            {"line_no": 20, "product_id": None, "quantity": Decimal("1")},
        ],
    }


def test_missing_or_empty_child_lists(compile_yaml: Compile) -> None:
    mapping = compile_yaml(ORDER)
    assert mapped(mapping, {"order_no": "1"}).values["lines"] is None
    assert mapped(mapping, {"order_no": "1", "items": []}).values["lines"] == []
    with pytest.raises(DataError) as caught:
        mapping.map({"order_no": "1", "items": {"line": 1}})
    assert (caught.value.field, caught.value.code) == ("lines", "not_a_list")


def test_child_error_names_the_element_and_the_child_field(compile_yaml: Compile) -> None:
    with pytest.raises(DataError) as caught:
        compile_yaml(ORDER).map(
            {"order_no": "1", "items": [{"line": 1}, {"line": 2, "qty": "两台"}]}
        )
    error = caught.value
    assert error.message == "lines[1].quantity: cannot read '两台' as a decimal (from 'qty')"
    assert (error.field, error.code, error.details["index"]) == (
        "lines.quantity",
        "invalid_decimal",
        1,
    )


def test_source_ts_string_form_reads_iso_datetimes(compile_yaml: Compile) -> None:
    mapping = compile_yaml("source_ts: changed\nfields: {name: n}\n")
    result = mapped(mapping, {"code": "1", "changed": "2024-05-06T14:30:00+08:00"})
    assert result.source_ts == datetime(2024, 5, 6, 6, 30, tzinfo=UTC)
    assert mapped(mapping, {"code": "1"}).source_ts is None


def test_source_ts_from_sap_date_and_time(compile_yaml: Compile) -> None:
    mapping = compile_yaml(
        "source_ts: {from: [LastChangeDate, LastChangeTime], transform: sap_datetime}\n"
        "options: {timezone: Asia/Shanghai}\nfields: {name: n}\n"
    )
    result = mapped(
        mapping,
        {"code": "1", "LastChangeDate": "/Date(1714953600000)/", "LastChangeTime": "PT14H30M00S"},
    )
    assert result.source_ts == datetime(2024, 5, 6, 6, 30, tzinfo=UTC)


def test_source_ts_must_be_an_aware_datetime(compile_yaml: Compile) -> None:
    mapping = compile_yaml("source_ts: {from: changed, transform: trim}\nfields: {name: n}\n")
    with pytest.raises(DataError) as caught:
        mapping.map({"code": "1", "changed": "2024-05-06"})
    assert caught.value.code == "invalid_source_ts"


def test_source_ts_errors_name_source_ts(compile_yaml: Compile) -> None:
    with pytest.raises(DataError) as caught:
        compile_yaml("source_ts: changed\nfields: {name: n}\n").map(
            {"code": "1", "changed": "soon"}
        )
    assert caught.value.message == "source_ts: cannot read 'soon' as a datetime (from 'changed')"
    assert caught.value.field is None


def test_several_expressions_give_the_pipeline_a_list(compile_yaml: Compile) -> None:
    mapping = compile_yaml(
        "fields:\n  name: n\n  address: {from: [province, city, street], transform: join}\n"
    )
    result = mapped(
        mapping, {"code": "1", "province": "广东省", "city": "", "street": "深南大道1号"}
    )
    assert result.values["address"] == "广东省 深南大道1号"


def test_jmespath_functions_work_in_fields(compile_yaml: Compile) -> None:
    mapping = compile_yaml("fields:\n  name: \"join(' ', [first, last])\"\n")
    assert mapped(mapping, {"code": "1", "first": "王", "last": "建国"}).values["name"] == "王 建国"


SAP = """\
version: 1
source: {connector: sap, stream: partners}
target: account
key: BusinessPartner
fields:
  name: Name
  city: to_Address.results[0].CityName
  country: to_Address.results[0].Country
  phone: to_Address.results[0].to_Phone.results[0].Number
  email: to_Address.results[0].to_Email.results[0].Address
  postal_code: to_Address.results[-1].PostalCode
"""
SAP_RECORDS: list[dict[str, Any]] = [
    {
        "BusinessPartner": "1",
        "Name": "甲",
        "to_Address": {
            "results": [
                {
                    "CityName": "上海",
                    "Country": "CN",
                    "PostalCode": "200000",
                    "to_Phone": {"results": [{"Number": "021"}]},
                    "to_Email": {"results": []},
                }
            ]
        },
    },
    {"BusinessPartner": "2", "to_Address": {"results": []}},
    {"BusinessPartner": "3", "to_Address": None},
    {"BusinessPartner": "4", "to_Address": {"results": ["text", {"CityName": "北京"}]}},
    {"BusinessPartner": "5", "to_Address": {"results": [{"to_Phone": "n/a"}]}},
]


@pytest.mark.parametrize("record", SAP_RECORDS)
def test_fields_sharing_a_path_prefix_read_like_jmespath(
    compile_yaml: Compile, record: dict[str, Any]
) -> None:
    mapping = compile_yaml(SAP)
    values = mapped(mapping, record).values
    fields = mapping.spec.fields
    for name, expr in fields.items():
        assert isinstance(expr, str)
        want = jmespath.search(expr, record)
        assert values[name] == (None if want == "" else want), name
