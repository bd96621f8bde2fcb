"""A fake SAP S/4HANA OData V2 system for tests, benchmarks and demos.

It serves the real `$metadata` of API_BUSINESS_PARTNER, API_PRODUCT_SRV and
API_SALES_ORDER_SRV (plus our own minimal API_BILLING_DOCUMENT_SRV) with deterministic
Chinese B2B data, speaks OData V2 JSON and Atom, Basic and OAuth2 logon, CSRF sessions,
sales-order deep insert and ETag-guarded PATCH, and injects faults on request.

    fake = FakeS4(business_partners=50, seed=7)
    with serve_fake(fake) as base_url:
        ...
"""

from .fake import FakeS4
from .faults import Fault
from .server import serve_fake

__all__ = ["FakeS4", "Fault", "serve_fake"]
