"""`SapSoapTap`: the singer-sdk Tap of the `sap_soap` connector.

Runs in-process in the hub (see `connectors.sdk.embedding`) or stand-alone as a
Singer tap: ``python -m connectors.sap.soap --config config.json``. Discovery loads
the WSDL (the stream's schema comes from its structures), so it needs the SAP
system, as a sync does.
"""

from __future__ import annotations

import copy

from singer_sdk import Stream, Tap

from connectors.sap.soap.config import CONFIG_SCHEMA
from connectors.sap.soap.streams import CustomersStream

__all__ = ["SapSoapTap"]


class SapSoapTap(Tap):
    """Reads an SAP system's customers through BAPI web services (SOAP)."""

    name = "tap-l2c-sap-soap"
    package_name = "l2c-hub"
    # A copy: singer-sdk appends its built-in settings to this dict in place.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)
    # The schema comes from the WSDL.
    dynamic_catalog = True

    def discover_streams(self) -> list[Stream]:
        return [CustomersStream(self)]
