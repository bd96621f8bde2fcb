"""Pinned SSH host keys: parsed from the connection settings, and only from there.

A key is accepted as a known_hosts line (``host ssh-ed25519 AAAA... comment``,
hashed ``|1|...`` names included, as `ssh-keyscan` prints them) or as a bare public
key (``ssh-ed25519 AAAA...``). Host names in the lines are not matched: the keys pin
the one server this connection talks to, whatever name the line was scanned under.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

from connectors.sdk.errors import ConfigError

__all__ = ["describe_key", "parse_host_keys"]

_KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-", "rsa-")


def parse_host_keys(lines: Iterable[str]) -> list[paramiko.PKey]:
    """Public keys from known_hosts lines or bare keys; ConfigError naming a bad line."""
    keys: list[paramiko.PKey] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            raise ConfigError(
                f"host_keys line {number}: markers such as @cert-authority are not supported",
                field="host_keys",
                hint="paste the server's own public host key",
            )
        if line.startswith(_KEY_TYPE_PREFIXES):
            line = f"pinned {line}"
        key = _entry_key(line, number)
        keys.append(key)
    if not keys:
        raise ConfigError(
            "host_keys holds no key",
            field="host_keys",
            hint="paste the server's key, e.g. the output of `ssh-keyscan -t ed25519 HOST`",
        )
    return keys


def describe_key(key: paramiko.PKey) -> str:
    """``ssh-ed25519 SHA256:...`` — what `ssh-keygen -lf` shows, for the user to compare."""
    return f"{key.get_name()} {key.fingerprint}"


def _entry_key(line: str, number: int) -> paramiko.PKey:
    problem = "it is not a known_hosts line or an 'ssh-ed25519 AAAA...' public key"
    try:
        entry = HostKeyEntry.from_line(line, lineno=number)
    except (InvalidHostKey, binascii.Error, ValueError, paramiko.SSHException) as exc:
        problem = f"the key does not decode ({type(exc).__name__})"
        entry = None
    if entry is None or entry.key is None:
        parts = line.split()
        if len(parts) >= 3 and not _is_base64(parts[2]):
            problem = "the key is not base64"
        elif len(parts) >= 2 and parts[1].startswith(_KEY_TYPE_PREFIXES):
            problem = f"key type {parts[1]!r} is not supported"
        raise ConfigError(
            f"host_keys line {number}: {problem}",
            field="host_keys",
            hint="paste the output of `ssh-keyscan -t ed25519 HOST` (or the server's "
            "/etc/ssh/ssh_host_ed25519_key.pub)",
        )
    key: paramiko.PKey = entry.key
    return key


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
