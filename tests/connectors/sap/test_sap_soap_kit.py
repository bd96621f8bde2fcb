"""The connector test kit on sap_soap, against the local SOAP service.

The service is started when the module is imported: `connector_tests` needs the
sample config (with the service's URL) when the test class is built.
"""

from connectors.sap.soap import CONNECTOR
from connectors.sdk.testing import connector_tests
from tests.connectors.sap.sap_soap_server import SoapServer

SERVER = SoapServer(customers=8).start()
SAMPLE_CONFIG = SERVER.config(max_rows=3)


def teardown_module() -> None:
    SERVER.stop()


TestSapSoapConnector = connector_tests(CONNECTOR, SAMPLE_CONFIG)
