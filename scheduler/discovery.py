"""Discovery: which streams a connection offers, with their schemas and keys.

In-process taps are asked directly (singer-sdk builds the catalog from the settings;
the files connector looks at the files present now). An external Singer tap runs
`--config CONFIG --discover` as the Singer specification defines, its stderr scrubbed
of the connection's secrets before any of it is shown.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from singer_sdk.singerlib import Message

from connectors.sdk.embedding import CallbackWriter, embeddable
from connectors.sdk.registry import get_connector
from core.errors import ConfigError, TransientError
from core.model.tables import Connection
from core.security.secrets import REDACTED
from scheduler.connections import (
    check_config_urls,
    resolved_config,
    secret_values,
    user_error,
)
from scheduler.network import connector_network

DISCOVERY_TIMEOUT = 60.0
"""Seconds an external tap may take to print its catalog."""
_STDERR_LINES = 10


@dataclass(frozen=True, slots=True)
class StreamInfo:
    name: str
    key_properties: list[str]
    replication_key: str | None
    schema: dict[str, Any]


def discover(connection: Connection) -> list[StreamInfo]:
    """The connection's streams (ConfigError / TransientError when it cannot tell)."""
    spec = get_connector(connection.connector)
    config = resolved_config(connection)
    check_config_urls(spec, config, unresolved_ok=False)
    try:
        if spec.tap is not None:
            with connector_network():
                tap = embeddable(spec.tap)(config=config, message_writer=CallbackWriter(_ignore))
                catalog: Mapping[str, Any] = tap.catalog_dict
        else:
            assert spec.tap_command is not None
            catalog = _external(spec.tap_command, config, secret_values(connection))
    except Exception as error:
        raise user_error(error, "config.") from None
    return [_stream(entry) for entry in catalog.get("streams") or [] if isinstance(entry, dict)]


def _ignore(_message: Message) -> None:
    """Discovery emits nothing worth keeping."""


def _external(tap_command: Any, config: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="l2c-discover-") as workdir:
        argv: list[str] = tap_command(config, Path(workdir), None)
        if "--config" not in argv:
            raise ConfigError("the tap's command line has no --config", hint="fix the connector")
        argv = [*argv[: argv.index("--config") + 2], "--discover"]
        try:
            # argv is the connector's own command line, built from validated settings.
            proc = subprocess.run(  # noqa: S603
                argv,
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=DISCOVERY_TIMEOUT,
                check=False,
                cwd=workdir,
            )
        except subprocess.TimeoutExpired:
            raise TransientError(
                f"discovery did not finish within {DISCOVERY_TIMEOUT:g} s",
                hint="check that the system the tap reads is reachable",
            ) from None
        except OSError as error:
            raise ConfigError(f"cannot start {argv[0]}: {error.strerror or error}") from None
    tail = _scrub(proc.stderr.decode("utf-8", "replace"), secrets)
    if proc.returncode != 0:
        raise ConfigError(
            f"discovery exited with code {proc.returncode}",
            hint=" | ".join(tail) or "run the tap by hand with --discover to see why",
        )
    catalog = _catalog(proc.stdout.decode("utf-8", "replace"))
    if catalog is None:
        raise ConfigError(
            "discovery did not print a JSON catalog", hint="the tap may not support --discover"
        )
    return catalog


def _scrub(text: str, secrets: list[str]) -> list[str]:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text.splitlines()[-_STDERR_LINES:]


def _catalog(stdout: str) -> dict[str, Any] | None:
    """The catalog object; tolerates taps that log to stdout before printing it."""
    for text in (stdout, *reversed(stdout.splitlines())):
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("streams"), list):
            return value
    return None


def _stream(entry: Mapping[str, Any]) -> StreamInfo:
    root: Mapping[str, Any] = next(
        (
            m.get("metadata") or {}
            for m in entry.get("metadata") or []
            if isinstance(m, dict) and list(m.get("breadcrumb") or []) == []
        ),
        {},
    )
    keys = entry.get("key_properties") or root.get("table-key-properties") or []
    replication = entry.get("replication_key") or next(
        iter(root.get("valid-replication-keys") or []), None
    )
    schema = entry.get("schema")
    return StreamInfo(
        name=str(entry.get("tap_stream_id") or entry.get("stream") or ""),
        key_properties=[str(k) for k in keys],
        replication_key=str(replication) if replication else None,
        schema=schema if isinstance(schema, dict) else {},
    )
