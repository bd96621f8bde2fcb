"""The HTTP transport to S/4HANA OData V2 services: auth, session, CSRF, retries, paging.

Reads are retried (tenacity) on 429/502/503/504, timeouts and lost connections.
Writes are not retried once they may have reached SAP: a timed-out POST may have
created the order, so the caller (the writer) looks it up before trying again.
Only "the server did nothing" answers (429/503, or a connection never opened)
are retried for writes.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote, urljoin

import httpx
import orjson
import tenacity

from connectors.sap.odata.config import ODataSettings
from connectors.sap.odata.errors import (
    SapMessage,
    gateway_error,
    parse_retry_after,
    parse_sap_messages,
    raise_for_response,
    service_missing,
    transport_reason,
)
from connectors.sap.odata.oauth import ClientCredentials
from connectors.sap.odata.values import key_predicate
from connectors.sdk.errors import ConfigError, TransientError
from connectors.sdk.network import http_transport

__all__ = ["ODataClient", "ODataResponse", "SapMessage"]

log = logging.getLogger("connectors.sap.odata")

_RETRY_STATUS_READ = frozenset({429, 502, 503, 504})
_RETRY_STATUS_WRITE = frozenset({429, 503})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Failures before the request left: safe to retry even for a POST."""
_QUERY_SAFE = "$'(),:/*@!;-._~"
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 30.0


@dataclass(frozen=True, slots=True)
class ODataResponse:
    """One answer: `data` is the content of ``d`` (None for 204), `etag` when SAP sent one."""

    status: int
    data: dict[str, Any] | None
    etag: str | None
    headers: Mapping[str, str]
    messages: list[SapMessage] = field(default_factory=list)


class _RetryableError(Exception):
    """A retryable answer; carries the response so the wait can honour Retry-After."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class ODataClient:
    """A session with one SAP system (one base_url, one user). Not thread-safe."""

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = ODataSettings.from_config(config)
        self._sleep = sleep
        self._origin = _origin(httpx.URL(self.settings.base_url))
        auth: httpx.Auth | None = None
        if self.settings.auth_type == "basic":
            auth = httpx.BasicAuth(
                str(self.settings.auth["username"]), str(self.settings.auth["password"])
            )
        self._http = httpx.Client(
            auth=auth,
            headers={"Accept": "application/json"},
            timeout=httpx.Timeout(self.settings.timeout_seconds),
            verify=self.settings.verify_tls,
            follow_redirects=False,
            # the hub's vetted, address-pinned transport when it runs us (sdk/network.py)
            transport=transport or http_transport(verify_tls=self.settings.verify_tls),
        )
        self._oauth = (
            ClientCredentials(self._http, self.settings.auth)
            if self.settings.auth_type == "oauth2_client_credentials"
            else None
        )
        self._csrf: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ODataClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ reads

    def service_url(self, service: str) -> str:
        """``<base_url><service_path>/<SERVICE>/`` (always with the trailing slash)."""
        return f"{self.settings.base_url}{self.settings.service_path}/{service.strip('/')}/"

    def metadata(self, service: str) -> bytes:
        """The service's EDMX ($metadata)."""
        response = self._read(
            "GET", self.service_url(service) + "$metadata", None, service, accept="application/xml"
        )
        raise_for_response(response, service=service)
        return response.content

    def get(
        self, service: str, path: str, params: Mapping[str, str] | None = None
    ) -> ODataResponse:
        """GET ``<service root><path>``; non-2xx raises (see errors.raise_for_response)."""
        response = self._read("GET", self.service_url(service) + path.lstrip("/"), params, service)
        raise_for_response(response, service=service)
        return _to_response(response)

    def iter_pages(
        self,
        service: str,
        entity_set: str,
        params: Mapping[str, str],
        *,
        page_size: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Raw entities page by page, following ``d.__next`` verbatim (same origin only).

        With `page_size`, pages are also requested with ``$top``/``$skip`` (the
        server's own __next is followed inside each window): a service that does
        not page by itself would otherwise return everything in one answer.
        """
        skip = 0
        while True:
            query = dict(params)
            if page_size:
                query["$top"] = str(page_size)
                if skip:
                    query["$skip"] = str(skip)
            url: str | None = self.service_url(service) + entity_set
            count = 0
            while url is not None:
                response = self._read("GET", url, query, service)
                raise_for_response(response, service=service)
                data = _d(response)
                rows = data.get("results") if isinstance(data, dict) else None
                if not isinstance(rows, list):
                    raise TransientError(
                        f"SAP answered {service}/{entity_set} without a result list",
                        hint="the service did not return OData V2 JSON; check service_path",
                    )
                count += len(rows)
                yield rows
                url = self._next_url(response, data.get("__next"))
                query = {}
            if not page_size or count < page_size:
                return
            skip += page_size

    def read_entity(
        self,
        service: str,
        entity_set: str,
        key: Mapping[str, str],
        *,
        expand: Sequence[str] = (),
    ) -> tuple[dict[str, Any], str | None] | None:
        """The raw entity and its ETag, or None when SAP has no such entity (404)."""
        params = {"$expand": ",".join(expand)} if expand else None
        url = self.service_url(service) + entity_set + key_predicate(key)
        response = self._read("GET", url, params, service)
        if response.status_code == 404 and not service_missing(response, gateway_error(response)):
            return None  # the entity is gone (a missing service is a settings error below)
        raise_for_response(response, service=service)
        result = _to_response(response)
        if result.data is None:
            return None
        return result.data, result.etag

    def find(
        self,
        service: str,
        entity_set: str,
        filter: str,
        *,
        top: int = 2,
        expand: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Raw entities matching an OData $filter (at most `top`)."""
        params = {"$filter": filter, "$top": str(top)}
        if expand:
            params["$expand"] = ",".join(expand)
        response = self._read("GET", self.service_url(service) + entity_set, params, service)
        raise_for_response(response, service=service)
        data = _d(response)
        rows = data.get("results") if isinstance(data, dict) else None
        return list(rows) if isinstance(rows, list) else []

    # ------------------------------------------------------------------ writes

    def create(self, service: str, entity_set: str, body: Mapping[str, Any]) -> ODataResponse:
        """POST a (deep) entity; CSRF handled. A lost answer raises TransientError unretried."""
        url = self.service_url(service) + entity_set
        return self._write("POST", service, url, body, {})

    def patch(
        self,
        service: str,
        entity_set: str,
        key: Mapping[str, str],
        body: Mapping[str, Any],
        *,
        if_match: str,
    ) -> ODataResponse:
        """PATCH changed properties with ``If-Match``; 412 raises PreconditionFailed."""
        url = self.service_url(service) + entity_set + key_predicate(key)
        return self._write("PATCH", service, url, body, {"If-Match": if_match})

    def _write(
        self,
        method: str,
        service: str,
        url: str,
        body: Mapping[str, Any],
        headers: dict[str, str],
    ) -> ODataResponse:
        for attempt in range(2):
            token = self._csrf_token(service, refresh=attempt > 0)
            send_headers = {**headers, "Content-Type": "application/json"}
            if token:
                send_headers["X-CSRF-Token"] = token
            response = self._send(
                method, url, None, service, headers=send_headers, json=dict(body), write=True
            )
            csrf_refused = (
                response.status_code == 403
                and response.headers.get("x-csrf-token", "").lower() == "required"
            )
            if not csrf_refused:
                break
            log.info("SAP refused the CSRF token for %s; fetching a new one", service)
        else:
            raise ConfigError(
                "SAP refused a freshly fetched CSRF token twice",
                field="base_url",
                hint="the session cookies are lost between requests: enable sticky sessions "
                "on the load balancer in front of SAP, or connect to one application server",
            )
        raise_for_response(response, service=service)
        return _to_response(response)

    def _csrf_token(self, service: str, *, refresh: bool) -> str | None:
        """Fetch (HEAD on the service root, GET if HEAD is not allowed) and cache per service."""
        if not refresh and service in self._csrf:
            return self._csrf[service]
        url = self.service_url(service)
        headers = {"X-CSRF-Token": "Fetch"}
        response = self._read("HEAD", url, None, service, headers=headers)
        if response.status_code in (405, 501):
            response = self._read("GET", url, None, service, headers=headers)
        if response.status_code >= 300:
            raise_for_response(response, service=service)
        token: str | None = response.headers.get("x-csrf-token")
        if not token or token.lower() == "required":
            return None  # the service does not ask for one
        self._csrf[service] = token
        return token

    # ------------------------------------------------------------------ transport

    def _read(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        service: str,
        *,
        headers: Mapping[str, str] | None = None,
        accept: str | None = None,
    ) -> httpx.Response:
        merged = dict(headers or {})
        if accept:
            merged["Accept"] = accept
        return self._send(method, url, params, service, headers=merged, write=False)

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        service: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        write: bool,
    ) -> httpx.Response:
        """One logical request with retries; returns the final response (any status)."""
        retry_status = _RETRY_STATUS_WRITE if write else _RETRY_STATUS_READ
        retry_errors: tuple[type[BaseException], ...] = (
            _NOT_SENT if write else (httpx.TimeoutException, httpx.TransportError)
        )
        full_url = self._with_session_params(url, params)
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.settings.max_retries + 1),
            wait=_wait,
            retry=tenacity.retry_if_exception_type((_RetryableError, *retry_errors)),
            sleep=self._sleep,
            reraise=True,
            before_sleep=_log_retry,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._send_once(method, full_url, headers, json)
                    if response.status_code in retry_status:
                        raise _RetryableError(response)
                    return response
        except _RetryableError as exc:
            return exc.response
        except httpx.TimeoutException as exc:
            raise TransientError(
                f"SAP did not answer {method} {_short(full_url, service)} within "
                f"{self.settings.timeout_seconds:g} s",
                hint="the sync retries later; raise timeout_seconds or lower page_size if "
                "it persists",
                reason="timeout",
                sent=write and not isinstance(exc, _NOT_SENT),
            ) from exc
        except httpx.TransportError as exc:
            tls = _tls_problem(exc)
            if tls:
                raise ConfigError(
                    f"TLS handshake with {self._origin_text()} failed: {tls}",
                    field="verify_tls",
                    hint="install the CA certificate of the SAP host, or turn verify_tls off "
                    "for a test system",
                ) from exc
            raise TransientError(
                f"cannot reach SAP at {self._origin_text()}: {transport_reason(exc)}",
                hint="check base_url and that the host is reachable from the hub",
                reason="connect" if isinstance(exc, _NOT_SENT) else "connection_lost",
                sent=write and not isinstance(exc, _NOT_SENT),
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover - tenacity always returns/raises

    def _send_once(
        self, method: str, url: httpx.URL, headers: Mapping[str, str], json: Any
    ) -> httpx.Response:
        log.debug("%s %s", method, url.copy_with(query=None))
        headers = dict(headers)
        if self._oauth is not None:
            headers["Authorization"] = f"Bearer {self._oauth.token()}"
        response = self._http.request(method, url, headers=headers, json=json)
        if response.status_code == 401 and self._oauth is not None:
            response.close()
            headers["Authorization"] = f"Bearer {self._oauth.token(refresh=True)}"
            response = self._http.request(method, url, headers=headers, json=json)
        return response

    def _with_session_params(self, url: str, params: Mapping[str, str] | None) -> httpx.URL:
        """Add the caller's params, then sap-client/sap-language unless the URL has them.

        Values are percent-encoded with %20 for spaces (a ``+`` would be a literal plus
        in an OData filter such as ``datetimeoffset'…+01:00'``).
        """
        query = dict(params or {})
        present = httpx.URL(url).params
        if self.settings.sap_client and "sap-client" not in present:
            query["sap-client"] = self.settings.sap_client
        if self.settings.language and "sap-language" not in present:
            query["sap-language"] = self.settings.language
        if not query:
            return httpx.URL(url)
        encoded = "&".join(
            f"{quote(name, safe='$-')}={quote(value, safe=_QUERY_SAFE)}"
            for name, value in query.items()
        )
        return httpx.URL(url + ("&" if "?" in url else "?") + encoded)

    def _next_url(self, response: httpx.Response, next_link: Any) -> str | None:
        """The server's next-page link, refused when it points at another origin."""
        if not next_link:
            return None
        absolute = urljoin(str(response.request.url), str(next_link))
        if _origin(httpx.URL(absolute)) != self._origin:
            raise ConfigError(
                "SAP's next-page link points to another host "
                f"({httpx.URL(absolute).host}); refusing to send credentials there",
                field="base_url",
                hint="set base_url to the host the service itself uses in its links",
            )
        return absolute

    def _origin_text(self) -> str:
        scheme, host, port = self._origin
        return f"{scheme}://{host}:{port}"


# ---------------------------------------------------------------------- helpers


_BACKOFF = tenacity.wait_exponential_jitter(multiplier=BACKOFF_INITIAL, max=BACKOFF_MAX)


def _wait(state: tenacity.RetryCallState) -> float:
    """Retry-After when SAP sent one (capped), else exponential backoff with jitter."""
    outcome = state.outcome
    exc = outcome.exception() if outcome is not None else None
    if isinstance(exc, _RetryableError):
        asked = parse_retry_after(exc.response.headers.get("Retry-After"))
        if asked is not None:
            return asked
    return _BACKOFF(state)


def _log_retry(state: tenacity.RetryCallState) -> None:
    outcome = state.outcome
    exc = outcome.exception() if outcome is not None else None
    what = (
        f"HTTP {exc.response.status_code}"
        if isinstance(exc, _RetryableError)
        else type(exc).__name__
    )
    log.warning("SAP request failed (%s); retry %d", what, state.attempt_number)


def _d(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        doc = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise TransientError(
            f"SAP answered {response.request.url.path} with a body that is not JSON",
            hint="the service may be down or a proxy answered; check base_url/service_path",
        ) from exc
    return doc.get("d") if isinstance(doc, dict) else None


def _to_response(response: httpx.Response) -> ODataResponse:
    data = _d(response) if response.status_code != 204 else None
    etag = response.headers.get("ETag")
    if etag is None and isinstance(data, dict):
        meta = data.get("__metadata")
        if isinstance(meta, dict) and meta.get("etag"):
            etag = str(meta["etag"])
    return ODataResponse(
        status=response.status_code,
        data=data if isinstance(data, dict) else None,
        etag=etag,
        headers=dict(response.headers),
        messages=parse_sap_messages(response.headers.get("sap-message")),
    )


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    default = 443 if url.scheme == "https" else 80
    return url.scheme, url.host.lower(), url.port or default


def _short(url: httpx.URL, service: str) -> str:
    path = url.path
    return path.split(f"/{service}/", 1)[-1] or service


def _tls_problem(exc: BaseException) -> str | None:
    """The certificate/handshake reason when a connect error is a TLS failure."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return getattr(seen, "reason", None) or str(seen)[:200]
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        return text[:200]
    return None
