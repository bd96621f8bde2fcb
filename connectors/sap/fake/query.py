"""System query options ($expand, $select, $orderby, $top/$skip) and JSON rendering."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import BAD_QUERY, GatewayError
from .filter import Getter
from .model import EntityType, Service
from .store import Entity, Rows

Tree = dict[str, "Tree"]


def _bad(message: str) -> GatewayError:
    return GatewayError(400, BAD_QUERY, message)


def parse_expand(text: str, etype: EntityType, service: Service) -> Tree:
    """`to_Item,to_Partner/to_X` → {"to_Item": {}, "to_Partner": {"to_X": {}}}, validated."""
    tree: Tree = {}
    for path in filter(None, (p.strip() for p in text.split(","))):
        node, current = tree, etype
        for step in path.split("/"):
            nav = current.navs.get(step)
            if nav is None:
                raise _bad(f"Property '{step}' is invalid for $expand on {current.name}")
            node = node.setdefault(step, {})
            current = service.types[nav.target]
    return tree


def parse_select(text: str, etype: EntityType) -> Tree | None:
    if not text.strip() or text.strip() == "*":
        return None
    tree: Tree = {}
    for path in filter(None, (p.strip() for p in text.split(","))):
        first, *rest = path.split("/")
        if first not in etype.props and first not in etype.navs and first != "*":
            raise _bad(f"Property '{first}' not found in type '{etype.name}'")
        node = tree.setdefault(first, {})
        for step in rest:
            node = node.setdefault(step, {})
    return tree


def parse_orderby(text: str, etype: EntityType) -> list[tuple[str, bool]]:
    order: list[tuple[str, bool]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, direction = part.partition(" ")
        direction = direction.strip().lower() or "asc"
        if name not in etype.props or direction not in ("asc", "desc"):
            raise _bad(f"Invalid $orderby '{part}' for type '{etype.name}'")
        order.append((name, direction == "desc"))
    return order


def sort_rows(indexes: Sequence[int], rows: Rows, order: list[tuple[str, bool]]) -> list[int]:
    """Stable multi-key sort; null sorts first ascending (ABAP initial values)."""
    result = list(indexes)
    for prop, desc in reversed(order):
        get = rows.getter(prop)

        def key(i: int, get: Getter = get) -> tuple[int, Any]:
            value = get(i)
            return (0, 0) if value is None else (1, value)

        result.sort(key=key, reverse=desc)
    return result


def non_negative(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise _bad(f"Invalid value '{value}' for {name}")
    return int(value)


def key_predicate(etype: EntityType, entity: Entity) -> str:
    def literal(name: str) -> str:
        value = entity.get(name, etype.defaults[name])
        if etype.props[name].edm_type == "Edm.String":
            return "'" + str(value).replace("'", "''") + "'"
        return str(value)

    if len(etype.keys) == 1:
        return f"({literal(etype.keys[0])})"
    return "(" + ",".join(f"{name}={literal(name)}" for name in etype.keys) + ")"


class Renderer:
    """Turns entity trees into V2 JSON dicts (used for $select, Atom and write answers)."""

    def __init__(self, service: Service, root_url: str) -> None:
        self.service = service
        self.root_url = root_url

    def uri(self, etype: EntityType, entity: Entity) -> str:
        set_name = self.service.set_of_type.get(etype.name, etype.name)
        return f"{self.root_url}{set_name}{key_predicate(etype, entity)}"

    def render(
        self,
        entity: Entity,
        etype: EntityType,
        expand: Tree,
        select: Tree | None = None,
        etag: str | None = None,
    ) -> Entity:
        """A full V2 JSON object (every property, `__metadata`, navigation) as a dict."""
        uri = self.uri(etype, entity)
        meta = {"id": uri, "uri": uri, "type": etype.qualified}
        if etag is not None:
            meta["etag"] = etag
        out: Entity = {"__metadata": meta}
        out.update(etype.fill(entity))
        for name, nav in etype.navs.items():
            sub = expand.get(name)
            if sub is None:
                out[name] = {"__deferred": {"uri": f"{uri}/{name}"}}
                continue
            target = self.service.types[nav.target]
            value = entity.get(name)
            sub_select = select.get(name) if select else None
            if nav.many:
                out[name] = {
                    "results": [
                        self.render(child, target, sub, sub_select or None) for child in value or ()
                    ]
                }
            else:
                out[name] = (
                    None if value is None else self.render(value, target, sub, sub_select or None)
                )
        if select is not None and "*" not in select:
            keep = {"__metadata", *select}
            return {k: v for k, v in out.items() if k in keep}
        return out


def page_window(
    total: int, *, skip: int | None, top: int | None, token: int | None, page_size: int
) -> tuple[int, int, bool]:
    """(start, end, more) of the page to send; `token` is the $skiptoken we issued."""
    base = skip or 0
    start = base + (token or 0)
    window_end = total if top is None else min(total, base + top)
    end = max(start, min(window_end, start + page_size))
    return start, end, end < window_end


def results_body(results: list[Any], *, count: int | None, next_url: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"results": results}
    if count is not None:
        body["__count"] = str(count)
    if next_url is not None:
        body["__next"] = next_url
    return {"d": body}
