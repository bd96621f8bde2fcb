"""SAP Gateway error bodies (`{"error": {code, message{lang,value}, innererror{…}}}`).

Shape as in the real `$batch` error part shipped in tests/fixtures (innererror with
application, transactionid, timestamp, Error_Resolution, errordetails). Message codes are
the Gateway runtime's where we know them (/IWBEP/CM_MGW_RT/190 "state of the resource was
already changed", /194 "precondition required"); others are plausible stand-ins.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from lxml import etree

_M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"

NOT_FOUND = "/IWBEP/CM_MGW_RT/020"
BAD_QUERY = "/IWBEP/CM_MGW_RT/022"
CHANGED = "/IWBEP/CM_MGW_RT/190"
PRECONDITION_REQUIRED = "/IWBEP/CM_MGW_RT/194"
NO_SERVICE = "/IWFND/MED/170"
NOT_ALLOWED = "/IWBEP/CM_MGW_RT/021"
BUSINESS = "/IWBEP/CX_MGW_BUSI_EXCEPTION"


class GatewayError(Exception):
    """An error answer: status, SAP message code, text and optional error details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}


def detail(code: str, message: str, *, target: str = "", severity: str = "error") -> dict[str, str]:
    return {
        "code": code,
        "message": message,
        "propertyref": "",
        "severity": severity,
        "target": target,
    }


def _inner(error: GatewayError, service: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    details = list(error.details)
    if error.status in (400, 422) and error.code != BUSINESS:
        details.append(detail(BUSINESS, error.message))
    return {
        "application": {
            "component_id": "",
            "service_namespace": "/SAP/",
            "service_id": service,
            "service_version": "0001",
        },
        "transactionid": uuid.uuid4().hex.upper(),
        "timestamp": now.strftime("%Y%m%d%H%M%S.") + f"{now.microsecond:06d}0",
        "Error_Resolution": {
            "SAP_Transaction": 'For backend administrators: use ADT feed reader "SAP Gateway '
            'Error Log" or run transaction /IWFND/ERROR_LOG on SAP Gateway '
            "hub system and search for entries with the timestamp above "
            "for more details",
            "SAP_Note": "See SAP Note 1797736 for error analysis "
            "(https://service.sap.com/sap/support/notes/1797736)",
        },
        "errordetails": details,
    }


def error_json(error: GatewayError, service: str, lang: str = "en") -> bytes:
    body = {
        "error": {
            "code": error.code,
            "message": {"lang": lang, "value": error.message},
            "innererror": _inner(error, service),
        }
    }
    return orjson.dumps(body)


def error_xml(error: GatewayError, service: str, lang: str = "en") -> bytes:
    root = etree.Element(f"{{{_M}}}error", nsmap={None: _M})
    etree.SubElement(root, f"{{{_M}}}code").text = error.code
    message = etree.SubElement(root, f"{{{_M}}}message")
    message.set("{http://www.w3.org/XML/1998/namespace}lang", lang)
    message.text = error.message
    inner = etree.SubElement(root, f"{{{_M}}}innererror")
    data = _inner(error, service)
    etree.SubElement(inner, f"{{{_M}}}transactionid").text = data["transactionid"]
    etree.SubElement(inner, f"{{{_M}}}timestamp").text = data["timestamp"]
    details = etree.SubElement(inner, f"{{{_M}}}errordetails")
    for item in data["errordetails"]:
        node = etree.SubElement(details, f"{{{_M}}}errordetail")
        for name in ("code", "message", "propertyref", "severity", "target"):
            etree.SubElement(node, f"{{{_M}}}{name}").text = item[name]
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
