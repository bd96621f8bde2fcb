"""`IdocTap`: the singer-sdk Tap of the sap_idoc connector.

Runs in-process in the hub or stand-alone as a Singer tap:
``python -m connectors.sap.idoc --config config.json [--state state.json]``.
"""

from __future__ import annotations

import copy

from singer_sdk import Stream, Tap

from connectors.sap.idoc.config import CONFIG_SCHEMA, parse_config
from connectors.sap.idoc.inbox import STREAMS, Inbox
from connectors.sap.idoc.streams import IdocStream

__all__ = ["IdocTap"]


class IdocTap(Tap):
    """Reads SAP IDoc-XML files (DEBMAS, INVOIC, ORDERS/ORDRSP) from an SFTP folder."""

    name = "tap-l2c-sap-idoc"
    package_name = "l2c-hub"
    # A copy: singer-sdk appends its built-in settings to this dict in place.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)

    _inbox: Inbox | None = None

    def discover_streams(self) -> list[Stream]:
        return [IdocStream(self, name, self._run_inbox) for name in STREAMS]

    def _run_inbox(self) -> Inbox:
        """The run's shared Inbox, made when the first stream starts.

        At that moment no stream has changed its bookmark yet, so the state copied
        here is the one the tap was started with: the committed state. One tap object
        serves one run (as the hub and singer-sdk's CLI use it).
        """
        if self._inbox is None:
            selected = [s.name for s in self.streams.values() if s.selected]
            self._inbox = Inbox(
                parse_config(self.config), copy.deepcopy(self.state), selected, self.logger
            )
        return self._inbox
