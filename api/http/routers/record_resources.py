"""The canonical entities the API serves, with the examples its OpenAPI document shows.

The examples are real requests: the tests send each one and expect it to succeed.
"""

from dataclasses import dataclass, field
from typing import Any

from core.model.entities import EntitySpec, entity


@dataclass(frozen=True)
class Resource:
    """One canonical entity as the API shows it."""

    path: str
    entity: str
    example: dict[str, Any]
    patch_example: dict[str, Any]
    upsert_example: dict[str, Any] = field(default_factory=dict)
    filter_examples: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> EntitySpec:
        return entity(self.entity)

    @property
    def title(self) -> str:
        return self.entity.replace("_", " ")

    @property
    def model_name(self) -> str:
        return self.entity.title().replace("_", "")


LINE_EXAMPLE = {
    "line_no": 1,
    "sku": "AR6140-16G4XG",
    "description": "AR6140 企业路由器",
    "quantity": "2",
    "unit": "台",
    "unit_price": "50000.00",
    "net_amount": "100000.00",
    "tax_rate": "13",
}
RESOURCES = (
    Resource(
        "accounts",
        "account",
        {
            "name": "深圳市云帆科技有限公司",
            "uscc": "91440300MA5G7W2Q1H",
            "industry": "Manufacturing",
            "lifecycle": "customer",
            "country": "CN",
            "province": "广东省",
            "city": "深圳市",
            "address": "南山区科技园南路 88 号",
            "email": "info@yunfan.example.cn",
            "credit_limit": "5000000.00",
            "credit_currency": "CNY",
            "payment_terms": "NET30",
        },
        {"lifecycle": "customer", "credit_limit": "8000000.00"},
        filter_examples={"name_prefix": "深圳", "province": "广东省"},
    ),
    Resource(
        "contacts",
        "contact",
        {
            "name": "张伟",
            "title": "采购总监",
            "department": "采购部",
            "email": "zhang.wei@yunfan.example.cn",
            "mobile": "+86 138 0013 8000",
            "role": "economic_buyer",
            "power": 4,
            "stance": "supporter",
        },
        {"stance": "neutral", "power": 5},
        {"name": "张伟", "email": "zhang.wei@yunfan.example.cn", "account_external_id": "C-1"},
    ),
    Resource(
        "leads",
        "lead",
        {
            "name": "李娜",
            "company": "杭州青禾贸易有限公司",
            "email": "li.na@qinghe.example.cn",
            "industry": "Retail",
            "source": "trade_show",
            "status": "new",
            "province": "浙江省",
            "city": "杭州市",
        },
        {"status": "working"},
        filter_examples={"status": "new"},
    ),
    Resource(
        "opportunities",
        "opportunity",
        {
            "name": "云帆 2025 园区网络升级",
            "amount": "1200000.00",
            "currency": "CNY",
            "stage": "proposal",
            "status": "open",
            "probability": "40",
            "forecast_category": "best_case",
            "close_date": "2025-09-30",
        },
        {"stage": "negotiation", "probability": "70"},
        {"name": "云帆 2025 园区网络升级", "stage": "proposal", "account_external_id": "C-1"},
        filter_examples={"status": "open", "close_date_to": "2025-12-31"},
    ),
    Resource(
        "products",
        "product",
        {
            "sku": "AR6140-16G4XG",
            "name": "AR6140 企业路由器",
            "kind": "standard",
            "category": "Routers",
            "unit": "台",
            "list_price": "52000.00",
            "currency": "CNY",
            "active": True,
        },
        {"list_price": "49800.00"},
        filter_examples={"category": "Routers"},
    ),
    Resource(
        "orders",
        "order",
        {
            "number": "SO-2025-000123",
            "order_date": "2025-06-01",
            "status": "confirmed",
            "currency": "CNY",
            "net_amount": "100000.00",
            "tax_amount": "13000.00",
            "total_amount": "113000.00",
            "lines": [LINE_EXAMPLE],
        },
        {"status": "in_fulfilment", "erp_status": "DELIVERED_PARTIALLY"},
        {
            "number": "SO-2025-000123",
            "account_external_id": "C-1",
            "status": "confirmed",
            "lines": [{**LINE_EXAMPLE, "product_external_id": "AR6140-16G4XG"}],
        },
        filter_examples={"status": "confirmed", "order_date_from": "2025-01-01"},
    ),
    Resource(
        "invoices",
        "invoice",
        {
            "number": "INV-2025-000456",
            "fapiao_number": "25442000000012345678",
            "issue_date": "2025-06-05",
            "due_date": "2025-07-05",
            "status": "issued",
            "currency": "CNY",
            "amount_excl_tax": "100000.00",
            "tax_amount": "13000.00",
            "amount_incl_tax": "113000.00",
        },
        {"status": "paid"},
        {"number": "INV-2025-000456", "order_external_id": "SO-2025-000123", "status": "issued"},
        filter_examples={"status": "issued", "due_date_to": "2025-07-31"},
    ),
    Resource(
        "payments",
        "payment",
        {
            "reference": "BANK-20250610-0001",
            "amount": "113000.00",
            "currency": "CNY",
            "received_on": "2025-06-10",
            "method": "bank_transfer",
            "status": "received",
        },
        {"status": "reconciled"},
        {
            "reference": "BANK-20250610-0001",
            "amount": "113000.00",
            "currency": "CNY",
            "invoice_external_id": "INV-2025-000456",
        },
        filter_examples={"status": "received"},
    ),
)
