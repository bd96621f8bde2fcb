# zeep has no type annotations; calling into it is fine.
# mypy: disable-error-code="no-untyped-call"
"""The zeep transport: loads the configured WSDL and nothing else, maps HTTP failures.

A WSDL can name other documents (``xsd:import``, ``xsd:include``, ``wsdl:import``)
and zeep fetches them through `Transport.load`. A hostile or careless WSDL could so
make the hub fetch any URL on its network, or read a local file. `GuardedTransport`
loads only the configured WSDL (and, for a WSDL on disk, files in its own folder)
and refuses everything else with `DocumentRefusedError` *before* any fetch. zeep's own
``forbid_external`` setting covers http(s) imports; this also covers ``file:`` and
any other scheme.

Operation calls go through `post`, which turns HTTP statuses into the connector's
error taxonomy before zeep reads the body: 401/403 are the user's to fix, 429 and
502-504 are worth retrying (with Retry-After), a timeout or a lost connection too.
A 500 is left to zeep: SOAP 1.1 faults come with status 500.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
from zeep.transports import Transport

from connectors.sdk.errors import ConfigError, TransientError
from connectors.sdk.network import vet_url

__all__ = ["DocumentRefusedError", "GuardedTransport", "retry_after", "safe_url"]

RETRY_STATUSES = frozenset({429, 502, 503, 504})


class DocumentRefusedError(ConfigError):
    """The WSDL referred to a document other than itself; nothing was fetched."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"refused to load {safe_url(url)}: the WSDL refers to a document other than "
            "itself and only the configured WSDL is loaded",
            field="wsdl",
            hint=(
                "use SOAMANAGER's single-document WSDL (the 'allinone' link, or save it "
                "to a file with its XSDs in the same folder)"
            ),
            url=safe_url(url),
        )


class GuardedTransport(Transport):
    """A zeep Transport that loads one WSDL (and its siblings on disk) and maps HTTP errors."""

    def __init__(self, wsdl: str, *, session: requests.Session, timeout: float) -> None:
        super().__init__(timeout=timeout, operation_timeout=timeout, session=session)
        self._wsdl_url = wsdl if _is_http(wsdl) else None
        self._wsdl_dir = None if _is_http(wsdl) else Path(wsdl).resolve().parent
        self.loaded: dict[str, bytes] = {}
        """Documents loaded, by location (the check reads the WSDL's policies from it)."""
        self.refused: list[str] = []

    # ---------------------------------------------------------------- documents

    def load(self, url: str) -> bytes:
        """The configured WSDL, or a file next to a local one; DocumentRefusedError otherwise."""
        if not self._allowed(url):
            self.refused.append(url)
            raise DocumentRefusedError(url)
        if _is_http(url):
            vet_url(url)
            content = self._load_remote(url)
        else:
            path = _local_path(url)
            try:
                content = path.read_bytes()
            except FileNotFoundError as exc:
                raise ConfigError(
                    f"WSDL file {path} not found", field="wsdl", hint="correct the path"
                ) from exc
            except OSError as exc:
                raise ConfigError(
                    f"cannot read {path}: {exc.strerror or exc}",
                    field="wsdl",
                    hint=f"let the user running the hub (uid {os.getuid()}) read it",
                ) from exc
        self.loaded[url] = content
        return content

    def _allowed(self, url: str) -> bool:
        if _is_http(url):
            return self._wsdl_url is not None and url == self._wsdl_url
        if self._wsdl_dir is None:
            return False
        scheme = urlsplit(url).scheme.lower()
        if scheme not in {"", "file"} and len(scheme) > 1:
            return False
        try:
            return _local_path(url).resolve().is_relative_to(self._wsdl_dir)
        except (OSError, ValueError):
            return False

    def _load_remote(self, url: str) -> bytes:
        try:
            response = self.session.get(url, timeout=self.load_timeout)
        except _REFUSED_BEFORE_SENDING as exc:
            raise _request_error(exc, url, field="wsdl") from exc
        except requests.Timeout as exc:
            raise TransientError(
                f"no answer from {safe_url(url)} within {self.load_timeout} s",
                hint="the SAP system may be busy; the next run tries again",
            ) from exc
        except requests.ConnectionError as exc:
            raise TransientError(
                f"cannot connect to {safe_url(url)}: {_reason(exc)}",
                hint="check the wsdl URL and that the SAP system is reachable from the hub",
            ) from exc
        with response:
            _raise_for_status(response, url, what="WSDL")
            if response.status_code != 200:
                raise ConfigError(
                    f"{safe_url(url)} answered HTTP {response.status_code}, not a WSDL",
                    field="wsdl",
                    hint="give the WSDL link shown in SOAMANAGER",
                )
            content: bytes = response.content
            return content

    # ---------------------------------------------------------------- operations

    def post(self, address: str, message: Any, headers: dict[str, str]) -> requests.Response:
        vet_url(address)  # the hub's SSRF rules (requests cannot take its pinned transport)
        try:
            response: requests.Response = super().post(address, message, headers)
        except _REFUSED_BEFORE_SENDING as exc:
            raise _request_error(exc, address, field="endpoint") from exc
        except requests.Timeout as exc:
            raise TransientError(
                f"no answer from {safe_url(address)} within {self.operation_timeout} s",
                hint="the SAP system may be busy; raise timeout_seconds if it stays slow",
            ) from exc
        except requests.ConnectionError as exc:
            raise TransientError(
                f"connection to {safe_url(address)} failed: {_reason(exc)}",
                hint="check the endpoint and that the SAP system is reachable from the hub",
            ) from exc
        _raise_for_status(response, address, what="service")
        return response


_REFUSED_BEFORE_SENDING = (
    requests.exceptions.SSLError,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)
"""Errors no retry can fix: an untrusted certificate, an unusable URL."""


def _request_error(exc: Exception, url: str, *, field: str) -> ConfigError:
    if isinstance(exc, requests.exceptions.SSLError):
        return ConfigError(
            f"TLS with {safe_url(url)} failed: {_reason(exc)}",
            field="verify_tls",
            hint="install the CA that signed the SAP certificate on the worker "
            "(or turn verify_tls off for a test system only)",
        )
    return ConfigError(
        f"cannot use {safe_url(url)} as a URL: {_reason(exc)}",
        field=field,
        hint="give an http(s) URL such as https://erp.example.com:44300/sap/bc/srt/...",
    )


def _raise_for_status(response: requests.Response, url: str, *, what: str) -> None:
    status = response.status_code
    where = safe_url(url)
    if status == 401:
        raise ConfigError(
            f"SAP refused the logon at {where} (HTTP 401)",
            field="username",
            hint="check username and password; the user may also be locked (SU01)",
        )
    if status == 403:
        raise ConfigError(
            f"SAP refused access to the {what} at {where} (HTTP 403)",
            field="username",
            hint="the user needs authorization S_SERVICE for the service and S_RFC for "
            "the BAPIs (ask the SAP basis team)",
        )
    if status == 404:
        field = "wsdl" if what == "WSDL" else "endpoint"
        raise ConfigError(
            f"no {what} at {where} (HTTP 404)",
            field=field,
            hint="check the URL and that the service is active in SOAMANAGER/SICF",
        )
    if status in RETRY_STATUSES:
        raise TransientError(
            f"{where} answered HTTP {status}",
            hint="the SAP system is busy or restarting; retried later",
            retry_after=retry_after(response.headers.get("Retry-After")),
        )
    if status >= 500 and "xml" not in response.headers.get("Content-Type", "").lower():
        raise TransientError(
            f"{where} answered HTTP {status} without a SOAP fault",
            hint="a server error on the SAP side; retried later",
        )


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def safe_url(url: str) -> str:
    """`url` without user:password@ (never put credentials in a message)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _is_http(url: str) -> bool:
    return urlsplit(url).scheme.lower() in {"http", "https"}


def _local_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return Path(unquote(parts.path))
    return Path(os.path.expanduser(url))


def _reason(exc: BaseException) -> str:
    """The innermost cause, short (requests nests urllib3 errors three deep)."""
    inner: BaseException = exc
    while inner.__context__ is not None and inner.__context__ is not inner:
        inner = inner.__context__
    text = str(inner) or type(inner).__name__
    return text if len(text) <= 200 else text[:197] + "..."
