"""Fast V2 JSON for sparse entities: the hot path of 200,000-partner benchmarks.

Per entity, orjson encodes only the values that were set; the empty values of all other
properties are encoded once per (type, set of present properties) and reused, and the
`__metadata`/`__deferred` pieces are precomputed per type. Everything is appended to one
list of byte chunks and joined once, so a page is copied once, not once per nesting level.
Key order therefore differs from the EDMX (set values first); JSON objects are unordered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .model import EntityType, Service
from .query import Tree

Entity = dict[str, Any]
# (type, names of the properties an entity has) → the other properties' empty values as
# JSON; shared by all requests, bounded because generated data has few such shapes.
_REST: dict[str, dict[tuple[str, ...], bytes]] = {}


@dataclass(frozen=True, slots=True)
class _Layout:
    """Precomputed pieces of one entity type under one $expand subtree."""

    uri_format: str  # "<root><EntitySet>('%s')" or "…(K1='%s',K2='%s')"
    keys: tuple[str, ...]
    head: bytes  # '{"__metadata":{"id":"%b","uri":"%b","type":"NS.T"},'
    head_etag: bytes  # same with ',"etag":%b' inside __metadata
    navs: tuple[str, ...]  # every navigation property
    deferred: bytes  # ',"to_A":{"__deferred":{"uri":"%b/to_A"}}…' for the unexpanded ones
    deferred_count: int
    expanded: tuple[tuple[str, _Layout, bool, bytes], ...]  # name, child layout, many, label
    defaults: dict[str, Any]
    rest: dict[tuple[str, ...], bytes]  # names of set properties → the others' empty values


class JsonEmitter:
    """Writes entities of one service as V2 JSON bytes. Consumes the entities it writes."""

    def __init__(self, service: Service, root_url: str) -> None:
        self.service = service
        self.root = root_url

    def layout(self, etype: EntityType, expand: Tree) -> _Layout:
        set_name = self.service.set_of_type.get(etype.name, etype.name)
        keys = etype.keys
        inner = "'%s'" if len(keys) == 1 else ",".join(f"{k}='%s'" for k in keys)
        base = f"{self.root}{set_name}".replace("%", "%%")
        type_part = b'","type":"' + etype.qualified.encode() + b'"'
        deferred = [n for n in etype.navs if n not in expand]
        expanded = []
        for name, nav in etype.navs.items():
            if name in expand:
                label = b',"%s":' % name.encode() + (b'{"results":[' if nav.many else b"")
                child = self.layout(self.service.types[nav.target], expand[name])
                expanded.append((name, child, nav.many, label))
        return _Layout(
            uri_format=f"{base}({inner})",
            keys=keys,
            head=b'{"__metadata":{"id":"%b","uri":"%b' + type_part + b"},",
            head_etag=b'{"__metadata":{"id":"%b","uri":"%b' + type_part + b',"etag":%b},',
            navs=tuple(etype.navs),
            deferred=b"".join(
                b',"%s":{"__deferred":{"uri":"%%b/%s"}}' % (n.encode(), n.encode())
                for n in deferred
            ),
            deferred_count=len(deferred),
            expanded=tuple(expanded),
            defaults=etype.defaults,
            rest=_REST.setdefault(etype.qualified, {}),
        )

    @staticmethod
    def _uri(layout: _Layout, entity: Entity) -> bytes:
        values = tuple(map(entity.get, layout.keys))
        text = layout.uri_format % values
        if text.count("'") != 2 * len(values) or None in values:  # quotes to double, or null
            text = layout.uri_format % tuple(
                str(v if v is not None else "").replace("'", "''") for v in values
            )
        if '"' in text or "\\" in text or not text.isprintable():
            return orjson.dumps(text)[1:-1]
        return text.encode()

    def write(
        self, out: list[bytes], entity: Entity, layout: _Layout, etag: str | None = None
    ) -> None:
        """Append the JSON of `entity` (and its expanded children) to `out`."""
        uri = self._uri(layout, entity)
        if etag:
            out.append(layout.head_etag % (uri, uri, orjson.dumps(etag)))
        else:
            out.append(layout.head % (uri, uri))
        children = [entity.pop(name, None) for name in layout.navs] if layout.navs else []
        self._properties(out, entity, layout)
        if layout.deferred_count:
            out.append(layout.deferred % ((uri,) * layout.deferred_count))
        if layout.expanded:
            self._expanded(out, dict(zip(layout.navs, children, strict=True)), layout)
        out.append(b"}")

    @staticmethod
    def _properties(out: list[bytes], entity: Entity, layout: _Layout) -> None:
        present = tuple(entity)
        rest = layout.rest.get(present)
        if rest is None:
            if len(layout.rest) > 256:  # client-made shapes; generated data has a few
                layout.rest.clear()
            rest = orjson.dumps({k: v for k, v in layout.defaults.items() if k not in entity})
            rest = layout.rest[present] = rest[1:-1]
        if present:
            out.append(orjson.dumps(entity)[1:-1])
            if rest:
                out += (b",", rest)
        else:
            out.append(rest)

    def _expanded(self, out: list[bytes], children: dict[str, Any], layout: _Layout) -> None:
        for name, child_layout, many, label in layout.expanded:
            out.append(label)
            value = children[name]
            if not many:
                if value is None:
                    out.append(b"null")
                else:
                    self.write(out, value, child_layout)
                continue
            first = True
            for child in value or ():
                if not first:
                    out.append(b",")
                first = False
                self.write(out, child, child_layout)
            out.append(b"]}")

    def single(
        self, entity: Entity, etype: EntityType, expand: Tree, etag: str | None = None
    ) -> bytes:
        out = [b'{"d":']
        self.write(out, entity, self.layout(etype, expand), etag)
        out.append(b"}")
        return b"".join(out)

    @staticmethod
    def collection(out: list[bytes], *, count: int | None, next_url: str | None) -> bytes:
        """`out` holds the written entities separated by commas."""
        tail = b"]"
        if count is not None:
            tail += b',"__count":"%d"' % count
        if next_url is not None:
            tail += b',"__next":' + orjson.dumps(next_url)
        return b"".join([b'{"d":{"results":[', *out, tail, b"}}"])

    def page(
        self, entities: list[tuple[Entity, str | None]], etype: EntityType, expand: Tree
    ) -> list[bytes]:
        out: list[bytes] = []
        layout = self.layout(etype, expand)
        for n, (entity, etag) in enumerate(entities):
            if n:
                out.append(b",")
            self.write(out, entity, layout, etag)
        return out
