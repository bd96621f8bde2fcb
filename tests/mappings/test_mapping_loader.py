"""Loading documents: every problem found at once, each at file:line:column with a fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from core.errors import ConfigError
from mappings.errors import MappingSpecError
from mappings.loader import load_file, load_text

HEAD = """\
version: 1
source: {connector: files, stream: customers}
target: account
key: customer_code
"""


def problems(text: str) -> list[str]:
    """The rendered problems of a document (HEAD + `text` when text has no version line)."""
    text = textwrap.dedent(text)
    doc = text if text.startswith(("version", "-")) or not text.strip() else HEAD + text
    with pytest.raises(MappingSpecError) as caught:
        load_text(doc, file="m.yaml")
    return [p.render() for p in caught.value.problems]


def test_unknown_field_names_file_line_column_and_suggestion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mappings" / "files"
    folder.mkdir(parents=True)
    (folder / "demo_accounts.yaml").write_text(
        HEAD
        + "fields:\n  name: company_name\n"
        + "  credit_limt: {from: credit_limit, transform: decimal}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_file("mappings/files/demo_accounts.yaml")
    assert str(caught.value) == (
        "mappings/files/demo_accounts.yaml:7:3: fields.credit_limt: account has no field "
        "'credit_limt' (did you mean 'credit_limit'?)"
    )


def test_all_problems_of_a_document_are_reported_in_line_order() -> None:
    found = problems("""\
        match: [uscc, nmae]
        owns: [credit_limit, payment_terms]
        fields:
          name: company_name
          credit_limit: {from: credit_limit, transform: decimel}
          industry: {from: industry_code, transform: {value_map: {mapp: {}}}}
          parent_id: "parent"
          lines: {each: items, fields: {sku: sku}}
          city: {ref: {object: cities, key: city}}
          email: {from: "email[?"}
          phone: {form: phone}
        """)
    assert found == [
        "m.yaml:5:9: match[0]: match rule 'uscc' compares uscc, which is not mapped "
        "(map fields.uscc or drop 'uscc')",
        "m.yaml:5:15: match[1]: account has no match rule 'nmae' (did you mean 'name'?)",
        "m.yaml:6:22: owns[1]: owns 'payment_terms' but does not map it "
        "(map fields.payment_terms or drop it from owns)",
        "m.yaml:9:49: fields.credit_limit.transform: unknown transform 'decimel' "
        "(did you mean 'decimal'?)",
        "m.yaml:10:58: fields.industry.transform.value_map: missing required key 'map'",
        "m.yaml:10:59: fields.industry.transform.value_map.mapp: unknown key 'mapp' "
        "(did you mean 'map'?)",
        "m.yaml:11:14: fields.parent_id: parent_id refers to account: write it as a ref "
        "(parent_id: {ref: {object: <source object>, key: <expression>}})",
        "m.yaml:12:3: fields.lines: account has no field 'lines' (fields: name, legal_name, uscc, "
        "industry, lifecycle, country, province, city, district, address, postal_code, phone, "
        "email, website, latitude, longitude, parent_id, owner_id, credit_limit, "
        "credit_currency, payment_terms)",
        "m.yaml:13:10: fields.city.ref: city is not a reference field of account "
        "(reference fields: parent_id)",
        "m.yaml:14:25: fields.email.from: invalid JMESPath 'email[?': incomplete expression",
        "m.yaml:15:10: fields.phone: a field is an expression, or a mapping with from, const, "
        "ref or each (did you mean 'from'?)",
    ]


def test_error_message_starts_with_the_count() -> None:
    with pytest.raises(MappingSpecError) as caught:
        load_text(HEAD + "fields:\n  nme: a\n  cty: b\n", file="m.yaml")
    assert str(caught.value).splitlines()[0] == "m.yaml: 2 problems"


def test_each_on_a_plain_field_and_children_without_each() -> None:
    found = problems("""\
        version: 1
        source: {connector: files, stream: orders}
        target: order
        key: order_no
        fields:
          number: {each: items, fields: {x: y}}
          lines: items
        """)
    assert found == [
        "m.yaml:6:12: fields.number.each: number is not a child collection of order "
        "(child collections: lines)",
        "m.yaml:7:10: fields.lines: lines is a child collection: write it with each "
        "(lines: {each: <list expression>, fields: {...}})",
    ]


def test_child_fields_are_checked_against_the_child_entity() -> None:
    found = problems("""\
        version: 1
        source: {connector: files, stream: orders}
        target: order
        key: order_no
        fields:
          number: order_no
          lines:
            each: items
            fields:
              qty: qty
              product_id: {ref: {object: products, key: sku}}
        """)
    assert found == [
        "m.yaml:10:7: fields.lines.fields.qty: order_line has no field 'qty' (fields: line_no, "
        "product_id, sku, description, quantity, unit, unit_price, net_amount, tax_rate)",
    ]


def test_unknown_entity_is_reported_with_a_suggestion() -> None:
    found = problems(HEAD.replace("target: account", "target: acount") + "fields: {name: n}\n")
    assert found == [
        "m.yaml:3:9: target: unknown canonical entity 'acount' (did you mean 'account'?)"
    ]


def test_structure_problems_do_not_hide_the_compilers() -> None:
    found = problems("""\
        when: 3
        fields:
          name: {from: n, transform: [trim, {truncate: {length: "9"}}]}
          cityy: city
        """)
    assert found == [
        "m.yaml:5:7: when: input should be a valid string, got 3",
        "m.yaml:7:57: fields.name.transform[1].truncate.length: input should be a valid "
        "integer, got '9'",
        "m.yaml:8:3: fields.cityy: account has no field 'cityy' (did you mean 'city'?)",
    ]


def test_broken_field_shape_still_lets_the_rest_compile() -> None:
    found = problems("""\
        owns: [credit_limit]
        fields:
          name: company_name
          credit_limit: {from: x, extra: 1}
          cityy: city
        """)
    assert found == [
        "m.yaml:8:27: fields.credit_limit.extra: unknown key 'extra'",
        "m.yaml:9:3: fields.cityy: account has no field 'cityy' (did you mean 'city'?)",
    ]


def test_missing_required_keys_are_named() -> None:
    found = problems("version: 1\nsource: {connector: files}\nfields: {name: n}\n")
    assert found == [
        "m.yaml:1:1: (document): missing required key 'target'",
        "m.yaml:1:1: (document): missing required key 'key'",
        "m.yaml:2:9: source: missing required key 'stream'",
    ]


def test_yaml_syntax_error_has_a_position_and_a_hint() -> None:
    found = problems("fields:\n  city: {from: a.results[0].City}\n")
    assert found == [
        "m.yaml:6:25: (document): invalid YAML: expected ',' or '}', but got '[' "
        "(inside { } or [ ], quote text that contains [ ] { } or ',')",
    ]


def test_empty_and_non_mapping_documents() -> None:
    assert problems("") == ["m.yaml:1:1: (document): the document is empty"]
    assert problems("- a\n") == [
        "m.yaml:1:1: (document): input should be a valid dictionary, got ['a']"
    ]


def test_duplicate_keys_are_reported() -> None:
    found = problems("fields:\n  name: a\n  city: b\n  name: c\n")
    assert found == ["m.yaml:8:3: fields.name: 'name' is given twice (first on line 6)"]


def test_codes_stay_text_and_only_true_false_are_booleans() -> None:
    mapping = load_text(
        HEAD
        + """\
fields:
  name: n
  industry:
    from: code
    transform: {value_map: {map: {01: manufacturing, N: "no", no: N, 14:30: time, on: off}}}
""",
        file="m.yaml",
    )
    spec_map = mapping.spec.fields["industry"].transform[0]["value_map"]["map"]  # type: ignore[union-attr]
    assert spec_map == {"01": "manufacturing", "N": "no", "no": "N", "14:30": "time", "on": "off"}
    assert (
        mapping.map({"customer_code": "C1", "code": "01", "n": "x"}).values["industry"]
        == "manufacturing"
    )  # type: ignore[union-attr]


def test_value_map_targets_must_fit_the_field() -> None:
    found = problems("""\
        version: 1
        source: {connector: files, stream: contacts}
        target: contact
        key: id
        fields:
          name: name
          role: {from: role, transform: {value_map: {map: {决策者: decision-maker}}}}
        """)
    assert len(found) == 1
    assert found[0].startswith(
        "m.yaml:7:57: fields.role.transform.value_map.map.决策者: 'decision-maker' does not fit "
        "contact.role: Input should be 'decision_maker',"
    )


def test_constants_must_fit_the_field() -> None:
    found = problems("fields:\n  name: n\n  lifecycle: {const: custmer}\n")
    assert found[0].startswith(
        "m.yaml:7:22: fields.lifecycle.const: 'custmer' does not fit account.lifecycle"
    )


def test_default_goes_through_the_transforms_at_compile_time() -> None:
    found = problems(
        "fields:\n  name: n\n  credit_limit: {from: c, transform: decimal, default: lots}\n"
    )
    assert found == [
        "m.yaml:7:56: fields.credit_limit.default: default 'lots' does not pass the transforms: "
        "cannot read 'lots' as a decimal"
    ]


def test_bad_transform_step_forms() -> None:
    found = problems("""\
        fields:
          name: {from: n, transform: [{trim: 1}, truncate, {a: 1, b: 2}, {truncate: [1]}]}
        """)
    assert found == [
        "m.yaml:6:38: fields.name.transform[0].trim: transform 'trim' takes no arguments",
        "m.yaml:6:42: fields.name.transform[1]: transform 'truncate' needs arguments, "
        "e.g. {truncate: {length: ...}}",
        "m.yaml:6:52: fields.name.transform[2]: a transform is a name or a one-key mapping "
        "{name: arguments}",
        "m.yaml:6:77: fields.name.transform[3].truncate: input should be a valid integer, got [1]",
    ]


def test_timezone_option_is_validated() -> None:
    found = problems("options: {timezone: Beijing}\nfields: {name: n}\n")
    assert found == [
        "m.yaml:5:21: options.timezone: unknown time zone 'Beijing' (use an IANA name such as "
        "'Asia/Shanghai')"
    ]


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the mapping"):
        load_file(tmp_path / "missing.yaml")
