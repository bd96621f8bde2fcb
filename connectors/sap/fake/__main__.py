"""`python -m connectors.sap.fake --port 0 --business-partners 200000 [--ready-file F]`."""

from .server import main

main()
