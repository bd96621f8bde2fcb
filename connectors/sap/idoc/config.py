"""Settings of the sap_idoc connector: the JSON Schema the user fills in, and a typed view.

The schema catches shape errors; `parse_config` adds what a schema cannot say (one
of password / private key, host keys that parse, a real time zone, distinct
folders) and fills in defaults, so the rest of the package reads plain attributes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.sap.idoc.hostkeys import parse_host_keys
from connectors.sdk.errors import ConfigError

__all__ = [
    "CONFIG_SCHEMA",
    "IdocConfig",
    "Partner",
    "parse_config",
    "validate",
]

_SECRET: dict[str, Any] = {"type": "string", "secret": True, "writeOnly": True}

_PARTNER: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "port": {
            "type": "string",
            "maxLength": 10,
            "description": "Port name as defined in WE21 (SNDPOR/RCVPOR), e.g. SAPS4H or L2CHUB.",
        },
        "partner_type": {
            "type": "string",
            "maxLength": 2,
            "default": "LS",
            "description": "Partner type (SNDPRT/RCVPRT): LS logical system, KU customer.",
        },
        "partner_number": {
            "type": "string",
            "maxLength": 10,
            "description": "Partner number (SNDPRN/RCVPRN) from the partner profile (WE20).",
        },
    },
}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["host", "username", "host_keys", "inbound_dir", "archive_dir", "error_dir"],
    "properties": {
        "host": {
            "type": "string",
            "minLength": 1,
            "description": "SFTP server name or address.",
            "x-network": "host",
            "x-port": "port",
        },
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 22},
        "username": {"type": "string", "minLength": 1, "description": "SFTP login."},
        "password": {**_SECRET, "description": "SFTP password (or use private_key)."},
        "private_key": {
            **_SECRET,
            "description": "Private key text (OpenSSH or PEM: -----BEGIN ... PRIVATE KEY-----).",
        },
        "private_key_passphrase": {
            **_SECRET,
            "description": "Passphrase of an encrypted private_key.",
        },
        "host_keys": {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ],
            "description": "The server's public host key(s), pinned: known_hosts lines "
            "(`ssh-keyscan -t ed25519 HOST`) or 'ssh-ed25519 AAAA...' keys, one per line. "
            "A server offering any other key is refused.",
        },
        "inbound_dir": {
            "type": "string",
            "minLength": 1,
            "description": "Folder SAP's XML file port writes IDocs into (we read them there).",
        },
        "archive_dir": {
            "type": "string",
            "minLength": 1,
            "description": "Folder read files are moved to once the hub has committed them.",
        },
        "error_dir": {
            "type": "string",
            "minLength": 1,
            "description": "Folder unreadable files are moved to, each with <name>.error.txt.",
        },
        "outbound_dir": {
            "type": "string",
            "minLength": 1,
            "description": "Folder SAP's inbound job reads IDocs from (ORDERS05 we write).",
        },
        "outbound_processed_dir": {
            "type": "string",
            "minLength": 1,
            "description": "Folder SAP moves processed inbound files to, if any: a file "
            "found there is not written again.",
        },
        "file_pattern": {
            "type": "string",
            "minLength": 1,
            "default": "*.xml",
            "description": "Glob of the IDoc files in inbound_dir, e.g. *.xml or O_*.xml.",
        },
        "settle_seconds": {
            "type": "number",
            "minimum": 0,
            "default": 5,
            "description": "Files modified less than this many seconds ago are left for "
            "the next run (SAP may still be writing them).",
        },
        "timezone": {
            "type": "string",
            "default": "Asia/Shanghai",
            "description": "Time zone of the SAP system (CREDAT/CRETIM are local time).",
        },
        "sender": {**_PARTNER, "description": "Us, as SAP's partner profile knows us."},
        "receiver": {**_PARTNER, "description": "The SAP system receiving our IDocs."},
        "sap_client": {
            "type": "string",
            "pattern": "^[0-9]{3}$",
            "description": "SAP client (MANDT) written into outbound control records, e.g. 100.",
        },
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 30,
            "description": "Connect and read timeout.",
        },
    },
}


@dataclass(frozen=True, slots=True)
class Partner:
    port: str
    partner_type: str
    partner_number: str


@dataclass(frozen=True, slots=True)
class IdocConfig:
    host: str
    port: int
    username: str
    password: str | None
    private_key: str | None
    private_key_passphrase: str | None
    host_keys: tuple[str, ...]
    inbound_dir: str
    archive_dir: str
    error_dir: str
    outbound_dir: str | None
    outbound_processed_dir: str | None
    file_pattern: str
    settle_seconds: float
    timezone: ZoneInfo
    sender: Partner
    receiver: Partner
    sap_client: str | None
    timeout_seconds: float


def parse_config(config: Mapping[str, Any]) -> IdocConfig:
    """Typed config from a schema-valid mapping; ConfigError for what the schema misses."""
    password = config.get("password") or None
    private_key = config.get("private_key") or None
    if not password and not private_key:
        raise ConfigError(
            "no credential: set password or private_key",
            field="password",
            hint="the SFTP server needs a password or a private key for the login",
        )
    pattern = str(config.get("file_pattern") or "*.xml")
    if "/" in pattern:
        raise ConfigError(
            f"file_pattern {pattern!r} must be a file name glob",
            field="file_pattern",
            hint="inbound_dir is read without sub-folders: use e.g. *.xml",
        )
    folders = {name: _folder(config, name) for name in ("inbound_dir", "archive_dir", "error_dir")}
    seen: dict[str, str] = {}
    for name, path in folders.items():
        if path in seen:
            raise ConfigError(
                f"{name} is the same folder as {seen[path]}",
                field=name,
                hint="read, archived and failed files need three different folders",
            )
        seen[path] = name
    return IdocConfig(
        host=str(config.get("host") or ""),
        port=int(config.get("port") or 22),
        username=str(config.get("username") or ""),
        password=password,
        private_key=private_key,
        private_key_passphrase=config.get("private_key_passphrase") or None,
        host_keys=_host_key_lines(config.get("host_keys")),
        inbound_dir=folders["inbound_dir"],
        archive_dir=folders["archive_dir"],
        error_dir=folders["error_dir"],
        outbound_dir=_folder(config, "outbound_dir") if config.get("outbound_dir") else None,
        outbound_processed_dir=(
            _folder(config, "outbound_processed_dir")
            if config.get("outbound_processed_dir")
            else None
        ),
        file_pattern=pattern,
        settle_seconds=float(_default(config.get("settle_seconds"), 5)),
        timezone=_zone(str(config.get("timezone") or "Asia/Shanghai")),
        sender=_partner(config.get("sender")),
        receiver=_partner(config.get("receiver")),
        sap_client=config.get("sap_client") or None,
        timeout_seconds=float(config.get("timeout_seconds") or 30),
    )


def validate(config: Mapping[str, Any]) -> None:
    """The connector's extra validation (no I/O): parse, including the host keys."""
    settings = parse_config(config)
    parse_host_keys(settings.host_keys)


def _default(value: Any, default: float) -> Any:
    return default if value is None else value


def _folder(config: Mapping[str, Any], name: str) -> str:
    """A normalised remote folder (POSIX, no trailing slash; relative = from the login dir)."""
    raw = str(config.get(name) or "").strip()
    if not raw:
        raise ConfigError(f"{name} is empty", field=name, hint="give the folder's path")
    return posixpath.normpath(raw)


def _host_key_lines(value: Any) -> tuple[str, ...]:
    lines = value.splitlines() if isinstance(value, str) else list(value or [])
    keys = tuple(
        str(line).strip()
        for line in lines
        if str(line).strip() and not str(line).lstrip().startswith("#")
    )
    if not keys:
        raise ConfigError(
            "host_keys holds no key",
            field="host_keys",
            hint="paste the server's key, e.g. the output of `ssh-keyscan -t ed25519 HOST`",
        )
    return keys


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {name!r}",
            field="timezone",
            hint="use an IANA name such as Asia/Shanghai or Europe/Berlin",
        ) from None


def _partner(value: Any) -> Partner:
    raw = value if isinstance(value, Mapping) else {}
    return Partner(
        port=str(raw.get("port") or ""),
        partner_type=str(raw.get("partner_type") or "LS"),
        partner_number=str(raw.get("partner_number") or ""),
    )
