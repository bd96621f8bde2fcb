"""`$filter` of OData V2: a small recursive-descent parser compiled to row predicates.

Covers what S/4HANA clients send: eq ne gt ge lt le, and/or/not, parentheses, literals
('text' with '' escapes, datetime'…', datetimeoffset'…', time'PT…', guid'…', 12.5M, 123L,
1.5d, integers, true/false, null) and substringof/startswith/endswith/tolower/toupper.
Literals are checked against the property's EDM type like Gateway does, so a client that
sends `LastChangeDate gt '2024-01-01'` gets a 400 rather than a silently wrong answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .model import EntityType
from .wire import (
    FLOAT_TYPES,
    INTEGER_TYPES,
    TIMESTAMP_TYPES,
    parse_iso_ticks,
    parse_time_ticks,
)

Getter = Callable[[int], Any]
Predicate = Callable[[int], Any]


class FilterError(ValueError):
    """The expression is not valid for this entity type (Gateway answers 400)."""


_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<typed>(?:datetimeoffset|datetime|time|guid)'[^']*')"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[MmLlDdFf]?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_/]*)"
    r"|(?P<punct>[(),])"
    r")"
)
_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}


@dataclass(frozen=True, slots=True)
class Literal:
    kind: str  # string datetime datetimeoffset time guid decimal int double bool null
    value: Any


@dataclass(frozen=True, slots=True)
class PropRef:
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True, slots=True)
class Not:
    operand: Any


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"Invalid token at position {pos + 1} of the filter expression")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _literal(kind: str, text: str) -> Literal:
    if kind == "string":
        return Literal("string", text[1:-1].replace("''", "'"))
    if kind == "typed":
        prefix, body = text.split("'", 1)
        body = body[:-1]
        try:
            if prefix == "time":
                return Literal("time", parse_time_ticks(body))
            if prefix == "guid":
                return Literal("guid", body.lower())
            return Literal(prefix, parse_iso_ticks(body))
        except ValueError as exc:
            raise FilterError(f"Invalid {prefix} literal {text}") from exc
    suffix = text[-1].upper()
    if suffix == "M":
        return Literal("decimal", Decimal(text[:-1]))
    if suffix == "L":
        return Literal("int", int(text[:-1]))
    if suffix in "DF":
        return Literal("double", float(text[:-1]))
    if "." in text or "e" in text.lower():
        return Literal("decimal", Decimal(text))
    return Literal("int", int(text))


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError("The filter expression ends unexpectedly")
        self.pos += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token and token[0] == "name" and token[1] in words:
            self.pos += 1
            return token[1]
        return None

    def expect(self, punct: str) -> None:
        if self.take() != ("punct", punct):
            raise FilterError(f"'{punct}' expected in the filter expression")

    def parse(self) -> Any:
        node = self.or_expr()
        if self.peek() is not None:
            raise FilterError(f"Unexpected '{self.peek()[1]}' in the filter expression")  # type: ignore[index]
        return node

    def or_expr(self) -> Any:
        node = self.and_expr()
        while self.keyword("or"):
            node = BinOp("or", node, self.and_expr())
        return node

    def and_expr(self) -> Any:
        node = self.unary()
        while self.keyword("and"):
            node = BinOp("and", node, self.unary())
        return node

    def unary(self) -> Any:
        if self.keyword("not"):
            return Not(self.unary())
        left = self.primary()
        op = self.keyword(*_COMPARISONS)
        return BinOp(op, left, self.primary()) if op else left

    def primary(self) -> Any:
        kind, text = self.take()
        if (kind, text) == ("punct", "("):
            node = self.or_expr()
            self.expect(")")
            return node
        if kind in ("string", "typed", "number"):
            return _literal(kind, text)
        if kind != "name":
            raise FilterError(f"Unexpected '{text}' in the filter expression")
        if text in ("true", "false"):
            return Literal("bool", text == "true")
        if text == "null":
            return Literal("null", None)
        if self.peek() == ("punct", "("):
            self.take()
            args = [self.or_expr()]
            while self.peek() == ("punct", ","):
                self.take()
                args.append(self.or_expr())
            self.expect(")")
            return Call(text, tuple(args))
        return PropRef(text)


def parse_filter(text: str) -> Any:
    return _Parser(text).parse()


def referenced_properties(node: Any) -> set[str]:
    if isinstance(node, PropRef):
        return {node.name}
    if isinstance(node, BinOp):
        return referenced_properties(node.left) | referenced_properties(node.right)
    if isinstance(node, Not):
        return referenced_properties(node.operand)
    if isinstance(node, Call):
        return set().union(*(referenced_properties(a) for a in node.args))
    return set()


_ACCEPTS: dict[str, set[str]] = {
    "timestamp": {"datetime", "datetimeoffset"},
    "Edm.Time": {"time"},
    "Edm.Decimal": {"decimal", "int", "double"},
    "integer": {"int"},
    "float": {"decimal", "int", "double"},
    "Edm.Boolean": {"bool"},
    "Edm.Guid": {"guid"},
    "Edm.String": {"string"},
}


def _family(edm_type: str) -> str:
    if edm_type in TIMESTAMP_TYPES:
        return "timestamp"
    if edm_type in INTEGER_TYPES:
        return "integer"
    if edm_type in FLOAT_TYPES:
        return "float"
    return edm_type


def _coerce(literal: Literal, edm_type: str | None) -> Any:
    if literal.kind == "null" or edm_type is None:
        return literal.value
    accepted = _ACCEPTS.get(_family(edm_type), {"string"})
    if literal.kind not in accepted:
        raise FilterError(f"Invalid literal for a property of type {edm_type}")
    if edm_type == "Edm.Decimal":
        return Decimal(literal.value)
    if edm_type in FLOAT_TYPES:
        return float(literal.value)
    return literal.value


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}


def compile_filter(node: Any, etype: EntityType, getter: Callable[[str], Getter]) -> Predicate:
    """Compile the AST into `predicate(row_index)`; `getter(prop)` reads typed values."""

    def edm_type_of(sub: Any) -> str | None:
        if isinstance(sub, PropRef):
            prop = etype.props.get(sub.name)
            return prop.edm_type if prop else None
        if isinstance(sub, Call) and sub.name in ("tolower", "toupper"):
            return "Edm.String"
        return None

    def build(sub: Any, hint: str | None = None, other: Any = None) -> Predicate:
        if isinstance(sub, Literal):
            value = _coerce(sub, hint)
            if isinstance(other, PropRef):
                value = etype.comparable(other.name, value)
            return lambda _i: value
        if isinstance(sub, PropRef):
            if sub.name not in etype.props:
                raise FilterError(f"Property {sub.name} not found in type {etype.name}")
            return getter(sub.name)
        if isinstance(sub, Not):
            inner = build(sub.operand)
            return lambda i: not inner(i)
        if isinstance(sub, Call):
            return build_call(sub)
        assert isinstance(sub, BinOp)
        if sub.op in ("and", "or"):
            left, right = build(sub.left), build(sub.right)
            if sub.op == "and":
                return lambda i: left(i) and right(i)
            return lambda i: left(i) or right(i)
        left_type, right_type = edm_type_of(sub.left), edm_type_of(sub.right)
        left = build(sub.left, right_type, sub.right)
        right = build(sub.right, left_type, sub.left)
        compare = _COMPARE[sub.op]
        return lambda i: compare(left(i), right(i))

    def build_call(call: Call) -> Predicate:
        args = [build(arg, "Edm.String") for arg in call.args]
        name = call.name
        if name in ("tolower", "toupper") and len(args) == 1:
            (arg,) = args
            method = str.lower if name == "tolower" else str.upper
            return lambda i: None if arg(i) is None else method(arg(i))
        if name in ("substringof", "startswith", "endswith") and len(args) == 2:
            first, second = args
            if name == "substringof":
                return lambda i: (first(i) or "") in (second(i) or "")
            if name == "startswith":
                return lambda i: (first(i) or "").startswith(second(i) or "")
            return lambda i: (first(i) or "").endswith(second(i) or "")
        raise FilterError(f"Function {name} is not supported")

    return build(node)
