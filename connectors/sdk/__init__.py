"""What a connector author needs: the spec, the errors, the registry, embedding helpers.

The test kit lives in `connectors.sdk.testing` (it imports pytest, so it is not
re-exported here).
"""

from connectors.sdk.embedding import CallbackWriter, Capture, embeddable, run_embedded
from connectors.sdk.errors import ConfigError, ConnectorError, DataError, TransientError
from connectors.sdk.registry import BrokenConnector, get_connector, load_connectors
from connectors.sdk.spec import SECRET_MASK, CheckResult, Connector, TapCommand
from connectors.sdk.webhooks import RecordFetcher, WebhookEvent, WebhookReceiver
from connectors.sdk.writer import Writer, WriteRequest, WriteResult

__all__ = [
    "SECRET_MASK",
    "BrokenConnector",
    "CallbackWriter",
    "Capture",
    "CheckResult",
    "ConfigError",
    "Connector",
    "ConnectorError",
    "DataError",
    "RecordFetcher",
    "TapCommand",
    "TransientError",
    "WebhookEvent",
    "WebhookReceiver",
    "WriteRequest",
    "WriteResult",
    "Writer",
    "embeddable",
    "get_connector",
    "load_connectors",
    "run_embedded",
]
