"""The sap_idoc connector: SAP IDoc-XML files over SFTP.

Reads DEBMAS (customer masters), INVOIC (invoices) and ORDERS/ORDRSP (orders and
order confirmations) IDocs that SAP's XML file port writes to an SFTP folder, and
writes ORDERS05 IDocs into the folder SAP's inbound job reads. Registered as
``sap_idoc`` in the ``l2c.connectors`` entry-point group.
"""

from connectors.sap.idoc.check import check
from connectors.sap.idoc.config import validate
from connectors.sap.idoc.tap import IdocTap
from connectors.sap.idoc.writer import IdocWriter
from connectors.sdk.spec import Connector

__all__ = ["CONNECTOR", "IdocTap", "IdocWriter"]

CONNECTOR = Connector(
    name="sap_idoc",
    title="SAP IDoc files (SFTP)",
    description=(
        "Reads DEBMAS, INVOIC and ORDERS/ORDRSP IDoc-XML files from an SFTP folder and "
        "writes ORDERS05 orders for SAP to pick up. The server's host key is pinned; a "
        "file leaves the folder only after the hub has committed its IDocs."
    ),
    tap=IdocTap,
    check=check,
    validate=validate,
    writer=IdocWriter,
)
