"""`CustomersStream`: the customer master through BAPI_CUSTOMER_GETLIST and _GETDETAIL2.

Record shape (one per customer, key ``CUSTOMERNO``)::

    {"CUSTOMERNO": "0000100001",
     "CUSTOMERADDRESS": {...},        # BAPICUSTOMER_04
     "CUSTOMERGENERALDETAIL": {...},  # BAPICUSTOMER_KNA1
     "CUSTOMERCOMPANYDETAIL": {...}}  # BAPICUSTOMER_05, for the configured company_code

Values are as SAP sends them: strings (numbers keep their leading zeros, amounts their
decimal text, dates ``YYYY-MM-DD``); an empty field or an initial date
(``0000-00-00``) is null. The structures' fields are read from the WSDL, so a record
carries whatever the customer's SAP release returns. A customer whose detail SAP
refuses (RETURN type E) is emitted as ``{"CUSTOMERNO", "_error"}`` and the hub
quarantines it; the others still arrive.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.helpers.conform import TypeConformanceLevel

from connectors.sap.soap.bapi import record_value
from connectors.sap.soap.client import SoapClient
from connectors.sdk.errors import ConfigError, DataError

__all__ = ["STRUCTURES", "CustomersStream", "customer_numbers", "customers_schema"]

GETLIST = "BAPI_CUSTOMER_GETLIST"
GETDETAIL2 = "BAPI_CUSTOMER_GETDETAIL2"
NO_CUSTOMERS = ("F2", "718")
"""GETLIST's "No customers were found for the selection criteria": the end, not an error."""
STRUCTURES = ("CUSTOMERADDRESS", "CUSTOMERGENERALDETAIL", "CUSTOMERCOMPANYDETAIL")

_TEXT: dict[str, Any] = {"type": ["string", "null"]}


def customers_schema(client: SoapClient) -> dict[str, Any]:
    """The stream's JSON Schema, with the structures' fields as the WSDL defines them."""
    properties: dict[str, Any] = {
        "CUSTOMERNO": {"type": "string", "description": "Customer number (KUNNR)"},
    }
    for structure in STRUCTURES:
        fields = client.output_fields(GETDETAIL2, structure)
        properties[structure] = {
            "type": ["object", "null"],
            "properties": {name: dict(_TEXT) for name in fields},
        }
    properties["_error"] = {
        "type": ["string", "null"],
        "description": "Why SAP refused this customer's detail (the record is quarantined)",
    }
    return {"type": "object", "properties": properties, "required": ["CUSTOMERNO"]}


def customer_numbers(client: SoapClient, max_rows: int) -> Iterator[str]:
    """Every customer number, in pages of `max_rows`.

    GETLIST has no paging of its own: each page asks for the numbers greater than
    the last one seen (IDRANGE ``I GT <last>``), which relies on the BAPI reading
    KNA1 in key order, as it does. A page shorter than `max_rows`, or F2/718
    ("no customers found"), is the end.
    """
    last = ""
    while True:
        result = client.call(
            GETLIST,
            {
                "IDRANGE": [{"SIGN": "I", "OPTION": "GT", "LOW": last, "HIGH": ""}],
                "MAXROWS": max_rows,
                "ADDRESSDATA": [],
            },
            read=True,
        )
        result.raise_for_errors(ignore={NO_CUSTOMERS})
        rows = result.data.get("ADDRESSDATA") or []
        numbers = sorted({str(row["CUSTOMER"]) for row in rows if row.get("CUSTOMER")})
        if not numbers:
            return
        if numbers[0] <= last:
            raise ConfigError(
                f"{GETLIST} ignored the customer number range (asked for numbers after "
                f"{last}, got {numbers[0]}), so it cannot be read page by page",
                field="max_rows",
                hint="set max_rows above the number of customers to read them in one call",
            )
        yield from numbers
        if len(rows) < max_rows:
            return
        last = numbers[-1]


def customer_record(client: SoapClient, number: str, company_code: str | None) -> dict[str, Any]:
    """One customer's record, or ``{"CUSTOMERNO", "_error"}`` when SAP refuses it."""
    params: dict[str, Any] = {"CUSTOMERNO": number}
    if company_code:
        params["COMPANYCODE"] = company_code
    result = client.call(GETDETAIL2, params, read=True)
    try:
        result.raise_for_errors()  # an authorization message raises ConfigError: not caught
    except DataError as error:
        return {"CUSTOMERNO": number, "_error": error.message}
    record: dict[str, Any] = {"CUSTOMERNO": number}
    for structure in STRUCTURES:
        value = record_value(result.data.get(structure))
        record[structure] = value if isinstance(value, dict) else None
    return record


class CustomersStream(Stream):
    """The customer master, read in full on every run.

    These BAPIs expose no change timestamp and no change pointer, so there is
    nothing to resume from: each run lists every customer and reads each one's
    detail (one GETDETAIL2 call per customer), and the stream keeps no state. The
    hub skips records whose content did not change.
    """

    name = "customers"
    # Records hold JSON values only (strings, None, dicts), so singer-sdk's per-record
    # type conformance has nothing to do.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap) -> None:
        with SoapClient(dict(tap.config)) as client:
            schema = customers_schema(client)
        super().__init__(tap, schema=schema, name=self.name)
        self.primary_keys = ["CUSTOMERNO"]

    def get_records(self, context: Any) -> Iterator[dict[str, Any]]:
        with SoapClient(dict(self.config)) as client:
            for number in customer_numbers(client, client.config.max_rows):
                yield customer_record(client, number, client.config.company_code)
