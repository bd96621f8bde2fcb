"""Canonical SFA records. Column names equal the field names of core.model.schemas
(tests/core/model/test_tables_match_schemas.py keeps them in step).

Every synced record carries `source_ts` (the source timestamp its values are as of),
`field_ts` (fields whose timestamp differs, e.g. written later by another source) and
`field_owners` (field -> owning connection id): the store uses them to refuse
out-of-order and non-owner writes. Most records only ever need `source_ts`, a plain
column, so a bulk load writes no JSON for them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.model.tables.base import Base, BulkTenantMixin, ExactDecimal, IdMixin, TimestampMixin


class SyncedRecord(IdMixin, BulkTenantMixin, TimestampMixin):
    source_ts: Mapped[datetime | None]
    field_ts: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    field_owners: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


def _ref(table: str) -> Any:
    return mapped_column(ForeignKey(f"{table}.id", ondelete="SET NULL"), default=None)


class Account(SyncedRecord, Base):
    __tablename__ = "account"
    __table_args__ = (
        Index(None, "tenant_id", "name_key"),
        Index(None, "tenant_id", "uscc"),
    )

    name: Mapped[str] = mapped_column(String(255))
    name_key: Mapped[str] = mapped_column(String(255), default="")
    legal_name: Mapped[str | None] = mapped_column(String(255))
    uscc: Mapped[str | None] = mapped_column(String(18))
    industry: Mapped[str | None] = mapped_column(String(64))
    lifecycle: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(2))
    province: Mapped[str | None] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(64))
    district: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(255))
    postal_code: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(255))
    website: Mapped[str | None] = mapped_column(String(255))
    latitude: Mapped[Decimal | None] = mapped_column(ExactDecimal(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(ExactDecimal(10, 6))
    parent_id: Mapped[uuid.UUID | None] = _ref("account")
    owner_id: Mapped[uuid.UUID | None] = _ref("user_account")
    credit_limit: Mapped[Decimal | None]
    credit_currency: Mapped[str | None] = mapped_column(String(3))
    payment_terms: Mapped[str | None] = mapped_column(String(64))


class Contact(SyncedRecord, Base):
    __tablename__ = "contact"
    __table_args__ = (Index(None, "tenant_id", "email"), Index(None, "account_id"))

    name: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[uuid.UUID | None] = _ref("account")
    title: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    mobile: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    power: Mapped[int | None]
    stance: Mapped[str | None] = mapped_column(String(16))
    owner_id: Mapped[uuid.UUID | None] = _ref("user_account")


class Lead(SyncedRecord, Base):
    __tablename__ = "lead"
    __table_args__ = (Index(None, "tenant_id", "email"), Index(None, "tenant_id", "uscc"))

    name: Mapped[str] = mapped_column(String(255))
    company: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    mobile: Mapped[str | None] = mapped_column(String(64))
    uscc: Mapped[str | None] = mapped_column(String(18))
    industry: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(2))
    province: Mapped[str | None] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(2000))
    owner_id: Mapped[uuid.UUID | None] = _ref("user_account")


class Opportunity(SyncedRecord, Base):
    __tablename__ = "opportunity"
    __table_args__ = (Index(None, "tenant_id", "close_date"), Index(None, "account_id"))

    name: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[uuid.UUID | None] = _ref("account")
    amount: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    stage: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(16))
    probability: Mapped[Decimal | None] = mapped_column(ExactDecimal(7, 4))
    forecast_category: Mapped[str | None] = mapped_column(String(16))
    close_date: Mapped[date | None]
    owner_id: Mapped[uuid.UUID | None] = _ref("user_account")


class Product(SyncedRecord, Base):
    __tablename__ = "product"
    __table_args__ = (Index(None, "tenant_id", "sku"),)

    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(2000))
    kind: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(16))
    list_price: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    active: Mapped[bool | None]


class Order(SyncedRecord, Base):
    __tablename__ = "sales_order"
    __table_args__ = (Index(None, "tenant_id", "number"), Index(None, "account_id"))

    number: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[uuid.UUID | None] = _ref("account")
    opportunity_id: Mapped[uuid.UUID | None] = _ref("opportunity")
    order_date: Mapped[date | None]
    requested_delivery_date: Mapped[date | None]
    status: Mapped[str | None] = mapped_column(String(16))
    erp_status: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str | None] = mapped_column(String(3))
    net_amount: Mapped[Decimal | None]
    tax_amount: Mapped[Decimal | None]
    total_amount: Mapped[Decimal | None]


class OrderLine(IdMixin, BulkTenantMixin, Base):
    """A line of an order. Lines have no identity of their own in most ERPs' change feeds,
    so the store replaces an order's lines as a whole when they change."""

    __tablename__ = "sales_order_line"
    __table_args__ = (Index(None, "order_id", "line_no"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"))
    line_no: Mapped[int]
    product_id: Mapped[uuid.UUID | None] = _ref("product")
    sku: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(255))
    quantity: Mapped[Decimal | None] = mapped_column(ExactDecimal(19, 6))
    unit: Mapped[str | None] = mapped_column(String(16))
    unit_price: Mapped[Decimal | None]
    net_amount: Mapped[Decimal | None]
    tax_rate: Mapped[Decimal | None] = mapped_column(ExactDecimal(7, 4))


class Invoice(SyncedRecord, Base):
    __tablename__ = "invoice"
    __table_args__ = (Index(None, "tenant_id", "number"), Index(None, "account_id"))

    number: Mapped[str] = mapped_column(String(64))
    fapiao_number: Mapped[str | None] = mapped_column(String(32))
    account_id: Mapped[uuid.UUID | None] = _ref("account")
    order_id: Mapped[uuid.UUID | None] = _ref("sales_order")
    issue_date: Mapped[date | None]
    due_date: Mapped[date | None]
    status: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str | None] = mapped_column(String(3))
    amount_excl_tax: Mapped[Decimal | None]
    tax_amount: Mapped[Decimal | None]
    amount_incl_tax: Mapped[Decimal | None]


class Payment(SyncedRecord, Base):
    __tablename__ = "payment"
    __table_args__ = (Index(None, "tenant_id", "reference"), Index(None, "account_id"))

    reference: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    account_id: Mapped[uuid.UUID | None] = _ref("account")
    invoice_id: Mapped[uuid.UUID | None] = _ref("invoice")
    received_on: Mapped[date | None]
    method: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))
