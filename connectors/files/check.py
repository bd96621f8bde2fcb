"""`check`: can the hub read this folder, and what would each stream read?

Settings problems raise ConfigError naming the setting (``path``,
``streams[1].pattern``, ``streams[0].key_properties``) so the console can point at
the input to fix. A stream matching no file is reported, not refused: the first
drop may not have arrived yet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from connectors.files.config import CONFIG_SCHEMA, parse_config
from connectors.files.streams import discover_columns, matching_files
from connectors.sdk.errors import ConfigError
from connectors.sdk.spec import CheckResult, validate_against

__all__ = ["check"]


def check(config: Mapping[str, Any]) -> CheckResult:
    validate_against(CONFIG_SCHEMA, config)
    settings = parse_config(config)
    root = settings.path
    if not root.exists():
        raise ConfigError(
            f"folder {root} does not exist", field="path", hint="create it or correct the path"
        )
    if not root.is_dir():
        raise ConfigError(f"{root} is a file, not a folder", field="path", hint="give its folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise ConfigError(
            f"folder {root} is not readable",
            field="path",
            hint=f"let the user running the hub (uid {os.getuid()}) list and read it",
        )
    details: list[str] = []
    total = 0
    for spec in settings.streams:
        files = matching_files(root, spec)
        total += len(files)
        line = f"{spec.name}: {len(files)} {spec.format} file(s) match {spec.pattern!r}"
        if files:
            columns = discover_columns(root, spec)
            missing = [key for key in spec.key_properties if key not in columns]
            if missing and spec.format != "jsonl":
                raise ConfigError(
                    f"key column(s) {', '.join(missing)} not found in {spec.name} files",
                    field=spec.field("key_properties"),
                    hint=f"columns found: {', '.join(columns) or '(none)'}",
                )
            line += f"; {len(columns)} column(s)"
        details.append(line)
    message = f"{root} is readable; {total} file(s) match {len(settings.streams)} stream(s)"
    return CheckResult(ok=True, message=message, details=details)
