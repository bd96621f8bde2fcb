"""Sales-order writes: deep insert (POST A_SalesOrder) and PATCH/MERGE with If-Match.

Validation follows what SD does for an API create: an existing sold-to customer, an order
type, items with an existing material and a positive quantity, lengths from the EDMX.
Prices come from the product master, so TotalNetAmount is computed, never trusted.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from .errors import CHANGED, PRECONDITION_REQUIRED, GatewayError, detail
from .fake import FakeS4
from .model import EntityType
from .store import Entity
from .wire import decimal_wire, to_wire


def _business(message: str, code: str, *, target: str = "") -> GatewayError:
    return GatewayError(400, code, message, details=[detail(code, message, target=target)])


def _assign(
    entity: Entity, etype: EntityType, data: dict[str, Any], *, creating: bool, where: str = ""
) -> None:
    """Copy client properties after type and length checks (Gateway's own checks)."""
    for name, value in data.items():
        if name == "__metadata" or name in etype.navs:
            continue
        prop = etype.props.get(name)
        if prop is None:
            raise GatewayError(400, "/IWBEP/CM_MGW_RT/021", f"Property '{name}' is invalid{where}")
        if not creating and (not prop.updatable or name in etype.keys):
            raise GatewayError(
                400, "/IWBEP/CM_MGW_RT/025", f"Property '{name}' cannot be changed{where}"
            )
        if creating and not prop.creatable:
            continue  # read-only fields in a create payload are ignored, as Gateway does
        try:
            wire = to_wire(value, prop.edm_type)
        except (ValueError, TypeError) as exc:
            raise GatewayError(
                400, "/IWBEP/CM_MGW_RT/003", f"Invalid value for property '{name}'{where}"
            ) from exc
        if prop.max_length and isinstance(wire, str) and len(wire) > prop.max_length:
            raise _business(
                f"Value of '{name}' is longer than {prop.max_length} characters{where}",
                "/IWBEP/CM_MGW_RT/005",
                target=name,
            )
        entity[name] = wire


def _results(value: Any, name: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, dict):
        value = value.get("results", [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise GatewayError(400, "/IWBEP/CM_MGW_RT/003", f"Invalid deep insert for '{name}'")
    return value


def _items(fake: FakeS4, order: Entity, data: list[dict[str, Any]]) -> tuple[list[Entity], Decimal]:
    """Validated items priced from the product master, and their net total."""
    item_type = fake.services["API_SALES_ORDER_SRV"].types["A_SalesOrderItemType"]
    products = fake.collections["products"]
    if not data:
        raise _business("Enter at least one item with a material", "V1/555", target="to_Item")
    items, total = [], Decimal(0)
    for n, values in enumerate(data, start=1):
        where = f" (item {n})"
        item = item_type.fill(
            {
                "SalesOrderItem": str(n * 10),
                "SalesOrderItemCategory": "TAN",
                "TransactionCurrency": order["TransactionCurrency"],
                "ProductionPlant": "1010",
                "ShippingPoint": "1010",
                "SDProcessStatus": "A",
            }
        )
        _assign(item, item_type, values, creating=True, where=where)
        p = products.index_of(item["Material"]) if item["Material"] else None
        if p is None:
            raise _business(
                f"Material {item['Material'] or '(empty)'} does not exist{where}",
                "V1/392",
                target="Material",
            )
        try:
            quantity = Decimal(item["RequestedQuantity"])
        except (InvalidOperation, TypeError):
            quantity = Decimal(0)
        if quantity <= 0:
            raise _business(
                f"Enter a requested quantity{where}", "V1/081", target="RequestedQuantity"
            )
        product = products.entity(p)
        english = [
            d.get("ProductDescription", "")
            for d in product.get("to_Description", ())
            if d.get("Language") == "EN"
        ]
        item["RequestedQuantityUnit"] = item["RequestedQuantityUnit"] or product.get("BaseUnit")
        item["SalesOrderItemText"] = item["SalesOrderItemText"] or (english or [""])[0][:40]
        item["MaterialGroup"] = product.get("ProductGroup", "")
        net = Decimal(fake.gen.product_price(p)) * quantity
        item["NetAmount"] = decimal_wire(net)
        item["PurchaseOrderByCustomer"] = (
            item["PurchaseOrderByCustomer"] or order["PurchaseOrderByCustomer"]
        )
        total += net
        items.append(item)
    return items, total


def _partners(fake: FakeS4, data: list[dict[str, Any]], sold_to: str) -> list[Entity]:
    partner_type = fake.services["API_SALES_ORDER_SRV"].types["A_SalesOrderHeaderPartnerType"]
    bps = fake.collections["business_partners"]
    partners = []
    for values in data:
        partner = partner_type.fill({})
        _assign(partner, partner_type, values, creating=True, where=" (partner)")
        if partner["Customer"] and bps.index_of(partner["Customer"]) is None:
            raise _business(
                f"Partner {partner['Customer']} does not exist", "V1/384", target="Customer"
            )
        partners.append(partner)
    if not any(p["PartnerFunction"] == "AG" for p in partners):
        partners.insert(0, partner_type.fill({"PartnerFunction": "AG", "Customer": sold_to}))
    return partners


def create_sales_order(fake: FakeS4, body: Any) -> tuple[Entity, str]:
    """Validate and commit a deep insert; (stored entity, sap-message header)."""
    if not isinstance(body, dict):
        raise GatewayError(400, "/IWBEP/CM_MGW_RT/003", "The request body is not an entity")
    head_type = fake.services["API_SALES_ORDER_SRV"].types["A_SalesOrderType"]
    unknown_navs = [n for n in body if n in head_type.navs and n not in ("to_Item", "to_Partner")]
    if unknown_navs:
        raise GatewayError(
            400, "/IWBEP/CM_MGW_RT/021", f"Deep insert of '{unknown_navs[0]}' is not supported"
        )
    order = head_type.fill(
        {
            "SalesOrganization": "1010",
            "DistributionChannel": "10",
            "OrganizationDivision": "00",
            "TransactionCurrency": "CNY",
            "CustomerPaymentTerms": "0001",
            "OverallSDProcessStatus": "A",
            "OverallTotalDeliveryStatus": "A",
            "OverallSDDocumentRejectionSts": "A",
        }
    )
    _assign(order, head_type, body, creating=True)
    if not order["SalesOrderType"]:
        raise _business("Enter a sales document type", "V1/004", target="SalesOrderType")
    sold_to = order["SoldToParty"]
    if not sold_to or fake.collections["business_partners"].index_of(sold_to) is None:
        raise _business(
            f"Sold-to party {sold_to or '(empty)'} does not exist",
            "V1/384" if sold_to else "V1/007",
            target="SoldToParty",
        )
    items, total = _items(fake, order, _results(body.get("to_Item"), "to_Item"))
    partners = _partners(fake, _results(body.get("to_Partner"), "to_Partner"), sold_to)
    po = order["PurchaseOrderByCustomer"]
    with fake.lock:
        orders = fake.collections["sales_orders"]
        duplicates = fake.orders_by_po().get(po, []) if po else []
        i = len(orders)
        key = orders.key_of(i)
        order.update(
            SalesOrder=key,
            TotalNetAmount=decimal_wire(total),
            CreatedByUser=fake.auth.username[:12].upper(),
            to_Item=items,
            to_Partner=partners,
        )
        for line in (*items, *partners):
            line["SalesOrder"] = key
        fake.stamp(orders, i, order)  # stores `order` itself as the new row
        today = order["LastChangeDate"]
        order["CreationDate"] = today
        order["SalesOrderDate"] = order["SalesOrderDate"] or today
        order["PricingDate"] = order["PricingDate"] or today
        for line in items:
            line["PricingDate"] = line["PricingDate"] or today
        created = orders.entity(i)
    details = (
        [
            detail(
                "V4/115",
                f"Purchase order number already exists in order {duplicates[0]}",
                severity="warning",
            )
        ]
        if duplicates
        else []
    )
    message = {
        "code": "V1/311",
        "message": f"Standard Order {key} has been saved",
        "target": "",
        "severity": "info",
        "transition": False,
        "details": details,
    }
    return created, orjson.dumps(message).decode()


def update_sales_order(fake: FakeS4, key: str, body: Any, if_match: str | None) -> str:
    """PATCH/MERGE: check If-Match, apply updatable properties, bump the ETag (returned)."""
    if not isinstance(body, dict):
        raise GatewayError(400, "/IWBEP/CM_MGW_RT/003", "The request body is not an entity")
    with fake.lock:
        orders = fake.collections["sales_orders"]
        _, i, entity = fake.lookup("API_SALES_ORDER_SRV", "A_SalesOrder", {"SalesOrder": key})
        if not if_match:
            raise GatewayError(428, PRECONDITION_REQUIRED, "Precondition required")
        current = orders.etag(i, entity)
        if if_match.strip() != "*" and if_match.strip() != current:
            raise GatewayError(
                412, CHANGED, "State of the resource (entity) was already changed (If-Match)"
            )
        nav = [name for name in body if name in orders.etype.navs]
        if nav:
            raise GatewayError(
                400,
                "/IWBEP/CM_MGW_RT/025",
                f"Navigation property '{nav[0]}' cannot be changed with PATCH",
            )
        _assign(entity, orders.etype, body, creating=False)
        fake.stamp(orders, i, entity)
        etag = orders.etag(i, entity)
        assert etag is not None
        return etag


def update_sales_order_item(fake: FakeS4, key: dict[str, str], body: Any) -> str:
    """PATCH an item (no ETag of its own in this API version): reprice, bump the order."""
    if not isinstance(body, dict):
        raise GatewayError(400, "/IWBEP/CM_MGW_RT/003", "The request body is not an entity")
    with fake.lock:
        orders = fake.collections["sales_orders"]
        i = orders.index_of(key["SalesOrder"])
        order = orders.entity(i) if i is not None else None
        items = [
            it
            for it in (order or {}).get("to_Item", ())
            if it.get("SalesOrderItem") == key["SalesOrderItem"]
        ]
        if i is None or order is None or not items:
            raise GatewayError(
                404, "/IWBEP/CM_MGW_RT/020", "Resource not found for segment 'A_SalesOrderItemType'"
            )
        item_type = fake.services["API_SALES_ORDER_SRV"].types["A_SalesOrderItemType"]
        item = items[0]
        _assign(item, item_type, body, creating=False)
        p = fake.collections["products"].index_of(item.get("Material", ""))
        try:
            quantity = Decimal(item.get("RequestedQuantity", "0"))
        except InvalidOperation:
            quantity = Decimal(0)
        if p is None or quantity <= 0:
            raise _business(
                "Enter a valid material and a requested quantity",
                "V1/081",
                target="RequestedQuantity",
            )
        item["NetAmount"] = decimal_wire(Decimal(fake.gen.product_price(p)) * quantity)
        order["TotalNetAmount"] = decimal_wire(
            sum((Decimal(it.get("NetAmount", "0")) for it in order["to_Item"]), Decimal(0))
        )
        fake.stamp(orders, i, order)
        etag = orders.etag(i, order)
        assert etag is not None
        return etag
