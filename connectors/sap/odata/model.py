"""The entity model of the shipped EDMX files, and the JSON Schemas built from it.

Schemas are built offline from `edmx/*.edmx` (real SAP $metadata for business
partners, products and sales orders; our own minimal one for billing documents)
so discovery needs no connection and the record shape does not depend on what a
particular system happens to return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from lxml import etree

__all__ = [
    "EntityType",
    "NavProperty",
    "Property",
    "Service",
    "entity_schema",
    "load_service",
    "parse_edmx",
]

_EDM = "http://schemas.microsoft.com/ado/2008/09/edm"
_SAP = "http://www.sap.com/Protocols/SAPData"
_STRINGS = frozenset({"Edm.Decimal", "Edm.Int64", "Edm.Double", "Edm.Single"})
_INTEGERS = frozenset({"Edm.Int32", "Edm.Int16", "Edm.Byte", "Edm.SByte"})


@dataclass(frozen=True, slots=True)
class Property:
    name: str
    edm_type: str
    nullable: bool = True
    display_format: str | None = None
    complex_type: str | None = None
    """Qualified name when `edm_type` is a ComplexType of the service."""


@dataclass(frozen=True, slots=True)
class NavProperty:
    name: str
    target: str
    """Qualified name of the target entity type."""
    many: bool


@dataclass(slots=True)
class EntityType:
    name: str
    """Qualified: ``API_SALES_ORDER_SRV.A_SalesOrderType``."""
    keys: tuple[str, ...]
    properties: dict[str, Property]
    navigation: dict[str, NavProperty] = field(default_factory=dict)
    plan: tuple[frozenset[str], dict[str, Any]] | None = field(
        default=None, repr=False, compare=False
    )
    """How each wire property becomes a record value; built once by streams.convert."""


@dataclass(slots=True)
class Service:
    name: str
    types: dict[str, EntityType]
    complex_types: dict[str, dict[str, Property]]
    entity_sets: dict[str, str]
    """Entity set name → qualified entity type name."""

    def entity_type(self, entity_set: str) -> EntityType:
        return self.types[self.entity_sets[entity_set]]

    def target(self, entity_type: EntityType, path: str) -> EntityType:
        """The entity type reached by a navigation path such as ``to_Item/to_Partner``."""
        current = entity_type
        for step in path.split("/"):
            current = self.types[current.navigation[step].target]
        return current


@cache
def load_service(service: str) -> Service:
    """The model of a shipped EDMX (``edmx/<service>.edmx``), parsed once."""
    data = resources.files("connectors.sap.odata").joinpath("edmx", f"{service}.edmx").read_bytes()
    return parse_edmx(service, data)


def parse_edmx(service: str, data: bytes) -> Service:
    """Parse EDMX 1.0 / OData V2 $metadata (no DTD, no entities, no network)."""
    if b"<!DOCTYPE" in data[:4096].upper():
        raise ValueError(f"{service} metadata has a DOCTYPE; refusing to parse it")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    root = etree.fromstring(data, parser=parser)
    types: dict[str, EntityType] = {}
    complex_types: dict[str, dict[str, Property]] = {}
    entity_sets: dict[str, str] = {}
    for schema in root.iter(f"{{{_EDM}}}Schema"):
        namespace = schema.get("Namespace", "")
        multiplicity = _multiplicities(schema, namespace)
        for node in schema.iterfind(f"{{{_EDM}}}ComplexType"):
            complex_types[f"{namespace}.{node.get('Name')}"] = _properties(node)
        for node in schema.iterfind(f"{{{_EDM}}}EntityType"):
            name = f"{namespace}.{node.get('Name')}"
            keys = tuple(
                str(ref.get("Name"))
                for ref in node.iterfind(f"{{{_EDM}}}Key/{{{_EDM}}}PropertyRef")
            )
            navigation = {}
            for nav in node.iterfind(f"{{{_EDM}}}NavigationProperty"):
                relationship = str(nav.get("Relationship"))
                target, many = multiplicity[(relationship, str(nav.get("ToRole")))]
                navigation[str(nav.get("Name"))] = NavProperty(str(nav.get("Name")), target, many)
            types[name] = EntityType(name, keys, _properties(node), navigation)
        for container in schema.iterfind(f"{{{_EDM}}}EntityContainer"):
            for entity_set in container.iterfind(f"{{{_EDM}}}EntitySet"):
                entity_sets[str(entity_set.get("Name"))] = str(entity_set.get("EntityType"))
    for properties in [t.properties for t in types.values()] + list(complex_types.values()):
        for name, prop in list(properties.items()):
            if prop.edm_type in complex_types:
                properties[name] = Property(
                    prop.name, prop.edm_type, prop.nullable, prop.display_format, prop.edm_type
                )
    return Service(service, types, complex_types, entity_sets)


def _properties(node: Any) -> dict[str, Property]:
    return {
        str(p.get("Name")): Property(
            name=str(p.get("Name")),
            edm_type=str(p.get("Type")),
            nullable=p.get("Nullable", "true") != "false",
            display_format=p.get(f"{{{_SAP}}}display-format"),
        )
        for p in node.iterfind(f"{{{_EDM}}}Property")
    }


def _multiplicities(schema: Any, namespace: str) -> dict[tuple[str, str], tuple[str, bool]]:
    """(qualified association, role) → (entity type at that end, is it "many")."""
    ends: dict[tuple[str, str], tuple[str, bool]] = {}
    for assoc in schema.iterfind(f"{{{_EDM}}}Association"):
        qualified = f"{namespace}.{assoc.get('Name')}"
        for end in assoc.iterfind(f"{{{_EDM}}}End"):
            ends[(qualified, str(end.get("Role")))] = (
                str(end.get("Type")),
                end.get("Multiplicity") == "*",
            )
    return ends


# ---------------------------------------------------------------------- schemas


def property_schema(prop: Property, service: Service, *, key: bool = False) -> dict[str, Any]:
    """JSON Schema of one property in the record shape (see values.from_wire)."""
    nullable = not key
    if prop.complex_type is not None:
        inner = service.complex_types[prop.complex_type]
        return {
            "type": ["object", "null"],
            "properties": {n: property_schema(p, service) for n, p in inner.items()},
        }
    schema: dict[str, Any]
    if prop.edm_type in ("Edm.DateTime", "Edm.DateTimeOffset"):
        is_date = (prop.display_format or "").lower() == "date"
        schema = {"type": "string", "format": "date" if is_date else "date-time"}
    elif prop.edm_type == "Edm.Time":
        schema = {"type": "string", "description": "time of day, HH:MM:SS[.fff]"}
    elif prop.edm_type in _STRINGS:
        schema = {"type": "string", "description": f"{prop.edm_type} as exact decimal text"}
    elif prop.edm_type in _INTEGERS:
        schema = {"type": "integer"}
    elif prop.edm_type == "Edm.Boolean":
        schema = {"type": "boolean"}
    else:
        schema = {"type": "string"}
    if nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def entity_schema(
    service: Service,
    entity_type: EntityType,
    expand: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Object schema of an entity type with the expanded navigation properties nested.

    `expand` holds paths relative to this type (``to_Item``, ``to_Item/to_Partner``).
    """
    properties: dict[str, Any] = {
        name: property_schema(prop, service, key=name in entity_type.keys)
        for name, prop in entity_type.properties.items()
    }
    for nav_name in dict.fromkeys(path.split("/")[0] for path in expand):
        nav = entity_type.navigation[nav_name]
        deeper = tuple(path.split("/", 1)[1] for path in expand if path.startswith(nav_name + "/"))
        target = entity_schema(service, service.types[nav.target], deeper)
        if nav.many:
            properties[nav_name] = {"type": ["array", "null"], "items": target}
        else:
            properties[nav_name] = {**target, "type": ["object", "null"]}
    return {"type": "object", "properties": properties}
