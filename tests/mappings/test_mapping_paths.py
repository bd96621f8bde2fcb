"""The expression compiler: plain paths as closures equal to jmespath, the rest jmespath."""

from __future__ import annotations

import json
from typing import Any

import jmespath
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import DataError
from mappings.paths import (
    ExpressionError,
    compile_expression,
    is_plain,
    plain_steps,
    quote_unicode_identifiers,
    truthy,
    walker,
)

KEYS = st.sampled_from(["a", "b", "results", "名称", "x y", ""])
SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=3)
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)
STEPS = st.lists(
    st.one_of(KEYS.map(lambda k: ("f", k)), st.integers(-4, 4).map(lambda i: ("i", i))),
    min_size=1,
    max_size=6,
)


def _expression(steps: list[tuple[str, Any]]) -> str:
    out = ""
    for kind, key in steps:
        if kind == "i":
            out += f"[{key}]"
        else:
            out += ("." if out else "") + json.dumps(key, ensure_ascii=False)
    return out


@given(doc=DOCS, steps=STEPS)
def test_plain_path_closure_equals_jmespath(doc: Any, steps: list[tuple[str, Any]]) -> None:
    expr = _expression(steps)
    assert is_plain(expr)
    assert compile_expression(expr)(doc) == jmespath.search(expr, doc)


@given(doc=DOCS, steps=STEPS, cut=st.integers(1, 5))
def test_prefix_then_rest_equals_whole_path(
    doc: Any, steps: list[tuple[str, Any]], cut: int
) -> None:
    whole = plain_steps(_expression(steps))
    assert whole is not None
    cut = min(cut, len(whole))
    head, rest = walker(whole[:cut]), walker(whole[cut:])
    assert rest(head(doc)) == jmespath.search(_expression(steps), doc)


@pytest.mark.parametrize(
    "expr",
    ["a[*].b", "a[?b == `1`].b", "length(a)", "a || b", "[a, b]", "{x: a}", "a[1:]", "a[]"],
)
@given(doc=DOCS)
def test_other_expressions_use_jmespath(expr: str, doc: Any) -> None:
    assert not is_plain(expr)
    try:
        want = jmespath.search(expr, doc)
    except jmespath.exceptions.JMESPathError:
        with pytest.raises(DataError) as caught:
            compile_expression(expr)(doc)
        assert caught.value.code == "expression_failed"
    else:
        assert compile_expression(expr)(doc) == want


def test_sap_style_nested_path_reads_first_result() -> None:
    record = {"to_Address": {"results": [{"CityName": "上海"}]}}
    assert compile_expression("to_Address.results[0].CityName")(record) == "上海"
    assert compile_expression("to_Address.results[1].CityName")(record) is None
    assert compile_expression("to_Address.results[0].Street")(record) is None


def test_index_on_a_dict_or_text_is_null_as_in_jmespath() -> None:
    assert compile_expression("a[0]")({"a": {"0": 1}}) is None
    assert compile_expression("a[0]")({"a": "text"}) is None


def test_current_and_identity_nodes_are_plain() -> None:
    assert all(is_plain(expr) for expr in ("@", "[0]", "@.a"))
    assert compile_expression("[1]")([5, 6]) == 6


def test_unicode_identifiers_need_no_quotes() -> None:
    record = {"物料编码": "P-1", "行": [{"数量": 2}], "状态": "启用"}
    assert compile_expression("物料编码")(record) == "P-1"
    assert compile_expression("行[0].数量")(record) == 2
    assert compile_expression("状态 == '启用'")(record) is True


def test_quoting_leaves_strings_and_ascii_alone() -> None:
    assert quote_unicode_identifiers("a.b[0]") == "a.b[0]"
    assert quote_unicode_identifiers("状态 == '启用'") == "\"状态\" == '启用'"
    assert quote_unicode_identifiers('"已 引用".名称') == '"已 引用"."名称"'
    assert quote_unicode_identifiers('x == `"启用"`') == 'x == `"启用"`'


@pytest.mark.parametrize(
    ("expr", "message", "offset"),
    [
        ("a.", "Expecting", 2),
        ("email[?", "incomplete expression", 7),
        ('"abc', 'Unclosed " delimiter', 0),
        ("lenght(a)", "unknown function lenght() (did you mean length()?)", None),
        ("length(a, b)", "length() takes 1 argument(s), got 2", None),
    ],
)
def test_invalid_expression_is_reported_with_position(
    expr: str, message: str, offset: int | None
) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(expr)
    assert message in str(caught.value)
    assert caught.value.offset == offset


def test_variadic_functions_accept_many_arguments() -> None:
    assert compile_expression("not_null(a, b, c)")({"c": 3}) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        ("", False),
        ([], False),
        ({}, False),
        (0, True),
        ("0", True),
        ([0], True),
        (True, True),
    ],
)
def test_truthiness_follows_jmespath_not_python(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


@pytest.mark.parametrize(
    "expr",
    [
        "a == `1`",
        "a != `true`",
        "a == 'x'",
        "a.b != `null`",
        "a == b",
        "!a",
        "!a.b",
        "a && b",
        "a || b == `0`",
        "a == `0` && !b",
        "`false`",
        "!(a == `1` || b)",
        "a[0] != 'x'",
    ],
)
@given(doc=DOCS)
def test_compiled_filters_equal_jmespath(expr: str, doc: Any) -> None:
    assert compile_expression(expr)(doc) == jmespath.search(expr, doc)
