"""Settings of the `sap_soap` connector: the JSON Schema the user fills in, and a typed view.

The schema catches shape errors; `parse_config` adds what a schema cannot say (a WSDL
location that is a local file or an http(s) URL, nothing else) and fills defaults, so
the rest of the package reads plain attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from connectors.sdk.errors import ConfigError

__all__ = ["CONFIG_SCHEMA", "SoapConfig", "parse_config", "validate"]

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["wsdl", "username", "password"],
    "properties": {
        "wsdl": {
            "type": "string",
            "minLength": 1,
            "x-network": "url",
            "x-server-path": True,
            "description": (
                "The service's WSDL: an https URL (SOAMANAGER's 'allinone' WSDL link, "
                "e.g. https://erp.example.com/sap/bc/srt/wsdl/.../wsdl11/allinone/"
                "ws_policy/document?sap-client=100) or a file path on the worker. "
                "Only this document is loaded; imports it names are refused."
            ),
        },
        "endpoint": {
            "type": "string",
            "format": "uri",
            "description": "Service address; overrides the WSDL's soap:address (optional).",
        },
        "username": {
            "type": "string",
            "minLength": 1,
            "description": "SAP user (a communication/system user with S_SERVICE and S_RFC).",
        },
        "password": {
            "type": "string",
            "minLength": 1,
            "secret": True,
            "writeOnly": True,
            "description": "Password of the SAP user (HTTP Basic authentication).",
        },
        "sap_client": {
            "type": "string",
            "pattern": "^[0-9]{3}$",
            "description": "SAP client (Mandant), sent as ?sap-client=, e.g. 100.",
        },
        "company_code": {
            "type": "string",
            "minLength": 1,
            "maxLength": 4,
            "description": "Company code whose data BAPI_CUSTOMER_GETDETAIL2 returns, e.g. 1010.",
        },
        "sales_organization": {
            "type": "string",
            "minLength": 1,
            "maxLength": 4,
            "description": (
                "Sales organization for sales orders (used when the payload names none, "
                "and to look up existing orders), e.g. 1010."
            ),
        },
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 60,
            "description": "Seconds to wait for the WSDL and for each call.",
        },
        "max_rows": {
            "type": "integer",
            "minimum": 1,
            "maximum": 100000,
            "default": 5000,
            "description": "Customers asked for per BAPI_CUSTOMER_GETLIST call (MAXROWS).",
        },
        "max_retries": {
            "type": "integer",
            "minimum": 0,
            "maximum": 10,
            "default": 3,
            "description": "Retries of a read after a timeout, 429 or 5xx (writes never retry).",
        },
        "verify_tls": {
            "type": "boolean",
            "default": True,
            "description": "Check the server's TLS certificate. Turn off only for a test system.",
        },
    },
}


@dataclass(frozen=True, slots=True)
class SoapConfig:
    """One connection's settings, defaults applied."""

    wsdl: str
    """An http(s) URL or an absolute file path (``file://`` URLs are turned into paths)."""
    endpoint: str | None
    username: str
    password: str
    sap_client: str | None
    company_code: str | None
    sales_organization: str | None
    timeout_seconds: float
    max_rows: int
    max_retries: int
    verify_tls: bool

    @property
    def wsdl_is_remote(self) -> bool:
        return urlsplit(self.wsdl).scheme in {"http", "https"}

    def __repr__(self) -> str:
        """Never show the password (dataclass repr would)."""
        return f"SoapConfig(wsdl={self.wsdl!r}, username={self.username!r}, password='********')"


def parse_config(config: Mapping[str, Any]) -> SoapConfig:
    """Typed config from a schema-valid mapping; ConfigError for what the schema misses."""
    return SoapConfig(
        wsdl=_wsdl_location(str(config.get("wsdl") or "")),
        endpoint=_optional(config.get("endpoint")),
        username=str(config.get("username") or ""),
        password=str(config.get("password") or ""),
        sap_client=_optional(config.get("sap_client")),
        company_code=_optional(config.get("company_code")),
        sales_organization=_optional(config.get("sales_organization")),
        timeout_seconds=float(config.get("timeout_seconds") or 60),
        max_rows=int(config.get("max_rows") or 5000),
        max_retries=int(config.get("max_retries", 3)),
        verify_tls=bool(config.get("verify_tls", True)),
    )


def validate(config: Mapping[str, Any]) -> None:
    """The connector's extra validation (no I/O): parse and discard."""
    parse_config(config)


def _optional(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _wsdl_location(value: str) -> str:
    """An http(s) URL as given, or an absolute path for a local file."""
    scheme = urlsplit(value).scheme.lower()
    if scheme in {"http", "https"}:
        return value
    if scheme == "file":
        path = urlsplit(value).path
        return str(Path(path).resolve())
    if scheme and len(scheme) > 1:  # a single letter is a Windows drive, not a scheme
        raise ConfigError(
            f"wsdl must be an http(s) URL or a file path, not a {scheme}: URL",
            field="wsdl",
            hint="give the https link SOAMANAGER shows, or a path to a saved WSDL file",
        )
    return str(Path(value).expanduser().resolve())
