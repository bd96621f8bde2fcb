"""`sap_odata`: SAP S/4HANA OData V2 APIs.

Reads business partners, products, sales orders and billing documents
incrementally (tap.py, paging.py), writes sales orders back (writer.py) and
receives SAP business events from SAP Event Mesh (events.py). Registered as
``sap_odata`` in the ``l2c.connectors`` entry-point group.
"""

from connectors.sap.odata.check import check
from connectors.sap.odata.config import validate_settings
from connectors.sap.odata.events import EventMeshReceiver, ODataRecordFetcher
from connectors.sap.odata.tap import SapODataTap
from connectors.sap.odata.writer import writer
from connectors.sdk.spec import Connector

__all__ = ["CONNECTOR", "SapODataTap"]

CONNECTOR = Connector(
    name="sap_odata",
    title="SAP S/4HANA (OData)",
    description=(
        "Reads business partners, products, sales orders and billing documents from the "
        "S/4HANA OData V2 APIs (Cloud or on-premise; Basic or OAuth 2.0), incrementally "
        "with an overlap window; writes sales orders back idempotently; receives SAP "
        "business events from SAP Event Mesh."
    ),
    tap=SapODataTap,
    check=check,
    writer=writer,
    webhook_receiver=EventMeshReceiver,
    fetcher=ODataRecordFetcher,
    validate=validate_settings,
)
