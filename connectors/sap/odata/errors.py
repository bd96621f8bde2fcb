"""SAP Gateway answers → the connector error taxonomy (who must act, how to recover).

Gateway errors come as ``{"error": {"code", "message": {"value"}, "innererror":
{"errordetails": [...]}}}`` (JSON when asked for it, XML otherwise). The first
errordetails item of severity "error" is usually the useful one; a trailing
``/IWBEP/CX_MGW_BUSI_EXCEPTION`` item only repeats the headline. Warnings on
successful answers come in the ``sap-message`` header.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree

from connectors.sdk.errors import ConfigError, DataError, TransientError

__all__ = [
    "GatewayError",
    "PreconditionFailed",
    "SapMessage",
    "gateway_error",
    "parse_retry_after",
    "parse_sap_messages",
    "raise_for_response",
    "transport_reason",
]

RETRY_AFTER_CAP = 300.0
"""Longest wait a Retry-After may ask for; longer asks are capped (seconds)."""
_TRANSIENT = frozenset({429, 502, 503, 504})
_M_NS = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"


class PreconditionFailed(TransientError):  # noqa: N818 - the name the writer contract uses
    """412: the entity changed since it was read (stale ETag). Re-read, then write again."""


@dataclass(frozen=True, slots=True)
class SapMessage:
    """One message of the ``sap-message`` header (or one errordetails item)."""

    code: str
    message: str
    severity: str
    target: str = ""
    details: list[SapMessage] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GatewayError:
    """What a Gateway error body says, whatever its format."""

    code: str = ""
    message: str = ""
    details: list[SapMessage] = field(default_factory=list)

    def first_error_detail(self) -> SapMessage | None:
        """The first errordetails item of severity "error" that adds something."""
        for item in self.details:
            if item.severity.lower() == "error" and item.message and item.message != self.message:
                return item
        return None

    def target(self) -> str | None:
        """The property SAP blames (first error detail with a target), without its path."""
        for item in self.details:
            if item.severity.lower() == "error" and item.target:
                return item.target.rstrip("/").rsplit("/", 1)[-1] or None
        return None

    def text(self) -> str:
        """Headline plus the first useful error detail: what SAP wants fixed."""
        detail = self.first_error_detail()
        parts = [p for p in (self.message, detail.message if detail else "") if p]
        text = ": ".join(parts)
        return f"{text} [{self.code}]" if text and self.code else text


def raise_for_response(response: httpx.Response, *, service: str | None = None) -> None:
    """Raise the error a non-2xx Gateway answer means; return quietly on 2xx.

    `service` names the OData service (for messages and the 404 service hint).
    """
    status = response.status_code
    if status < 300:
        return
    error = gateway_error(response)
    what = _what(response, service)
    detail = error.text() or f"HTTP {status} {response.reason_phrase}".strip()
    if status in _TRANSIENT:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise TransientError(
            f"SAP is busy or unavailable ({status}) on {what}: {detail}",
            hint="the sync retries later by itself",
            retry_after=retry_after,
            status=status,
        )
    if status == 412:
        raise PreconditionFailed(
            f"{what} changed in SAP since it was read (412 Precondition Failed)",
            hint="read it again and re-apply the change",
            status=status,
        )
    if status == 401:
        raise ConfigError(
            f"SAP refused the credentials (401) on {what}",
            field="auth",
            hint="check the user name and password (or OAuth client) of the communication user",
            status=status,
        )
    if status == 403:
        raise ConfigError(
            f"the SAP user may not use {what} (403): {detail}",
            field="auth",
            hint="give the communication user the business role / add the service to the "
            "communication arrangement",
            status=status,
        )
    if status == 404 and service_missing(response, error):
        raise ConfigError(
            f"SAP has no OData service at {what} (404)",
            field="service_path",
            hint=f"check base_url and service_path, and that {service or 'the service'} is "
            "activated (/IWFND/MAINT_SERVICE) or its communication arrangement exists",
            status=status,
        )
    if 300 <= status < 400:
        raise ConfigError(
            f"SAP redirected the request for {what} ({status}) instead of answering",
            field="base_url",
            hint="use the API host itself, and a communication user with Basic or OAuth "
            "(a redirect usually means a login page)",
            status=status,
        )
    if status == 428:
        raise DataError(
            f"SAP requires an If-Match ETag to change {what} (428): {detail}",
            code="precondition_required",
            status=status,
        )
    if status in (400, 404, 405, 409, 422) or 400 <= status < 500:
        raise DataError(
            f"SAP rejected the request on {what} ({status}): {detail}",
            field=error.target(),
            code=error.code or f"http_{status}",
            status=status,
        )
    raise TransientError(
        f"SAP failed on {what} ({status}): {detail}",
        hint="a server error in SAP; the sync retries later, see /IWFND/ERROR_LOG if it persists",
        status=status,
    )


def gateway_error(response: httpx.Response) -> GatewayError:
    """Parse a Gateway error body (JSON or XML); empty fields when it is neither."""
    body = response.content[:200_000]
    stripped = body.lstrip()
    if stripped.startswith(b"{"):
        try:
            doc = json.loads(body)
        except ValueError:
            return GatewayError()
        return _error_from_json(doc)
    if stripped.startswith(b"<"):
        return _error_from_xml(body)
    text = body.decode("utf-8", "replace").strip()
    return GatewayError(message=text[:200] if text and len(text) < 500 else "")


def _error_from_json(doc: Any) -> GatewayError:
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return GatewayError()
    message = error.get("message")
    if isinstance(message, dict):
        message = message.get("value")
    inner = error.get("innererror")
    if not isinstance(inner, dict):
        inner = {}
    details = [
        _message_from_json(item)
        for item in (inner.get("errordetails") or [])
        if isinstance(item, dict)
    ]
    return GatewayError(
        code=str(error.get("code") or ""), message=str(message or ""), details=details
    )


def _error_from_xml(body: bytes) -> GatewayError:
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        return GatewayError()  # never let a server's DTD near the parser
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False
    )
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        return GatewayError()
    if etree.QName(root).localname != "error":
        return GatewayError()

    def child(node: Any, name: str) -> str:
        found = node.find(f"{{{_M_NS}}}{name}")
        if found is None:
            found = node.find(name)
        return (found.text or "").strip() if found is not None else ""

    details = [
        SapMessage(
            code=child(item, "code"),
            message=child(item, "message"),
            severity=child(item, "severity"),
            target=child(item, "target"),
        )
        for item in root.iter(f"{{{_M_NS}}}errordetail", "errordetail")
    ]
    return GatewayError(code=child(root, "code"), message=child(root, "message"), details=details)


def _message_from_json(item: Mapping[str, Any]) -> SapMessage:
    message = item.get("message")
    if isinstance(message, dict):
        message = message.get("value")
    return SapMessage(
        code=str(item.get("code") or ""),
        message=str(message or ""),
        severity=str(item.get("severity") or ""),
        target=str(item.get("target") or ""),
        details=[_message_from_json(d) for d in item.get("details") or [] if isinstance(d, dict)],
    )


def parse_sap_messages(header: str | None) -> list[SapMessage]:
    """The ``sap-message`` header (JSON: code, message, severity, details[]) as a list."""
    if not header:
        return []
    try:
        doc = json.loads(header)
    except ValueError:
        return [SapMessage(code="", message=header[:500], severity="info")]
    if isinstance(doc, list):
        return [_message_from_json(d) for d in doc if isinstance(d, dict)]
    if not isinstance(doc, dict):
        return []
    return [_message_from_json(doc)]


def parse_retry_after(value: str | None, *, cap: float = RETRY_AFTER_CAP) -> float | None:
    """Retry-After as seconds (delta or HTTP date), capped at `cap`; None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), cap)


def _what(response: httpx.Response, service: str | None) -> str:
    try:
        path = response.request.url.path
    except RuntimeError:
        return service or "the SAP service"
    if service and f"/{service}/" in path:
        rest = path.split(f"/{service}/", 1)[1]
        return f"{service}/{rest}" if rest else service
    return path or (service or "the SAP service")


def service_missing(response: httpx.Response, error: GatewayError) -> bool:
    """A 404 for the whole service (not one entity): no OData error, /IWFND/ codes, root."""
    if error.code.upper().startswith("/IWFND/"):
        return True
    try:
        path = response.request.url.path
    except RuntimeError:
        path = ""
    if path.endswith(("/$metadata", "/")):
        return True
    return not error.code and not error.details


def transport_reason(exc: BaseException) -> str:
    """The OS-level reason of a transport error, short (no URL, no credentials in it)."""
    text = str(exc) or type(exc).__name__
    return text[:200]
