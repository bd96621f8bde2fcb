"""``python -m connectors.sap.soap --config config.json``: the sap_soap tap as a Singer CLI."""

from connectors.sap.soap.tap import SapSoapTap

SapSoapTap.cli()
