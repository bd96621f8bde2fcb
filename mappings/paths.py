"""Field expressions: JMESPath, with plain paths compiled to Python closures.

Most mapping expressions are plain paths (`CompanyName`, `to_Address.results[0].CityName`).
jmespath interprets its AST on every call (about 35k records/s for a 10-field mapping);
a closure that walks dict keys and list indexes gives the same result about ten times
faster. Anything else (filters, projections, functions, comparisons) keeps jmespath's
compiled expression. No user text is ever passed to eval/exec.

One extension to JMESPath: identifiers may contain non-ASCII letters, so a CSV column
named 物料编码 can be written bare instead of as the quoted identifier `"物料编码"`. Names
with spaces or punctuation still need JMESPath quotes.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import IncompleteExpressionError, JMESPathError, LexerError, ParseError
from jmespath.functions import Functions

from core.errors import DataError

Getter = Callable[[Any], Any]

_WORD = re.compile(r"\w+")
_FUNCTIONS: dict[str, Any] = Functions.FUNCTION_TABLE


class ExpressionError(ValueError):
    """An expression that does not parse; `offset` is where the parser stopped, if known."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


def quote_unicode_identifiers(expr: str) -> str:
    """Quote bare identifiers that contain non-ASCII letters (JMESPath allows only ASCII).

    Text inside quoted identifiers ("..."), raw string literals ('...') and JSON literals
    (`...`) is left alone. ASCII-only expressions come back unchanged.
    """
    if expr.isascii():
        return expr
    out: list[str] = []
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch in "\"'`":
            end = _closing_quote(expr, i)
            out.append(expr[i:end])
            i = end
            continue
        match = _WORD.match(expr, i)
        if match is None:
            out.append(ch)
            i += 1
            continue
        word = match.group()
        if not word.isascii() and not word[0].isdigit():
            word = json.dumps(word, ensure_ascii=False)
        out.append(word)
        i = match.end()
    return "".join(out)


def _closing_quote(expr: str, start: int) -> int:
    """Index just after the quote that closes the one at `start` (or the end of text)."""
    quote, i = expr[start], start + 1
    while i < len(expr):
        if expr[i] == "\\":
            i += 2
            continue
        if expr[i] == quote:
            return i + 1
        i += 1
    return len(expr)


@lru_cache(maxsize=4096)
def parse(expr: str) -> Any:
    """Compile an expression with jmespath; raise ExpressionError with the error offset.

    Function names and argument counts are checked here too: jmespath itself would only
    find them wrong when the first record arrives.
    """
    text = quote_unicode_identifiers(expr)
    try:
        compiled = jmespath.compile(text)
    except IncompleteExpressionError as exc:
        offset = exc.lex_position if text == expr else None
        raise ExpressionError(f"invalid JMESPath {expr!r}: incomplete expression", offset) from None
    except LexerError as exc:
        offset = exc.lexer_position if text == expr else None
        raise ExpressionError(f"invalid JMESPath {expr!r}: {exc.message}", offset) from None
    except ParseError as exc:
        offset = exc.lex_position if text == expr else None
        raise ExpressionError(f"invalid JMESPath {expr!r}: {exc.msg}", offset) from None
    _check_functions(compiled.parsed, expr)
    return compiled


def _check_functions(node: Any, expr: str) -> None:
    if node.get("type") == "function_expression":
        name, given = node["value"], len(node["children"])
        spec = _FUNCTIONS.get(name)
        if spec is None:
            hint = difflib.get_close_matches(name, list(_FUNCTIONS), n=1)
            near = f" (did you mean {hint[0]}()?)" if hint else ""
            raise ExpressionError(f"invalid JMESPath {expr!r}: unknown function {name}(){near}")
        signature = spec["signature"]
        variadic = bool(signature) and signature[-1].get("variadic", False)
        if given < len(signature) - variadic or (not variadic and given > len(signature)):
            raise ExpressionError(
                f"invalid JMESPath {expr!r}: {name}() takes {len(signature)} argument(s), "
                f"got {given}"
            )
    for child in node.get("children", ()):
        if isinstance(child, dict):
            _check_functions(child, expr)


PathStep = tuple[bool, str | int]
"""(is_index, key): a field name or a list index."""


def plain_path(parsed: dict[str, Any]) -> list[PathStep] | None:
    """The (is_index, key) steps of a plain path AST, or None if it is anything else."""
    kind = parsed["type"]
    if kind == "field":
        return [(False, parsed["value"])]
    if kind == "index":
        return [(True, parsed["value"])]
    if kind in ("identity", "current"):
        return []
    if kind in ("subexpression", "index_expression"):
        steps: list[PathStep] = []
        for child in parsed["children"]:
            sub = plain_path(child)
            if sub is None:
                return None
            steps.extend(sub)
        return steps
    return None


def compile_expression(expr: str) -> Getter:
    """A function record -> value equal to `jmespath.search(expr, record)`.

    Raises ExpressionError at compile time. At run time a jmespath evaluation error (a
    function given the wrong type, e.g. `starts_with(null, 'x')`) is a DataError.
    """
    compiled = parse(expr)
    fast = _compile_node(compiled.parsed)
    if fast is not None:
        return fast
    search = compiled.search

    def evaluate(record: Any) -> Any:
        try:
            return search(record)
        except JMESPathError as exc:
            raise DataError(f"cannot evaluate {expr!r}: {exc}", code="expression_failed") from None

    return evaluate


def _compile_node(node: dict[str, Any]) -> Getter | None:
    """A closure for plain paths, literals, ==/!= and and/or/not over them (the usual
    `when:` filters such as `Status != 'X'`); None for anything else.

    Same results as jmespath's interpreter, including its truth rules and its refusal to
    equate true with 1 (tests/mappings/test_mapping_paths.py checks both against it).
    """
    steps = plain_path(node)
    if steps is not None:
        return _walker(steps)
    kind = node["type"]
    if kind == "literal":
        constant = node["value"]
        return lambda _record: constant
    if kind not in ("comparator", "and_expression", "or_expression", "not_expression"):
        return None
    parts = [_compile_node(child) for child in node["children"]]
    if any(part is None for part in parts):
        return None
    if kind == "comparator" and node["value"] in ("eq", "ne"):
        left, right = parts
        assert left is not None and right is not None
        if node["value"] == "eq":
            return lambda record: _equals(left(record), right(record))
        return lambda record: not _equals(left(record), right(record))
    if kind == "and_expression":
        first, second = parts
        assert first is not None and second is not None
        return lambda record: m if not truthy(m := first(record)) else second(record)
    if kind == "or_expression":
        first, second = parts
        assert first is not None and second is not None
        return lambda record: m if truthy(m := first(record)) else second(record)
    if kind == "not_expression":
        (inner,) = parts
        assert inner is not None
        return lambda record: _not(inner(record))
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equals(left: Any, right: Any) -> bool:
    """JMESPath equality: like Python's, except true/false never equal 1/0."""
    if (_is_number(left) and left in (0, 1) and isinstance(right, bool)) or (
        _is_number(right) and right in (0, 1) and isinstance(left, bool)
    ):
        return False
    return bool(left == right)


def _not(value: Any) -> bool:
    """JMESPath `!`: like Python's `not`, except that !0 is false."""
    if _is_number(value) and value == 0:
        return False
    return not value


def plain_steps(expr: str) -> tuple[PathStep, ...] | None:
    """The steps of a plain path, or None (not plain, or not valid: reported elsewhere)."""
    try:
        steps = plain_path(parse(expr).parsed)
    except ExpressionError:
        return None
    return None if steps is None else tuple(steps)


def single_field(steps: tuple[PathStep, ...] | None) -> str | None:
    """The key when the steps read one field (`CompanyName`); lets the compiler fuse the
    read into the field's closure."""
    if steps is not None and len(steps) == 1 and not steps[0][0]:
        return str(steps[0][1])
    return None


def walker(steps: tuple[PathStep, ...]) -> Getter:
    """The closure for plain-path steps (also used for the rest of a path after a shared
    prefix: walking a prefix and then the rest gives the whole path's result)."""
    return _walker(list(steps))


def shared_prefixes(reads: Mapping[str, str]) -> dict[str, tuple[PathStep, ...]]:
    """Name -> the longest plain-path prefix (2+ steps) its expression shares with another.

    SAP records nest: six fields may read `to_BusinessPartnerAddress.results[0]` and
    then one key each. Walking the shared prefix once per record and the rest per field
    gives the same values faster. Every rest is at least one step.
    """
    paths: dict[str, tuple[PathStep, ...]] = {}
    for name, expr in reads.items():
        steps = plain_steps(expr)
        if steps is not None and len(steps) >= 3:
            paths[name] = steps
    counts = Counter(steps[:k] for steps in paths.values() for k in range(2, len(steps)))
    chosen: dict[str, tuple[PathStep, ...]] = {}
    for name, steps in paths.items():
        for k in range(len(steps) - 1, 1, -1):
            if counts[steps[:k]] >= 2:
                chosen[name] = steps[:k]
                break
    return chosen


def is_plain(expr: str) -> bool:
    """True when `expr` compiles to the fast closure (used by tests and docs)."""
    return plain_path(parse(expr).parsed) is not None


def truthy(value: Any) -> bool:
    """JMESPath truth: '', [], {}, null and false are false; 0 is true (unlike Python)."""
    return not (value is None or value is False or value in ("", [], {}))


# The walkers below mirror jmespath's TreeInterpreter: a field is `value.get(key)` on
# anything with a .get (else null); an index applies to lists only, out of range is null;
# null stays null down the path, so stopping at the first miss gives the same result.
# A miss surfaces as AttributeError (no .get: null, list, text, number) or IndexError.


def _walker(steps: list[PathStep]) -> Getter:
    if not steps:
        return _identity
    if all(not is_index for is_index, _ in steps) and len(steps) <= 3:
        keys = [key for _, key in steps]
        return _FIELD_WALKERS[len(keys)](*keys)
    inner: Getter | None = None
    for is_index, key in reversed(steps):
        inner = _index_step(int(key), inner) if is_index else _field_step(str(key), inner)
    assert inner is not None
    chain = inner

    def walk(value: Any) -> Any:
        try:
            return chain(value)
        except (AttributeError, IndexError):
            return None

    return walk


def _field_step(key: str, then: Getter | None) -> Getter:
    if then is None:
        return lambda value: value.get(key)
    return lambda value: then(value.get(key))


def _index_step(index: int, then: Getter | None) -> Getter:
    def at(value: Any) -> Any:
        if value.__class__ is not list and not isinstance(value, list):
            raise IndexError(index)  # jmespath indexes lists only
        return value[index] if then is None else then(value[index])

    return at


def _identity(value: Any) -> Any:
    return value


def _field1(a: Any) -> Getter:
    def get(value: Any) -> Any:
        try:
            return value.get(a)
        except AttributeError:
            return None

    return get


def _field2(a: Any, b: Any) -> Getter:
    def get(value: Any) -> Any:
        try:
            return value.get(a).get(b)
        except AttributeError:
            return None

    return get


def _field3(a: Any, b: Any, c: Any) -> Getter:
    def get(value: Any) -> Any:
        try:
            return value.get(a).get(b).get(c)
        except AttributeError:
            return None

    return get


_FIELD_WALKERS: dict[int, Callable[..., Getter]] = {1: _field1, 2: _field2, 3: _field3}
