"""The connector test kit (singer-sdk standard tap tests + hub checks) on the files connector."""

from pathlib import Path

from connectors.files import CONNECTOR
from connectors.sdk.testing import connector_tests

FIXTURES = Path(__file__).parent / "fixtures"

SAMPLE_CONFIG = {
    "path": str(FIXTURES),
    "streams": [
        {"name": "customers", "pattern": "customers_*.csv", "key_properties": ["customer_no"]},
        {"name": "orders", "pattern": "orders_*.jsonl", "key_properties": ["order_no"]},
    ],
}

TestFilesConnector = connector_tests(CONNECTOR, SAMPLE_CONFIG)
