"""`check`: can the hub reach the server, trust it, and use each folder?

Connects (host key verified against host_keys), lists `inbound_dir`, and writes
then removes a probe file in each folder the connector writes to (`archive_dir`,
`error_dir`, `outbound_dir`), so a permission problem shows now, naming the
setting, not in the middle of a run.
"""

from __future__ import annotations

import posixpath
import time
import uuid
from collections.abc import Mapping
from typing import Any

from connectors.sap.idoc.config import CONFIG_SCHEMA, parse_config
from connectors.sap.idoc.hostkeys import parse_host_keys
from connectors.sap.idoc.inbox import is_candidate
from connectors.sap.idoc.sftp import SftpSession, connect
from connectors.sdk.errors import ConfigError
from connectors.sdk.spec import CheckResult, validate_against

__all__ = ["check"]


def check(config: Mapping[str, Any]) -> CheckResult:
    validate_against(CONFIG_SCHEMA, config)
    settings = parse_config(config)
    parse_host_keys(settings.host_keys)
    details: list[str] = []
    with connect(settings) as session:
        files = session.list_files(settings.inbound_dir, setting="inbound_dir")
        matching = [f for f in files if is_candidate(f, settings.file_pattern)]
        cutoff = time.time() - settings.settle_seconds
        settling = sum(1 for f in matching if f.mtime > cutoff)
        details.append(
            f"inbound_dir {settings.inbound_dir}: {len(matching)} file(s) match "
            f"{settings.file_pattern!r}"
            + (f" ({settling} still being written)" if settling else "")
        )
        folders = [("archive_dir", settings.archive_dir), ("error_dir", settings.error_dir)]
        if settings.outbound_dir:
            folders.append(("outbound_dir", settings.outbound_dir))
        for setting, folder in folders:
            _probe(session, folder, setting)
            details.append(f"{setting} {folder}: writable")
        if settings.outbound_processed_dir:
            if not session.is_dir(
                settings.outbound_processed_dir, setting="outbound_processed_dir"
            ):
                raise ConfigError(
                    f"folder {settings.outbound_processed_dir} does not exist on the SFTP server",
                    field="outbound_processed_dir",
                    hint="give SAP's folder for processed inbound files, or leave it empty",
                )
            details.append(f"outbound_processed_dir {settings.outbound_processed_dir}: found")
        host_key = session.host_key
    message = (
        f"connected to {settings.host}:{settings.port} as {settings.username} "
        f"(host key {host_key} verified); {len(matching)} IDoc file(s) waiting"
    )
    return CheckResult(ok=True, message=message, details=details)


def _probe(session: SftpSession, folder: str, setting: str) -> None:
    """Write and remove a hidden temp file: proves the folder exists and is writable."""
    if not session.is_dir(folder, setting=setting):
        raise ConfigError(
            f"folder {folder} does not exist on the SFTP server",
            field=setting,
            hint="create it or correct the path (relative paths start at the login folder)",
        )
    probe = posixpath.join(folder, f".l2c-check-{uuid.uuid4().hex}.tmp")
    session.write(probe, b"L2C Hub connection test\n", setting=setting)
    session.remove(probe, setting=setting)
