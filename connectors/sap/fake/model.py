"""The service model of the fake, read from the EDMX files it serves.

Entity types, keys, property types and navigation targets come from the same `$metadata`
a client sees, so the fake cannot drift from what it advertises. The EDMX files are our
own package data (trusted), but they are still parsed without DTDs, entities or network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

EDMX_DIR = Path(__file__).parents[1] / "odata" / "edmx"
"""The connector's shipped $metadata: the fake serves exactly what the connector reads."""
SERVICES = (
    "API_BUSINESS_PARTNER",
    "API_PRODUCT_SRV",
    "API_SALES_ORDER_SRV",
    "API_BILLING_DOCUMENT_SRV",
)

# What SAP sends for an empty property: "" for strings, false, "0", null for dates.
DEFAULTS: dict[str, Any] = {
    "Edm.String": "",
    "Edm.Boolean": False,
    "Edm.Decimal": "0",
    "Edm.Time": "PT00H00M00S",
    "Edm.Guid": "00000000-0000-0000-0000-000000000000",
    "Edm.Int64": "0",
    "Edm.Int32": 0,
    "Edm.Int16": 0,
    "Edm.Byte": 0,
    "Edm.SByte": 0,
    "Edm.Double": "0",
}

_EDM = "{http://schemas.microsoft.com/ado/2008/09/edm}"
_SAP = "{http://www.sap.com/Protocols/SAPData}"


@dataclass(frozen=True, slots=True)
class Prop:
    """One structural property with the facets the fake enforces."""

    name: str
    edm_type: str
    nullable: bool
    max_length: int | None
    precision: int | None
    scale: int | None
    display_format: str | None
    creatable: bool
    updatable: bool
    concurrency: bool


@dataclass(frozen=True, slots=True)
class Nav:
    """A navigation property: target type name and whether it is to-many."""

    name: str
    target: str
    many: bool


@dataclass(slots=True)
class EntityType:
    """An entity type of one service (name without namespace)."""

    name: str
    namespace: str
    keys: tuple[str, ...]
    props: dict[str, Prop]
    navs: dict[str, Nav]
    etag_prop: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    alpha: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.defaults = {name: DEFAULTS.get(p.edm_type) for name, p in self.props.items()}
        # Key strings pass SAP's ALPHA conversion: "5" is stored as "0000000005", so they
        # compare and sort as numbers when they are numeric.
        self.alpha = {
            k: self.props[k].max_length or 0
            for k in self.keys
            if self.props[k].edm_type == "Edm.String"
        }

    def comparable(self, name: str, value: Any) -> Any:
        """`value` as SAP compares it (numeric key strings right-aligned with zeros)."""
        width = self.alpha.get(name)
        if width and isinstance(value, str) and value.isdigit():
            return value.rjust(width, "0")
        return value

    def fill(self, entity: dict[str, Any]) -> dict[str, Any]:
        """A sparse entity (only non-empty values) with every property, in EDMX order."""
        full = {name: entity.get(name, default) for name, default in self.defaults.items()}
        for name in self.navs:
            if name in entity:
                full[name] = entity[name]
        return full

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass(slots=True)
class EntitySet:
    """An entity set with the SAP capability flags of the container."""

    name: str
    type: EntityType
    creatable: bool
    updatable: bool
    deletable: bool


@dataclass(slots=True)
class Service:
    """One OData service: its raw `$metadata` and what it contains."""

    name: str
    metadata: bytes
    types: dict[str, EntityType] = field(default_factory=dict)
    sets: dict[str, EntitySet] = field(default_factory=dict)
    set_of_type: dict[str, str] = field(default_factory=dict)


def _flag(element: etree._Element, name: str) -> bool:
    return str(element.get(_SAP + name, "true")) != "false"


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _parse(name: str, data: bytes) -> Service:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser)
    service = Service(name=name, metadata=data)
    multiplicity: dict[tuple[str, str], str] = {}
    schema = root.find(f".//{_EDM}Schema")
    assert schema is not None, f"{name}: no Schema in EDMX"
    namespace = schema.get("Namespace", name)
    for assoc in schema.iter(f"{_EDM}Association"):
        for end in assoc.iter(f"{_EDM}End"):
            multiplicity[(assoc.get("Name", ""), end.get("Role", ""))] = (
                end.get("Type", "").rsplit(".", 1)[-1] + "|" + end.get("Multiplicity", "1")
            )
    for et in schema.iter(f"{_EDM}EntityType"):
        props: dict[str, Prop] = {}
        etag = None
        for p in et.iter(f"{_EDM}Property"):
            prop = Prop(
                name=p.get("Name", ""),
                edm_type=p.get("Type", "Edm.String"),
                nullable=p.get("Nullable", "true") != "false",
                max_length=_int(p.get("MaxLength")),
                precision=_int(p.get("Precision")),
                scale=_int(p.get("Scale")),
                display_format=p.get(_SAP + "display-format"),
                creatable=_flag(p, "creatable"),
                updatable=_flag(p, "updatable"),
                concurrency=p.get("ConcurrencyMode") == "Fixed",
            )
            props[prop.name] = prop
            if prop.concurrency:
                etag = prop.name
        navs: dict[str, Nav] = {}
        for n in et.iter(f"{_EDM}NavigationProperty"):
            assoc_name = n.get("Relationship", "").rsplit(".", 1)[-1]
            target, mult = multiplicity[(assoc_name, n.get("ToRole", ""))].split("|")
            navs[n.get("Name", "")] = Nav(n.get("Name", ""), target, mult == "*")
        keys = tuple(r.get("Name", "") for r in et.iterfind(f"{_EDM}Key/{_EDM}PropertyRef"))
        type_name = et.get("Name", "")
        service.types[type_name] = EntityType(type_name, namespace, keys, props, navs, etag)
    for es in schema.iter(f"{_EDM}EntitySet"):
        type_name = es.get("EntityType", "").rsplit(".", 1)[-1]
        entity_set = EntitySet(
            name=es.get("Name", ""),
            type=service.types[type_name],
            creatable=_flag(es, "creatable"),
            updatable=_flag(es, "updatable"),
            deletable=_flag(es, "deletable"),
        )
        service.sets[entity_set.name] = entity_set
        service.set_of_type.setdefault(type_name, entity_set.name)
    return service


@cache
def load_service(name: str) -> Service:
    """Parse `edmx/<name>.edmx` once per process (the model is read-only)."""
    return _parse(name, (EDMX_DIR / f"{name}.edmx").read_bytes())


def load_all() -> dict[str, Service]:
    return {name: load_service(name) for name in SERVICES}
