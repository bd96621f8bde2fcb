"""OAuth 2.0 client credentials for S/4HANA communication arrangements.

The token is fetched from `token_url` with the client id and secret as HTTP Basic
credentials (RFC 6749 §2.3.1), cached until shortly before `expires_in`, and
fetched again when SAP answers 401 (the client asks for `refresh=True`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from connectors.sap.odata.errors import gateway_error, parse_retry_after, transport_reason
from connectors.sdk.errors import ConfigError, TransientError

__all__ = ["TOKEN_MARGIN", "ClientCredentials"]

TOKEN_MARGIN = 60.0
"""Seconds before expiry a token is treated as expired."""


class ClientCredentials:
    """Bearer tokens for one OAuth client; shares the client's httpx session."""

    def __init__(self, http: httpx.Client, auth: Mapping[str, Any]) -> None:
        self._http = http
        self._auth = auth
        self._token: str | None = None
        self._expires = 0.0

    def token(self, *, refresh: bool = False) -> str:
        if not refresh and self._token and time.monotonic() < self._expires:
            return self._token
        form = {"grant_type": "client_credentials"}
        if self._auth.get("scope"):
            form["scope"] = str(self._auth["scope"])
        try:
            response = self._http.post(
                str(self._auth["token_url"]),
                data=form,
                auth=httpx.BasicAuth(
                    str(self._auth["client_id"]), str(self._auth["client_secret"])
                ),
                headers={"Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise TransientError(
                f"cannot reach the OAuth token endpoint: {transport_reason(exc)}",
                hint="check auth.token_url",
                reason="connect",
                target="token_url",
            ) from exc
        if response.status_code in (400, 401, 403):
            error = gateway_error(response)
            raise ConfigError(
                f"the OAuth token endpoint refused the client ({response.status_code})"
                + (f": {error.message}" if error.message else ""),
                field="auth.client_id",
                hint="check client_id, client_secret and scope of the communication arrangement",
            )
        if response.status_code >= 300:
            raise TransientError(
                f"the OAuth token endpoint failed ({response.status_code})",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        try:
            doc = response.json()
            token = str(doc["access_token"])
            lifetime = float(doc.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                "the OAuth token endpoint did not return an access_token",
                field="auth.token_url",
                hint="point token_url at the OAuth 2.0 token endpoint (.../oauth/token)",
            ) from exc
        self._token = token
        self._expires = time.monotonic() + max(lifetime - TOKEN_MARGIN, lifetime / 2)
        return token
