"""Settings of the Singer connector: which executable, with which config and catalog.

`tap_config` is free-form (it is whatever the tap wants), so its secrets cannot
be declared in the schema; the user lists them in `secret_keys` and the schema's
``x-secret-keys`` annotation tells the hub to encrypt and redact those keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.sdk.spec import SECRET_KEYS_KEYWORD

__all__ = ["CATALOG_FLAGS", "CONFIG_SCHEMA", "SingerSettings", "parse_settings", "secret_paths"]

CATALOG_FLAGS = ("--catalog", "--properties")

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["executable"],
    "properties": {
        "executable": {
            "type": "string",
            "minLength": 1,
            "description": "Command found on PATH (tap-github) or a path to the tap executable.",
        },
        "args": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": 'Arguments placed before --config, e.g. ["-m", "tap_foo"].',
        },
        "tap_config": {
            "type": "object",
            "default": {},
            SECRET_KEYS_KEYWORD: "secret_keys",
            "description": "The tap's own settings, written to config.json.",
        },
        "secret_keys": {
            "type": "array",
            "items": {"type": "string"},
            "uniqueItems": True,
            "default": [],
            "description": "Keys of tap_config holding secrets (encrypted at rest, redacted).",
        },
        "catalog": {
            "type": "object",
            "required": ["streams"],
            "description": "Singer catalog passed to the tap. Default: none (tap's choice).",
        },
        "catalog_flag": {
            "type": "string",
            "enum": list(CATALOG_FLAGS),
            "default": "--catalog",
            "description": "--properties for old taps that predate --catalog.",
        },
        "select": {
            "type": "array",
            "items": {"type": "string"},
            "uniqueItems": True,
            "description": "Streams to sync; others are deselected. Without a catalog, "
            "the tap's discovery provides one.",
        },
    },
}


@dataclass(frozen=True, slots=True)
class SingerSettings:
    executable: str
    args: tuple[str, ...] = ()
    tap_config: dict[str, Any] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()
    catalog: dict[str, Any] | None = None
    catalog_flag: str = "--catalog"
    select: tuple[str, ...] | None = None

    @property
    def secret_values(self) -> list[str]:
        """The secret strings, to scrub them from a tap's error output."""
        values = (self.tap_config.get(key) for key in self.secret_keys)
        return [str(v) for v in values if v not in (None, "")]


def parse_settings(config: Mapping[str, Any]) -> SingerSettings:
    """Typed settings from a schema-valid mapping."""
    select = config.get("select")
    return SingerSettings(
        executable=str(config["executable"]),
        args=tuple(config.get("args") or ()),
        tap_config=dict(config.get("tap_config") or {}),
        secret_keys=tuple(config.get("secret_keys") or ()),
        catalog=dict(config["catalog"]) if config.get("catalog") else None,
        catalog_flag=str(config.get("catalog_flag") or "--catalog"),
        select=tuple(select) if select is not None else None,
    )


def secret_paths(config: Mapping[str, Any]) -> list[str]:
    return [f"tap_config.{key}" for key in config.get("secret_keys") or ()]
