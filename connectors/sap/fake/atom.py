"""Atom XML answers: what an OData V2 service sends a client that did not ask for JSON.

Minimal but valid (feed/entry, m:properties with m:type, m:count, next link), so a client
that forgets `Accept: application/json` gets XML like from the real thing and notices.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lxml import etree

from .model import EntityType, Service
from .query import key_predicate
from .wire import TIMESTAMP_TYPES, from_wire, ticks_to_iso

ATOM = "http://www.w3.org/2005/Atom"
M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
D = "http://schemas.microsoft.com/ado/2007/08/dataservices"
APP = "http://www.w3.org/2007/app"
_NSMAP = {None: ATOM, "m": M, "d": D}


def _text(value: Any, edm_type: str) -> str:
    if edm_type in TIMESTAMP_TYPES:
        iso = ticks_to_iso(
            from_wire(value, edm_type), digits=7 if edm_type.endswith("Offset") else 0
        )
        return iso + ("Z" if edm_type.endswith("Offset") else "")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _entry(
    parent: etree._Element,
    entity: dict[str, Any],
    etype: EntityType,
    service: Service,
    root_url: str,
) -> None:
    set_name = service.set_of_type.get(etype.name, etype.name)
    path = f"{set_name}{key_predicate(etype, entity)}"
    entry = etree.SubElement(parent, f"{{{ATOM}}}entry")
    etree.SubElement(entry, f"{{{ATOM}}}id").text = root_url + path
    etree.SubElement(entry, f"{{{ATOM}}}title", type="text").text = path
    etree.SubElement(entry, f"{{{ATOM}}}updated").text = _now()
    etree.SubElement(
        entry,
        f"{{{ATOM}}}category",
        term=etype.qualified,
        scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme",
    )
    etree.SubElement(entry, f"{{{ATOM}}}link", href=path, rel="edit", title=etype.name)
    for nav in etype.navs.values():
        etree.SubElement(
            entry,
            f"{{{ATOM}}}link",
            href=f"{path}/{nav.name}",
            rel=f"{D}/related/{nav.name}",
            title=nav.name,
            type="application/atom+xml;type=" + ("feed" if nav.many else "entry"),
        )
    content = etree.SubElement(entry, f"{{{ATOM}}}content", type="application/xml")
    props = etree.SubElement(content, f"{{{M}}}properties")
    for prop in etype.props.values():
        value = entity.get(prop.name)
        node = etree.SubElement(props, f"{{{D}}}{prop.name}")
        if prop.edm_type != "Edm.String":
            node.set(f"{{{M}}}type", prop.edm_type)
        if value is None:
            node.set(f"{{{M}}}null", "true")
        else:
            node.text = _text(value, prop.edm_type)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def feed(
    entities: list[dict[str, Any]],
    etype: EntityType,
    service: Service,
    root_url: str,
    set_name: str,
    *,
    count: int | None,
    next_url: str | None,
) -> bytes:
    root = etree.Element(f"{{{ATOM}}}feed", nsmap=_NSMAP)
    root.set("{http://www.w3.org/XML/1998/namespace}base", root_url)
    etree.SubElement(root, f"{{{ATOM}}}id").text = root_url + set_name
    etree.SubElement(root, f"{{{ATOM}}}title", type="text").text = set_name
    etree.SubElement(root, f"{{{ATOM}}}updated").text = _now()
    etree.SubElement(etree.SubElement(root, f"{{{ATOM}}}author"), f"{{{ATOM}}}name")
    etree.SubElement(root, f"{{{ATOM}}}link", href=set_name, rel="self", title=set_name)
    if count is not None:
        etree.SubElement(root, f"{{{M}}}count").text = str(count)
    for entity in entities:
        _entry(root, entity, etype, service, root_url)
    if next_url:
        etree.SubElement(root, f"{{{ATOM}}}link", href=next_url, rel="next")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def entry(entity: dict[str, Any], etype: EntityType, service: Service, root_url: str) -> bytes:
    holder = etree.Element("holder")
    _entry(holder, entity, etype, service, root_url)
    node = holder[0]
    fresh = etree.Element(f"{{{ATOM}}}entry", nsmap=_NSMAP)
    fresh.set("{http://www.w3.org/XML/1998/namespace}base", root_url)
    fresh.extend(list(node))
    return bytes(etree.tostring(fresh, xml_declaration=True, encoding="utf-8"))


def service_document(service: Service, root_url: str) -> bytes:
    root = etree.Element(f"{{{APP}}}service", nsmap={None: APP, "atom": ATOM})
    root.set("{http://www.w3.org/XML/1998/namespace}base", root_url)
    workspace = etree.SubElement(root, f"{{{APP}}}workspace")
    etree.SubElement(workspace, f"{{{ATOM}}}title", type="text").text = "Data"
    for name in service.sets:
        collection = etree.SubElement(workspace, f"{{{APP}}}collection", href=name)
        etree.SubElement(collection, f"{{{ATOM}}}title", type="text").text = name
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
