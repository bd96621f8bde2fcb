"""``python -m connectors.sap.idoc --config config.json``: the sap_idoc tap as a Singer CLI."""

from connectors.sap.idoc.tap import IdocTap

IdocTap.cli()
