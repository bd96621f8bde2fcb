"""Products, sales orders and billing documents, consistent with each other.

Orders reference existing partners and products and are priced from the product list
price; billing documents invoice one order each (13 % VAT) a few days after it was created.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import cn
from .seeds import (
    USER,
    GeneratorBase,
    billing_key,
    bp_key,
    date_of,
    mix,
    product_key,
    sales_order_key,
)
from .wire import (
    TICKS_PER_DAY,
    datetime_wire,
    datetimeoffset_wire,
    decimal_wire,
    ticks_to_datetime,
    time_wire,
)


class Documents(GeneratorBase):
    def product_price(self, i: int) -> str:
        base = cn.PRODUCTS[i % len(cn.PRODUCTS)][4]
        factor = 80 + mix(self.seed, i, 7) % 41  # 80 % … 120 % of the list price
        return decimal_wire((Decimal(base) * factor / 100).quantize(Decimal("0.01")))

    def product(self, i: int, col: dict[str, array[int]]) -> dict[str, Any]:
        r = self.rng(2, i)
        zh, en, group, unit, _price = cn.PRODUCTS[i % len(cn.PRODUCTS)]
        key = product_key(i)
        created, changed = col["_created"][i], col["LastChangeDateTime"][i]
        weight = decimal_wire(Decimal(r.randrange(1, 50000)) / 10)
        product = self.t.new(
            "A_ProductType",
            Product=key,
            ProductType=r.choice(("FERT", "HAWA")),
            CreationDate=datetime_wire(date_of(created)),
            CreatedByUser=USER,
            LastChangeDate=datetime_wire(date_of(changed)),
            LastChangedByUser=USER,
            LastChangeDateTime=datetimeoffset_wire(changed),
            GrossWeight=weight,
            NetWeight=weight,
            WeightUnit="KG",
            ProductGroup=group,
            BaseUnit=unit,
            ItemCategoryGroup="NORM",
            Division="00",
            IndustrySector="M",
            CountryOfOrigin="CN",
            ProductOldID=f"OLD-{i:06d}",
        )
        model = f"{i + 1:05d}"
        product["to_Description"] = [
            self.t.new(
                "A_ProductDescriptionType",
                Product=key,
                Language="ZH",
                ProductDescription=f"{zh} 型号{model}"[:40],
            ),
            self.t.new(
                "A_ProductDescriptionType",
                Product=key,
                Language="EN",
                ProductDescription=f"{en} model {model}"[:40],
            ),
        ]
        product["to_SalesDelivery"] = [
            self.t.new(
                "A_ProductSalesDeliveryType",
                Product=key,
                ProductSalesOrg="1010",
                ProductDistributionChnl="10",
                MinimumOrderQuantity="1",
                SupplyingPlant="1010",
                ItemCategoryGroup="NORM",
                DeliveryQuantityUnit=unit,
                SalesMeasureUnit=unit,
                BaseUnit=unit,
                AccountDetnProductGroup="01",
                CashDiscountIsDeductible=True,
            )
        ]
        return product

    # ------------------------------------------------------------------ sales orders
    def sales_order_lines(self, i: int) -> tuple[str, list[tuple[int, int]]]:
        """(SoldToParty, [(product index, quantity)]) of base sales order `i`."""
        r = self.rng(3, i)
        sold_to = bp_key(r.randrange(self.counts["business_partners"]))
        lines = []
        for _ in range(r.randrange(1, 5)):
            product = r.randrange(self.counts["products"])
            pricey = float(cn.PRODUCTS[product % len(cn.PRODUCTS)][4]) > 1000
            lines.append((product, r.randrange(1, 6) if pricey else r.randrange(10, 500)))
        return sold_to, lines

    @staticmethod
    def sales_order_po(i: int, col: dict[str, array[int]]) -> str:
        return f"PO-{ticks_to_datetime(col['_created'][i]).year}-{i + 1:05d}"

    def sales_order(self, i: int, col: dict[str, array[int]]) -> dict[str, Any]:
        t = self.t
        key = sales_order_key(i)
        created, changed = col["_created"][i], col["LastChangeDateTime"][i]
        sold_to, lines = self.sales_order_lines(i)
        day = datetime_wire(date_of(created))
        po = self.sales_order_po(i, col)
        items, total = [], Decimal(0)
        for n, (product, quantity) in enumerate(lines, start=1):
            _zh, en, group, unit, _ = cn.PRODUCTS[product % len(cn.PRODUCTS)]
            net = Decimal(self.product_price(product)) * quantity
            total += net
            items.append(
                t.new(
                    "A_SalesOrderItemType",
                    SalesOrder=key,
                    SalesOrderItem=str(n * 10),
                    SalesOrderItemCategory="TAN",
                    SalesOrderItemText=en[:40],
                    PurchaseOrderByCustomer=po,
                    Material=product_key(product),
                    RequestedQuantity=str(quantity),
                    RequestedQuantityUnit=unit,
                    RequestedQuantitySAPUnit=unit,
                    RequestedQuantityISOUnit=unit,
                    TransactionCurrency="CNY",
                    NetAmount=decimal_wire(net),
                    MaterialGroup=group,
                    ProductionPlant="1010",
                    ShippingPoint="1010",
                    PricingDate=day,
                    SDProcessStatus="C",
                    DeliveryStatus="C",
                    OrderRelatedBillingStatus="",
                )
            )
        order = t.new(
            "A_SalesOrderType",
            SalesOrder=key,
            SalesOrderType="OR",
            SalesOrganization="1010",
            DistributionChannel="10",
            OrganizationDivision="00",
            SoldToParty=sold_to,
            CreationDate=day,
            CreatedByUser=USER,
            LastChangeDate=datetime_wire(date_of(changed)),
            LastChangeDateTime=datetimeoffset_wire(changed),
            PurchaseOrderByCustomer=po,
            CustomerPurchaseOrderDate=day,
            SalesOrderDate=day,
            TotalNetAmount=decimal_wire(total),
            TransactionCurrency="CNY",
            PricingDate=day,
            RequestedDeliveryDate=datetime_wire(date_of(created) + 14 * TICKS_PER_DAY),
            ShippingCondition="01",
            IncotermsClassification="EXW",
            IncotermsVersion="2020",
            CustomerPaymentTerms="0001",
            OverallSDProcessStatus="C",
            TotalCreditCheckStatus="",
            OverallTotalDeliveryStatus="C",
            OverallSDDocumentRejectionSts="A",
        )
        order["to_Item"] = items
        order["to_Partner"] = self.partners(
            "A_SalesOrderHeaderPartnerType", "SalesOrder", key, sold_to
        )
        return order

    def partners(self, type_name: str, key_name: str, key: str, customer: str) -> list[Any]:
        return [
            self.t.new(type_name, **{key_name: key}, PartnerFunction=function, Customer=customer)
            for function in ("AG", "RE", "RG", "WE")
        ]

    # ------------------------------------------------------------------ billing documents
    def billing_document(
        self, i: int, col: dict[str, array[int]], order_of: Callable[[int], dict[str, Any]]
    ) -> dict[str, Any]:
        t = self.t
        key = billing_key(i)
        created, changed = col["_created"][i], col["LastChangeDateTime"][i]
        order = order_of(i)
        items, net_total, tax_total = [], Decimal(0), Decimal(0)
        for item in order["to_Item"]:
            net = Decimal(item["NetAmount"])
            tax = (net * Decimal("0.13")).quantize(Decimal("0.01"))
            net_total, tax_total = net_total + net, tax_total + tax
            items.append(
                t.new(
                    "A_BillingDocumentItemType",
                    BillingDocument=key,
                    BillingDocumentItem=item["SalesOrderItem"],
                    SalesDocumentItemCategory="TAN",
                    Material=item["Material"],
                    BillingDocumentItemText=item["SalesOrderItemText"],
                    BillingQuantity=item["RequestedQuantity"],
                    BillingQuantityUnit=item["RequestedQuantityUnit"],
                    NetAmount=item["NetAmount"],
                    TaxAmount=decimal_wire(tax),
                    GrossAmount=decimal_wire(net + tax),
                    TransactionCurrency="CNY",
                    Plant="1010",
                    PricingDate=item["PricingDate"],
                    SalesDocument=order["SalesOrder"],
                    SalesDocumentItem=item["SalesOrderItem"],
                    ReferenceSDDocument=order["SalesOrder"],
                    ReferenceSDDocumentItem=item["SalesOrderItem"],
                    ReferenceSDDocumentCategory="C",
                )
            )
        cancelled = mix(self.seed, i, 33) % 20 == 0
        document = t.new(
            "A_BillingDocumentType",
            BillingDocument=key,
            SDDocumentCategory="M",
            BillingDocumentCategory="L",
            BillingDocumentType="F2",
            CreatedByUser=USER,
            CreationDate=datetime_wire(date_of(created)),
            CreationTime=time_wire(created % TICKS_PER_DAY),
            LastChangeDate=datetime_wire(date_of(changed)),
            LastChangeDateTime=datetimeoffset_wire(changed),
            SalesOrganization="1010",
            DistributionChannel="10",
            Division="00",
            BillingDocumentDate=datetime_wire(date_of(created)),
            BillingDocumentIsCancelled=cancelled,
            TotalNetAmount=decimal_wire(net_total),
            TransactionCurrency="CNY",
            TaxAmount=decimal_wire(tax_total),
            TotalGrossAmount=decimal_wire(net_total + tax_total),
            CustomerPaymentTerms=order["CustomerPaymentTerms"],
            CompanyCode="1010",
            FiscalYear=str(ticks_to_datetime(created).year),
            AccountingDocument=str(1400000000 + i),
            AccountingPostingStatus="C",
            OverallBillingStatus="C",
            SoldToParty=order["SoldToParty"],
            PayerParty=order["SoldToParty"],
            PurchaseOrderByCustomer=order["PurchaseOrderByCustomer"],
        )
        document["to_Item"] = items
        document["to_Partner"] = self.partners(
            "A_BillingDocumentPartnerType", "BillingDocument", key, order["SoldToParty"]
        )
        return document
