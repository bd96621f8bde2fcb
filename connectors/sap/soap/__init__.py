"""The `sap_soap` connector: ECC / S/4HANA BAPIs exposed as SOAP web services.

Reads customers (BAPI_CUSTOMER_GETLIST + BAPI_CUSTOMER_GETDETAIL2) and creates
sales orders (BAPI_SALESORDER_CREATEFROMDAT2, de-duplicated through
BAPI_SALESORDER_GETLIST). Registered as ``sap_soap`` in the ``l2c.connectors``
entry-point group.
"""

from connectors.sap.soap.check import check
from connectors.sap.soap.config import validate
from connectors.sap.soap.tap import SapSoapTap
from connectors.sap.soap.writer import SalesOrderWriter, make_writer
from connectors.sdk.spec import Connector

__all__ = ["CONNECTOR", "SalesOrderWriter", "SapSoapTap"]

CONNECTOR = Connector(
    name="sap_soap",
    title="SAP BAPI web services (SOAP)",
    description=(
        "Reads the customer master and creates sales orders through BAPIs exposed as "
        "SOAP services (SOAMANAGER, RFC-style WSDL): ECC 6.0 and S/4HANA on-premise. "
        "Customers are read in full each run; an order is created once, however often "
        "the write is retried."
    ),
    tap=SapSoapTap,
    check=check,
    writer=make_writer,
    validate=validate,
)
