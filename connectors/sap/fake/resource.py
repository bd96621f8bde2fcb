"""Resource paths: `A_X`, `A_X('1')`, `A_X(K1='1',K2='10')`, `…/to_Item`, `…/$count`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BAD_QUERY, NOT_FOUND, GatewayError
from .model import EntityType, Service

_SEGMENT = re.compile(r"^([A-Za-z_]\w*)(?:\((.*)\))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Target:
    set_name: str
    key: dict[str, str] | None = None
    nav: str | None = None
    count: bool = False


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _key_value(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if "'" in text:
        raise GatewayError(400, BAD_QUERY, f"Invalid key literal {text}")
    return text


def parse_key(text: str, etype: EntityType) -> dict[str, str]:
    parts = _split_outside_quotes(text, ",")
    if len(parts) == 1 and len(_split_outside_quotes(parts[0], "=")) == 1:
        if len(etype.keys) != 1:
            raise GatewayError(
                400, BAD_QUERY, f"Key of {etype.name} has {len(etype.keys)} properties; name them"
            )
        return {etype.keys[0]: _key_value(parts[0])}
    key: dict[str, str] = {}
    for part in parts:
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in etype.keys:
            raise GatewayError(400, BAD_QUERY, f"Invalid key predicate ({text})")
        key[name.strip()] = _key_value(value)
    if set(key) != set(etype.keys):
        raise GatewayError(400, BAD_QUERY, f"Key predicate ({text}) is incomplete")
    return key


def parse_resource(resource: str, service: Service) -> Target:
    segments = [s for s in resource.split("/") if s]
    match = _SEGMENT.match(segments[0])
    if not match or match.group(1) not in service.sets:
        name = match.group(1) if match else segments[0]
        raise GatewayError(404, NOT_FOUND, f"Resource not found for segment '{name}'")
    set_name, key_text = match.group(1), match.group(2)
    etype = service.sets[set_name].type
    key = parse_key(key_text, etype) if key_text is not None else None
    rest = segments[1:]
    nav = None
    if rest and rest[0] != "$count":
        if key is None or rest[0] not in etype.navs:
            raise GatewayError(404, NOT_FOUND, f"Resource not found for segment '{rest[0]}'")
        nav = rest.pop(0)
    count = bool(rest) and rest[0] == "$count"
    if rest[count:] or (count and key is not None and nav is None):
        raise GatewayError(400, BAD_QUERY, f"Invalid resource path '{resource}'")
    return Target(set_name, key, nav, count)
