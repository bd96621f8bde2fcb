"""The four sap_odata streams: what to read, and how a wire entity becomes a record.

`STREAMS` and `convert` are shared with the writer (it returns records in the same
shape) and the event fetcher. The singer-sdk stream class lives in `tap.py`; the
incremental paging in `paging.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from connectors.sap.odata.model import EntityType, Service, entity_schema, load_service
from connectors.sap.odata.values import from_wire, iso_utc

__all__ = ["CHANGED_AT", "STREAMS", "StreamDef", "changed_at", "convert", "stream_schema"]

CHANGED_AT = "_changed_at"
"""Added to business partners: LastChangeDate+LastChangeTime (else Creation*) as ISO UTC."""


@dataclass(frozen=True, slots=True)
class StreamDef:
    """One stream: where it lives in SAP and how it is read incrementally."""

    name: str
    service: str
    entity_set: str
    key: tuple[str, ...]
    replication_key: str
    expand: tuple[str, ...]
    communication_scenario: str
    """The SAP communication scenario that exposes the service (for hints)."""

    @property
    def model(self) -> Service:
        return load_service(self.service)

    @property
    def entity_type(self) -> EntityType:
        return self.model.entity_type(self.entity_set)

    def key_of(self, record: Mapping[str, Any]) -> dict[str, str]:
        return {name: str(record[name]) for name in self.key}


STREAMS: dict[str, StreamDef] = {
    s.name: s
    for s in (
        StreamDef(
            name="business_partners",
            service="API_BUSINESS_PARTNER",
            entity_set="A_BusinessPartner",
            key=("BusinessPartner",),
            replication_key=CHANGED_AT,
            expand=(
                "to_BusinessPartnerAddress",
                "to_BusinessPartnerAddress/to_EmailAddress",
                "to_BusinessPartnerAddress/to_PhoneNumber",
                "to_BusinessPartnerRole",
                "to_BusinessPartnerTax",
                "to_Customer",
                "to_Customer/to_CustomerSalesArea",
            ),
            communication_scenario="SAP_COM_0008 (Business Partner, Customer and Supplier "
            "Integration)",
        ),
        StreamDef(
            name="products",
            service="API_PRODUCT_SRV",
            entity_set="A_Product",
            key=("Product",),
            replication_key="LastChangeDateTime",
            expand=("to_Description", "to_SalesDelivery"),
            communication_scenario="SAP_COM_0009 (Product Integration)",
        ),
        StreamDef(
            name="sales_orders",
            service="API_SALES_ORDER_SRV",
            entity_set="A_SalesOrder",
            key=("SalesOrder",),
            replication_key="LastChangeDateTime",
            expand=("to_Item", "to_Partner"),
            communication_scenario="SAP_COM_0109 (Sales Order Integration)",
        ),
        StreamDef(
            name="billing_documents",
            service="API_BILLING_DOCUMENT_SRV",
            entity_set="A_BillingDocument",
            key=("BillingDocument",),
            replication_key="LastChangeDateTime",
            expand=("to_Item", "to_Partner"),
            communication_scenario="SAP_COM_0120 (Billing Integration)",
        ),
    )
}


def stream_schema(stream: StreamDef) -> dict[str, Any]:
    """The record schema: the entity type with the stream's expands nested."""
    schema = entity_schema(stream.model, stream.entity_type, stream.expand)
    if stream.replication_key == CHANGED_AT:
        schema["properties"][CHANGED_AT] = {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "LastChangeDate+LastChangeTime (CreationDate+CreationTime when "
            "never changed), UTC",
        }
    return schema


def convert(
    entity: Mapping[str, Any],
    entity_type: EntityType | str,
    *,
    service: Service | None = None,
) -> dict[str, Any]:
    """A raw wire entity → the record shape (see the module doc of values.py).

    `entity_type` is an EntityType or a stream name (then `_changed_at` is added to
    business partners). ``__metadata``, unexpanded ``__deferred`` links and
    properties the shipped EDMX does not know are left out, so every record matches
    its stream schema.
    """
    stream: StreamDef | None = None
    if isinstance(entity_type, str):
        stream = STREAMS[entity_type]
        entity_type = stream.entity_type
        service = stream.model
    if service is None:
        service = load_service(entity_type.name.rsplit(".", 1)[0])
    record = _convert(entity, entity_type, service)
    if stream is not None and stream.replication_key == CHANGED_AT:
        stamp = changed_at(record)
        record[CHANGED_AT] = iso_utc(stamp) if stamp is not None else None
    return record


_UNCHANGED = frozenset({"Edm.String", "Edm.Guid", "Edm.Binary"})
_SCALAR, _COMPLEX, _NAV = range(3)
_READY: dict[str, type] = {
    "Edm.Decimal": str,
    "Edm.Int64": str,
    "Edm.Double": str,
    "Edm.Single": str,
    "Edm.Boolean": bool,
    "Edm.Int32": int,
    "Edm.Int16": int,
    "Edm.Byte": int,
    "Edm.SByte": int,
}


def _convert(
    entity: Mapping[str, Any], entity_type: EntityType, service: Service
) -> dict[str, Any]:
    """Copy the entity, drop what the EDMX does not know (``__metadata``, unknown
    properties) and convert only the properties that need it: the set operations run in
    C, so a 200-property business partner costs a few dozen conversions, not 200 steps."""
    known, special = (
        entity_type.plan if entity_type.plan is not None else _plan(entity_type, service)
    )
    record = dict(entity)
    for name in record.keys() - known:
        del record[name]
    for name in special.keys() & record.keys():
        value = record[name]
        step = special[name]
        kind = step[0]
        if kind == _SCALAR:
            if value is not None and value.__class__ is not step[3]:
                record[name] = from_wire(value, step[1], step[2])
        elif kind == _COMPLEX:
            if isinstance(value, Mapping):
                inner = step[1]
                record[name] = {
                    n: from_wire(v, inner[n].edm_type, inner[n].display_format)
                    for n, v in value.items()
                    if n in inner
                }
        else:
            target, many = step[1], step[2]
            if isinstance(value, Mapping) and "__deferred" in value:
                del record[name]
            elif value is None:
                record[name] = [] if many else None
            elif many:
                rows = value.get("results", []) if isinstance(value, Mapping) else value
                record[name] = [_convert(row, target, service) for row in rows]
            else:
                record[name] = _convert(value, target, service)
    return record


def _plan(entity_type: EntityType, service: Service) -> tuple[frozenset[str], dict[str, Any]]:
    """The properties the EDMX knows, and how to convert those that are not kept as
    they are: a scalar, a complex value, or a navigation to recurse into."""
    special: dict[str, Any] = {}
    for name, prop in entity_type.properties.items():
        if prop.complex_type is not None:
            special[name] = (_COMPLEX, service.complex_types[prop.complex_type])
        elif prop.edm_type not in _UNCHANGED:
            # the wire type a value already has when it needs no conversion (decimals
            # come as text, flags as booleans); dates and times always convert
            ready = _READY.get(prop.edm_type)
            special[name] = (_SCALAR, prop.edm_type, prop.display_format, ready)
    for name, nav in entity_type.navigation.items():
        special[name] = (_NAV, service.types[nav.target], nav.many)
    plan = (frozenset(entity_type.properties) | frozenset(entity_type.navigation), special)
    entity_type.plan = plan
    return plan


def changed_at(record: Mapping[str, Any]) -> datetime | None:
    """When a business partner last changed (a converted record), as aware UTC."""
    for date_name, time_name in (
        ("LastChangeDate", "LastChangeTime"),
        ("CreationDate", "CreationTime"),
    ):
        day = record.get(date_name)
        if day:
            clock = record.get(time_name)
            moment = time.fromisoformat(str(clock)) if clock else time(0)
            return datetime.combine(date.fromisoformat(str(day)[:10]), moment, tzinfo=UTC)
    return None
