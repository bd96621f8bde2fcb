"""Settings of the `sap_odata` connector: the JSON Schema the console shows, and a typed view.

The schema is a singer-sdk ``PropertiesList`` so the tap validates it too; the
dataclass gives the client and the tap defaults and types without a dict lookup
at every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from singer_sdk import typing as th

from connectors.sdk.errors import ConfigError

__all__ = ["CONFIG_SCHEMA", "STREAM_NAMES", "ODataSettings", "validate_settings"]

STREAM_NAMES = ("business_partners", "products", "sales_orders", "billing_documents")

AUTH_TYPES = ("basic", "oauth2_client_credentials")
_AUTH_REQUIRED = {
    "basic": ("username", "password"),
    "oauth2_client_credentials": ("token_url", "client_id", "client_secret"),
}
# One object with every auth property (not a oneOf of two objects): the hub finds
# secret settings by walking `properties`, so both secrets must be reachable there.
_AUTH = th.ObjectType(
    th.Property(
        "type",
        th.StringType(allowed_values=list(AUTH_TYPES)),
        required=True,
        description="basic: communication user; oauth2_client_credentials: OAuth 2.0 client",
    ),
    th.Property(
        "username",
        th.StringType(min_length=1),
        description="Communication user (S/4HANA Cloud) or technical user (basic)",
    ),
    th.Property("password", th.StringType(min_length=1), secret=True),
    th.Property(
        "token_url",
        th.URIType,
        description="OAuth 2.0 token endpoint of the communication arrangement",
    ),
    th.Property("client_id", th.StringType(min_length=1)),
    th.Property("client_secret", th.StringType(min_length=1), secret=True),
    th.Property("scope", th.StringType, description="OAuth scope, if the server wants one"),
    additional_properties=False,
)

CONFIG = th.PropertiesList(
    th.Property(
        "base_url",
        th.URIType,
        required=True,
        description="Scheme, host and port of the S/4HANA API host, "
        "e.g. https://my123456-api.s4hana.cloud.sap or https://s4.example.com:44300",
    ),
    th.Property(
        "service_path",
        th.StringType,
        default="/sap/opu/odata/sap",
        description="Path before the service name; the service root is "
        "base_url + service_path + /<SERVICE>/",
    ),
    th.Property(
        "sap_client",
        th.StringType(pattern="^[0-9]{3}$"),
        description="SAP client (Mandant), sent as sap-client; on-premise only",
    ),
    th.Property(
        "language",
        th.StringType(pattern="^[A-Za-z]{1,2}$"),
        default="EN",
        description="Text language, sent as sap-language",
    ),
    th.Property(
        "auth",
        _AUTH,
        required=True,
        description="Basic (communication user) or OAuth 2.0 client credentials",
    ),
    th.Property(
        "streams",
        th.ArrayType(th.StringType(allowed_values=list(STREAM_NAMES))),
        default=list(STREAM_NAMES),
        description="Objects to read",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=5000),
        default=1000,
        description="Rows per request ($top); the server's __next is always followed",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="First incremental run reads changes from here (default: all)",
    ),
    th.Property(
        "overlap_seconds",
        th.IntegerType(minimum=0, maximum=86400),
        default=300,
        description="Incremental runs re-read this window; records are de-duplicated",
    ),
    th.Property("timeout_seconds", th.NumberType(minimum=1, maximum=600), default=60),
    th.Property("max_retries", th.IntegerType(minimum=0, maximum=20), default=5),
    th.Property(
        "verify_tls",
        th.BooleanType,
        default=True,
        description="Verify the server certificate; turn off only for test systems",
    ),
    th.Property(
        "events",
        th.ObjectType(
            th.Property("username", th.StringType(min_length=1), required=True),
            th.Property("password", th.StringType(min_length=8), required=True, secret=True),
            additional_properties=False,
        ),
        description="HTTP Basic credentials SAP Event Mesh sends to the hub's webhook",
    ),
)
CONFIG_SCHEMA: dict[str, Any] = CONFIG.to_dict()
CONFIG_SCHEMA["properties"]["auth"]["allOf"] = [
    {
        "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
        "then": {"required": list(fields)},
    }
    for kind, fields in _AUTH_REQUIRED.items()
]


@dataclass(frozen=True, slots=True)
class ODataSettings:
    """The config with defaults applied. Secrets stay in `auth` and never go in a repr."""

    base_url: str
    service_path: str
    sap_client: str | None
    language: str
    auth: Mapping[str, Any]
    streams: tuple[str, ...]
    page_size: int
    start_date: datetime | None
    overlap_seconds: int
    timeout_seconds: float
    max_retries: int
    verify_tls: bool
    events: Mapping[str, Any] | None

    def __repr__(self) -> str:
        return f"ODataSettings(base_url={self.base_url!r}, auth_type={self.auth_type!r})"

    @property
    def auth_type(self) -> str:
        return str(self.auth.get("type", "basic"))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ODataSettings:
        validate_settings(config)
        start = config.get("start_date")
        return cls(
            base_url=str(config["base_url"]).rstrip("/"),
            service_path="/" + str(config.get("service_path") or "/sap/opu/odata/sap").strip("/"),
            sap_client=config.get("sap_client") or None,
            language=str(config.get("language") or "EN"),
            auth=dict(config["auth"]),
            streams=tuple(config.get("streams") or STREAM_NAMES),
            page_size=int(config.get("page_size") or 1000),
            start_date=_parse_start(start) if start else None,
            overlap_seconds=int(config.get("overlap_seconds", 300)),
            timeout_seconds=float(config.get("timeout_seconds") or 60),
            max_retries=int(config.get("max_retries", 5)),
            verify_tls=bool(config.get("verify_tls", True)),
            events=config.get("events"),
        )


def validate_settings(config: Mapping[str, Any]) -> None:
    """The checks a client needs before any request; ConfigError names the field."""
    base_url = config.get("base_url")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            "base_url must be an http(s) URL",
            field="base_url",
            hint="e.g. https://my123456-api.s4hana.cloud.sap (no service path)",
        )
    auth = config.get("auth")
    if not isinstance(auth, Mapping):
        raise ConfigError("auth is missing", field="auth", hint="choose Basic or OAuth 2.0")
    kind = auth.get("type", "basic")
    needed = _AUTH_REQUIRED.get(kind)
    if needed is None:
        raise ConfigError(
            f"auth.type {kind!r} is not supported",
            field="auth.type",
            hint="use basic or oauth2_client_credentials",
        )
    for name in needed:
        if not auth.get(name):
            raise ConfigError(f"auth.{name} is missing", field=f"auth.{name}", hint="set it")
    for stream in config.get("streams") or ():
        if stream not in STREAM_NAMES:
            raise ConfigError(
                f"unknown stream {stream!r}",
                field="streams",
                hint="use any of: " + ", ".join(STREAM_NAMES),
            )


def _parse_start(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(
                "start_date is not an ISO-8601 date-time",
                field="start_date",
                hint="e.g. 2024-01-01T00:00:00Z",
            ) from exc
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
