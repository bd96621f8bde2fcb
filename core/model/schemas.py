"""Pydantic schemas of the canonical entities.

`<Entity>Create` lists every writable field; fields without a default are required when
a record is first created. `<Entity>` adds what the store assigns. Mappings produce
(partial) `<Entity>Create` payloads; the API will expose both shapes.
"""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from core.model.types import (
    Code,
    CountryCode,
    CurrencyCode,
    Email,
    Latitude,
    LineNumber,
    Longitude,
    Money,
    Name,
    Percent,
    Quantity,
    Rating,
    Text16,
    Text32,
    Text64,
    Text255,
    Text2000,
    Uscc,
    UtcDatetime,
)

AccountLifecycle = Literal[
    "prospect", "customer", "former_customer", "partner", "competitor", "other"
]
ContactRole = Literal[
    "decision_maker",
    "economic_buyer",
    "technical_buyer",
    "influencer",
    "champion",
    "user",
    "gatekeeper",
    "other",
]
ContactStance = Literal["supporter", "neutral", "opponent"]
LeadStatus = Literal["new", "working", "nurturing", "qualified", "disqualified", "converted"]
OpportunityStatus = Literal["open", "won", "lost"]
ForecastCategory = Literal["pipeline", "best_case", "commit", "closed", "omitted"]
ProductKind = Literal["standard", "configurable", "bundle"]
OrderStatus = Literal["draft", "confirmed", "in_fulfilment", "fulfilled", "cancelled"]
InvoiceStatus = Literal["draft", "issued", "partially_paid", "paid", "cancelled"]
PaymentStatus = Literal["pending", "received", "reconciled", "reversed"]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class _Stored(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    created_at: UtcDatetime
    updated_at: UtcDatetime


# ----------------------------------------------------------------------------- parties
class AccountCreate(_Schema):
    """A customer, partner or prospect company (客户)."""

    name: Name
    legal_name: Text255 | None = None
    uscc: Uscc | None = None
    industry: Text64 | None = None
    lifecycle: AccountLifecycle | None = None
    country: CountryCode | None = None
    province: Text64 | None = None
    city: Text64 | None = None
    district: Text64 | None = None
    address: Text255 | None = None
    postal_code: Text32 | None = None
    phone: Text64 | None = None
    email: Email | None = None
    website: Text255 | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    parent_id: UUID | None = None
    owner_id: UUID | None = None
    credit_limit: Money | None = None
    credit_currency: CurrencyCode | None = None
    payment_terms: Text64 | None = None


class Account(AccountCreate, _Stored):
    pass


class ContactCreate(_Schema):
    """A person at an account (联系人), with decision-chain attributes."""

    name: Name
    account_id: UUID | None = None
    title: Text255 | None = None
    department: Text255 | None = None
    email: Email | None = None
    phone: Text64 | None = None
    mobile: Text64 | None = None
    role: ContactRole | None = None
    power: Rating | None = None
    stance: ContactStance | None = None
    owner_id: UUID | None = None


class Contact(ContactCreate, _Stored):
    pass


# ----------------------------------------------------------------------------- demand
class LeadCreate(_Schema):
    """A not-yet-qualified prospect (线索)."""

    name: Name
    company: Text255 | None = None
    title: Text255 | None = None
    email: Email | None = None
    phone: Text64 | None = None
    mobile: Text64 | None = None
    uscc: Uscc | None = None
    industry: Text64 | None = None
    source: Text64 | None = None
    status: LeadStatus | None = None
    country: CountryCode | None = None
    province: Text64 | None = None
    city: Text64 | None = None
    description: Text2000 | None = None
    owner_id: UUID | None = None


class Lead(LeadCreate, _Stored):
    pass


# ----------------------------------------------------------------------------- pipeline
class OpportunityCreate(_Schema):
    """A qualified deal (商机)."""

    name: Name
    account_id: UUID | None = None
    amount: Money | None = None
    currency: CurrencyCode | None = None
    stage: Text64 | None = None
    status: OpportunityStatus | None = None
    probability: Percent | None = None
    forecast_category: ForecastCategory | None = None
    close_date: date | None = None
    owner_id: UUID | None = None


class Opportunity(OpportunityCreate, _Stored):
    pass


# ----------------------------------------------------------------------------- catalog
class ProductCreate(_Schema):
    """Something we sell."""

    sku: Code
    name: Name
    description: Text2000 | None = None
    kind: ProductKind | None = None
    category: Text64 | None = None
    unit: Text16 | None = None
    list_price: Money | None = None
    currency: CurrencyCode | None = None
    active: bool | None = None


class Product(ProductCreate, _Stored):
    pass


# ----------------------------------------------------------------------------- cash
class OrderLineCreate(_Schema):
    """One line of an order; lines are replaced as a whole when their order changes."""

    line_no: LineNumber
    product_id: UUID | None = None
    sku: Text64 | None = None
    description: Text255 | None = None
    quantity: Quantity | None = None
    unit: Text16 | None = None
    unit_price: Money | None = None
    net_amount: Money | None = None
    tax_rate: Percent | None = None


class OrderLine(OrderLineCreate):
    model_config = ConfigDict(from_attributes=True)


class OrderCreate(_Schema):
    """What the ERP fulfils (订单)."""

    number: Code
    account_id: UUID | None = None
    opportunity_id: UUID | None = None
    order_date: date | None = None
    requested_delivery_date: date | None = None
    status: OrderStatus | None = None
    erp_status: Text64 | None = None
    currency: CurrencyCode | None = None
    net_amount: Money | None = None
    tax_amount: Money | None = None
    total_amount: Money | None = None
    lines: list[OrderLineCreate] | None = None


class Order(OrderCreate, _Stored):
    lines: list[OrderLine] | None = None  # type: ignore[assignment]


class InvoiceCreate(_Schema):
    """A VAT invoice (发票), with fapiao number and tax-inclusive/exclusive amounts."""

    number: Code
    fapiao_number: Text32 | None = None
    account_id: UUID | None = None
    order_id: UUID | None = None
    issue_date: date | None = None
    due_date: date | None = None
    status: InvoiceStatus | None = None
    currency: CurrencyCode | None = None
    amount_excl_tax: Money | None = None
    tax_amount: Money | None = None
    amount_incl_tax: Money | None = None


class Invoice(InvoiceCreate, _Stored):
    pass


class PaymentCreate(_Schema):
    """Cash received (回款)."""

    reference: Code
    amount: Money
    currency: CurrencyCode
    account_id: UUID | None = None
    invoice_id: UUID | None = None
    received_on: date | None = None
    method: Text32 | None = None
    status: PaymentStatus | None = None


class Payment(PaymentCreate, _Stored):
    pass
