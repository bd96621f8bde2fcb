"""SQLAlchemy tables of the canonical model and the integration entities."""

from core.model.tables.base import Base, table_of
from core.model.tables.integration import (
    Connection,
    ExternalRef,
    Quarantine,
    RecordChange,
    StreamState,
    SyncJob,
    SyncRun,
    WritebackItem,
)
from core.model.tables.records import (
    Account,
    Contact,
    Invoice,
    Lead,
    Opportunity,
    Order,
    OrderLine,
    Payment,
    Product,
)
from core.model.tables.service import (
    ApiKey,
    IdempotentRequest,
    InboxEvent,
    MappingDocument,
    OutboxMessage,
    Subscription,
)
from core.model.tables.tenancy import Tenant, User

__all__ = [
    "Account",
    "ApiKey",
    "Base",
    "Connection",
    "Contact",
    "ExternalRef",
    "IdempotentRequest",
    "InboxEvent",
    "Invoice",
    "Lead",
    "MappingDocument",
    "Opportunity",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "Payment",
    "Product",
    "Quarantine",
    "RecordChange",
    "StreamState",
    "Subscription",
    "SyncJob",
    "SyncRun",
    "Tenant",
    "User",
    "WritebackItem",
    "table_of",
]
