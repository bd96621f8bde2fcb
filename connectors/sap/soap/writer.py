"""`SalesOrderWriter`: create sales orders with BAPI_SALESORDER_CREATEFROMDAT2, once.

Payload (what the hub's outbound mapping makes of a canonical order)::

    {"ORDER_HEADER_IN": {"DOC_TYPE": "TA", "SALES_ORG": "1010", "DISTR_CHAN": "10",
                         "DIVISION": "00", ...},
     "ORDER_PARTNERS":  [{"PARTN_ROLE": "AG", "PARTN_NUMB": "0000100001"}, ...],
     "ORDER_ITEMS_IN":  [{"ITM_NUMBER": "000010", "MATERIAL": "TG11", ...}, ...],
     "ORDER_SCHEDULES_IN": [{"ITM_NUMBER": "000010", "REQ_QTY": "5", ...}, ...]}

Field names are the BAPI structures' (BAPISDHD1, BAPIPARNR, BAPISDITM, BAPISCHDL).

Idempotency: the BAPI has no idempotency key, so the writer puts the request's
`idempotency_key` (32 hex characters) into the customer purchase order number
``PURCH_NO_C`` (CHAR 35) and, before creating, asks BAPI_SALESORDER_GETLIST for the
sold-to party's orders with that purchase order number. Found: the order exists
(a retry of a call whose answer was lost) and is returned with ``created=False``.
The create call itself is never retried here: a timeout may hide an order that was
saved, and only the look-up on the next attempt can tell.

Updates are not supported: CREATEFROMDAT2 only creates, and changing an order means
BAPI_SALESORDER_CHANGE, which this connector does not call. A request with a
`remote_id` returns that id with ``created=False`` and a ``warning`` in `details`,
and nothing is sent to SAP.

The service definition must commit after the call (SOAMANAGER, operation setting
"commit": the WSDL's ``sapcomhnd:enableCommit`` policy is ``true``), otherwise SAP
answers with a number and rolls the order back; `check` warns when it is off.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.sap.soap.bapi import BapiMessage
from connectors.sap.soap.client import SoapClient
from connectors.sap.soap.config import parse_config
from connectors.sdk.errors import DataError
from connectors.sdk.writer import WriteRequest, WriteResult

__all__ = ["SalesOrderWriter", "make_writer"]

CREATE = "BAPI_SALESORDER_CREATEFROMDAT2"
GETLIST = "BAPI_SALESORDER_GETLIST"
SOLD_TO_ROLES = ("AG", "SP")
"""Sold-to party: AG is the internal partner function, SP its English external code."""
TABLES = ("ORDER_PARTNERS", "ORDER_ITEMS_IN", "ORDER_SCHEDULES_IN")
_KEY = re.compile(r"[0-9a-f]{32}")


class SalesOrderWriter:
    """Writes ``sales_order`` objects; see the module docstring for the contract."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = parse_config(config)
        self._client: SoapClient | None = None

    def upsert(self, request: WriteRequest) -> WriteResult:
        if request.object != "sales_order":
            raise DataError(
                f"sap_soap cannot write {request.object!r} objects",
                code="unsupported_object",
                hint="this connector writes sales_order only",
            )
        if request.remote_id:
            return WriteResult(
                remote_id=request.remote_id,
                created=False,
                details={
                    "warning": (
                        f"order {request.remote_id} exists; {CREATE} cannot change it and "
                        "changes are not sent (change it in SAP, or use the sap_odata connector)"
                    )
                },
            )
        key = request.idempotency_key
        if not _KEY.fullmatch(key):
            raise DataError(
                f"idempotency key {key!r} is not 32 lowercase hex characters",
                code="invalid_key",
                hint="the hub passes the canonical record id as uuid.hex",
            )
        extra = sorted(set(request.payload) - {"ORDER_HEADER_IN", *TABLES})
        if extra:
            raise DataError(
                f"payload has parameter(s) {', '.join(extra)} the writer does not send",
                code="invalid_payload",
                hint=f"use ORDER_HEADER_IN and {', '.join(TABLES)}",
            )
        header = self._header(request.payload, key)
        partners = _rows(request.payload, "ORDER_PARTNERS")
        sold_to = _sold_to(partners)
        params: dict[str, Any] = {"ORDER_HEADER_IN": header, "ORDER_PARTNERS": partners}
        for table in TABLES[1:]:
            if table in request.payload:
                params[table] = _rows(request.payload, table)
        client = self._soap()
        existing = self._find(client, sold_to, header["SALES_ORG"], key)
        if existing is not None:
            return existing
        result = client.call(CREATE, params, read=False)
        result.raise_for_errors()
        number = str(result.data.get("SALESDOCUMENT") or "").strip()
        if not number:
            raise DataError(
                f"{CREATE} reported no error but returned no SALESDOCUMENT"
                + _messages_suffix(result.messages),
                code="no_document",
                hint="check the order in SAP (VA05) and the service's commit setting",
            )
        return WriteResult(
            remote_id=number,
            created=True,
            details={"messages": [str(m) for m in result.messages]},
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ---------------------------------------------------------------- internals

    def _soap(self) -> SoapClient:
        if self._client is None:
            self._client = SoapClient(self._config)
        return self._client

    def _header(self, payload: Mapping[str, Any], key: str) -> dict[str, Any]:
        raw = payload.get("ORDER_HEADER_IN")
        if not isinstance(raw, Mapping):
            raise DataError(
                "payload has no ORDER_HEADER_IN structure",
                field="ORDER_HEADER_IN",
                code="invalid_payload",
                hint="the outbound mapping must fill ORDER_HEADER_IN (BAPISDHD1 fields)",
            )
        header = dict(raw)
        header["PURCH_NO_C"] = key
        if not header.get("SALES_ORG"):
            if not self._config.sales_organization:
                raise DataError(
                    "ORDER_HEADER_IN.SALES_ORG is empty and no sales_organization is set",
                    field="ORDER_HEADER_IN.SALES_ORG",
                    code="invalid_payload",
                    hint="map the sales organization, or set the connection's sales_organization",
                )
            header["SALES_ORG"] = self._config.sales_organization
        return header

    def _find(
        self, client: SoapClient, sold_to: str, sales_org: str, key: str
    ) -> WriteResult | None:
        """The order created earlier with this key, if any (a safe, retried read)."""
        result = client.call(
            GETLIST,
            {
                "CUSTOMER_NUMBER": sold_to,
                "SALES_ORGANIZATION": sales_org,
                "PURCHASE_ORDER_NUMBER": key,
                "SALES_ORDERS": [],
            },
            read=True,
        )
        result.raise_for_errors()
        rows = [
            row
            for row in result.data.get("SALES_ORDERS") or []
            if str(row.get("PURCH_NO_C") or "").strip() == key and row.get("SD_DOC")
        ]
        if not rows:
            return None
        numbers = sorted({str(row["SD_DOC"]) for row in rows})
        details: dict[str, Any] = {"found_by": f"PURCH_NO_C {key}"}
        if len(numbers) > 1:
            details["warning"] = f"several orders carry this key: {', '.join(numbers)}"
        return WriteResult(
            remote_id=numbers[0],
            created=False,
            status=str(rows[0].get("DOC_STATUS") or "") or None,
            details=details,
        )


def make_writer(config: Mapping[str, Any]) -> SalesOrderWriter:
    """The connector's `WriterFactory`."""
    return SalesOrderWriter(config)


def _rows(payload: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    value = payload.get(name)
    if value is None:
        return []
    if isinstance(value, Mapping) and set(value) == {"item"}:
        value = value["item"] or []
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise DataError(f"{name} must be a list of rows", field=name, code="invalid_payload")
    rows: list[dict[str, Any]] = []
    for index, row in enumerate(value):
        if not isinstance(row, Mapping):
            raise DataError(
                f"{name}[{index}] is not a structure",
                field=f"{name}[{index}]",
                code="invalid_payload",
            )
        rows.append(dict(row))
    return rows


def _sold_to(partners: list[dict[str, Any]]) -> str:
    for partner in partners:
        if str(partner.get("PARTN_ROLE") or "").upper() in SOLD_TO_ROLES and partner.get(
            "PARTN_NUMB"
        ):
            return str(partner["PARTN_NUMB"]).strip()
    raise DataError(
        "ORDER_PARTNERS has no sold-to party (PARTN_ROLE AG with PARTN_NUMB)",
        field="ORDER_PARTNERS",
        code="invalid_payload",
        hint="the outbound mapping must name the customer as partner AG",
    )


def _messages_suffix(messages: list[BapiMessage]) -> str:
    return f" ({'; '.join(str(m) for m in messages)})" if messages else ""
