"""`FilesTap`: the singer-sdk Tap of the files connector.

Runs in-process in the hub (see `connectors.sdk.embedding`) or stand-alone as a
Singer tap: ``python -m connectors.files --config config.json``.
"""

from __future__ import annotations

import copy

from singer_sdk import Stream, Tap

from connectors.files.config import CONFIG_SCHEMA, parse_config
from connectors.files.streams import FileStream

__all__ = ["FilesTap"]


class FilesTap(Tap):
    """Reads CSV, JSONL and XLSX files dropped into a local folder."""

    name = "tap-l2c-files"
    package_name = "l2c-hub"
    # A copy: singer-sdk appends its built-in settings to this dict in place.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)
    # Stream schemas come from the files present at discovery time.
    dynamic_catalog = True

    def discover_streams(self) -> list[Stream]:
        config = parse_config(self.config)
        return [FileStream(self, spec, config.path, config.state_every) for spec in config.streams]
