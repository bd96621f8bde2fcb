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
from core.model.tables.tenancy import Tenant, User

__all__ = [
    "Account",
    "Base",
    "Connection",
    "Contact",
    "ExternalRef",
    "Invoice",
    "Lead",
    "Opportunity",
    "Order",
    "OrderLine",
    "Payment",
    "Product",
    "Quarantine",
    "RecordChange",
    "StreamState",
    "SyncJob",
    "SyncRun",
    "Tenant",
    "User",
    "table_of",
]
