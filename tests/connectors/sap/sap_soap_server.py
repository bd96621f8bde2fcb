"""A small SAP-like SOAP service on 127.0.0.1 for the `sap_soap` tests.

`SoapServer` serves tests/fixtures/sap/soap/zl2c_bapi.wsdl (its soap:address
rewritten to itself) and answers the four BAPIs from in-memory data, as an SAP
system's SOAP runtime would: HTTP Basic logon, structures with every field, empty
dates as ``0000-00-00``, table parameters returned only when the request carried
them, business errors as RETURN rows with HTTP 200, faults with HTTP 500.

Tests tell it to misbehave with `inject` (a SOAP fault, an E row, a 503 with
Retry-After, a dropped connection, a slow answer, a hostile document) and read
`requests` (count per path) and `calls` (count per operation).

`ConnectionCounter` is a second listener that only counts the connections it
accepts: hostile documents point at it, and the tests assert it saw none.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

WSDL_FIXTURE = Path(__file__).parents[2] / "fixtures" / "sap" / "soap" / "zl2c_bapi.wsdl"
WSDL_PATH = "/sap/bc/srt/wsdl/bndg_ZL2C_BAPI/wsdl11/allinone/ws_policy/document"
ENDPOINT_PATH = "/sap/bc/srt/rfc/sap/zl2c_bapi/100/zl2c_bapi/zl2c_bapi_binding"
PLACEHOLDER_ORIGIN = "http://sap.example.invalid:8000"
RFC_NS = "urn:sap-com:document:sap:rfc:functions"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
USERNAME = "L2C_SOAP"
PASSWORD = "Sap-S0ap-Pa55"
SALES_ORGS = frozenset({"1010", "1710"})
INITIAL_DATE = "0000-00-00"

_SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _structures() -> dict[str, list[tuple[str, str]]]:
    """(field name, type name) of every structure in the fixture WSDL, in order."""
    tree = etree.parse(str(WSDL_FIXTURE), _SAFE)
    xsd = "{http://www.w3.org/2001/XMLSchema}"
    found: dict[str, list[tuple[str, str]]] = {}
    for node in tree.iter(f"{xsd}complexType"):
        name = node.get("name")
        if name:
            found[name] = [
                (str(el.get("name")), str(el.get("type")).split(":")[-1])
                for el in node.iter(f"{xsd}element")
            ]
    return found


STRUCTURES = _structures()


@dataclass
class Injection:
    """One misbehaviour, used up by the next matching request."""

    kind: str
    operation: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Customer:
    number: str
    address: dict[str, str]
    general: dict[str, str]
    company: dict[str, str]


def sample_customers(count: int) -> dict[str, Customer]:
    """`count` numbered customers plus one with an alphanumeric (external) number."""
    cities = [("上海", "200000", "13"), ("北京", "100000", "11"), ("深圳", "518000", "44")]
    customers: dict[str, Customer] = {}
    numbers = [f"{100000 + i:010d}" for i in range(1, count + 1)] + ["CN-EXT-001"]
    for index, number in enumerate(numbers):
        city, postcode, region = cities[index % len(cities)]
        name = (
            f"示例贸易{index + 1}号有限公司"
            if index % 2 == 0
            else f"Example Trading {index + 1} Ltd"
        )
        customers[number] = Customer(
            number=number,
            address={
                "CUSTOMER": number,
                "NAME": name,
                "NAME_2": "" if index % 3 else "销售部",
                "CITY": city,
                "POSTL_CODE": postcode,
                "STREET": f"{index + 1} Example Road",
                "COUNTRY": "CN",
                "COUNTRYISO": "CN",
                "REGION": region,
                "LANGU": "1",
                "LANGU_ISO": "ZH",
                "TELEPHONE": f"021-5555{index:04d}",
                "E_MAIL": f"buyer{index + 1}@example.cn" if index % 4 else "",
                "CURRENCY": "CNY",
            },
            general={
                "ACCNT_GRP": "KUNA",
                "INDUSTRY": "TRAD",
                "CREAT_DATE": INITIAL_DATE if index == 1 else f"2023-{(index % 12) + 1:02d}-15",
                "ENTERED_BY": "MIGRATION",
                "VAT_REG_NO": f"91310000MA1K{index:06d}",
            },
            company={
                "CONTROL_ACCOUNT": "0012100000",
                "PMNTTRMS": "0001",
                "CREDIT_LIMIT": f"{(index + 1) * 10000}.00",
                "CREAT_DATE": "2023-01-02",
                "ENTERED_BY": "MIGRATION",
            },
        )
    return customers


class SoapServer:
    """The fake service; a context manager that runs it in a thread."""

    def __init__(self, *, customers: int = 25) -> None:
        self.customers = sample_customers(customers)
        self.orders: dict[str, dict[str, Any]] = {}
        self.requests: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.bodies: list[bytes] = []
        self._injections: deque[Injection] = deque()
        self._lock = threading.Lock()
        self._next_order = 4711
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def wsdl_url(self) -> str:
        return f"{self.base_url}{WSDL_PATH}?sap-client=100"

    @property
    def endpoint_url(self) -> str:
        return f"{self.base_url}{ENDPOINT_PATH}"

    def start(self) -> SoapServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SoapServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def config(self, **overrides: Any) -> dict[str, Any]:
        """A connector config for this server."""
        return {
            "wsdl": self.wsdl_url,
            "username": USERNAME,
            "password": PASSWORD,
            "sap_client": "100",
            "company_code": "1010",
            "sales_organization": "1010",
            "timeout_seconds": 5,
            "max_retries": 2,
            **overrides,
        }

    # ------------------------------------------------------------- control

    def inject(self, kind: str, operation: str | None = None, **options: Any) -> None:
        """Misbehave once on the next request (for `operation`, if given).

        Kinds: ``fault_client``, ``fault_server``, ``fault_logon``, ``return_error``
        (options type/id/number/message), ``http_503`` (retry_after), ``http_500_html``,
        ``drop`` (do the work, then close the connection without answering), ``drop_before``,
        ``delay`` (seconds), ``hostile_xxe`` (url), ``hostile_billion``.
        """
        with self._lock:
            self._injections.append(Injection(kind, operation, dict(options)))

    def reset_counts(self) -> None:
        self.requests.clear()
        self.calls.clear()

    def _take(self, operation: str | None) -> Injection | None:
        with self._lock:
            for injection in list(self._injections):
                if injection.operation in (None, operation):
                    self._injections.remove(injection)
                    return injection
        return None

    # ------------------------------------------------------------- BAPIs

    def handle_call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """The response parameters of one BAPI call."""
        handler: Callable[[dict[str, Any]], dict[str, Any]] = {
            "BAPI_CUSTOMER_GETLIST": self._getlist,
            "BAPI_CUSTOMER_GETDETAIL2": self._getdetail2,
            "BAPI_SALESORDER_CREATEFROMDAT2": self._create_order,
            "BAPI_SALESORDER_GETLIST": self._orders_getlist,
        }[operation]
        return handler(params)

    def _getlist(self, params: dict[str, Any]) -> dict[str, Any]:
        ranges = params.get("IDRANGE") or []
        maxrows = int(params.get("MAXROWS") or 0)
        numbers = sorted(n for n in self.customers if _in_ranges(n, ranges))
        if maxrows:
            numbers = numbers[:maxrows]
        out: dict[str, Any] = {"IDRANGE": ("BAPICUSTOMER_IDRANGE", ranges)}
        if "ADDRESSDATA" in params:
            rows = [self._address_row(self.customers[n]) for n in numbers]
            out["ADDRESSDATA"] = ("BAPICUSTOMER_ADDRESSDATA", rows)
        if "SPECIALDATA" in params:
            rows = [{"CUSTOMER": n, "ACC_1_TIME": ""} for n in numbers]
            out["SPECIALDATA"] = ("BAPICUSTOMER_SPECIALDATA", rows)
        ret: dict[str, str] = {}
        if not numbers:
            ret = _ret("E", "F2", "718", "No customers were found for the selection criteria")
        out["RETURN"] = ("BAPIRETURN1", ret)
        return out

    def _getdetail2(self, params: dict[str, Any]) -> dict[str, Any]:
        number = _alpha(str(params.get("CUSTOMERNO") or ""))
        company_code = str(params.get("COMPANYCODE") or "")
        customer = self.customers.get(number)
        out: dict[str, Any] = {}
        if customer is None:
            ret = _ret("E", "F2", "504", f"Customer {number} does not exist")
            address: dict[str, str] = {}
            general: dict[str, str] = {}
            company: dict[str, str] = {}
        else:
            ret = {}
            address, general = customer.address, customer.general
            company = {"COMP_CODE": company_code, **customer.company} if company_code else {}
        out["CUSTOMERADDRESS"] = ("BAPICUSTOMER_04", address)
        if "CUSTOMERBANKDETAIL" in params:
            out["CUSTOMERBANKDETAIL"] = ("BAPICUSTOMER_02", [])
        out["CUSTOMERCOMPANYDETAIL"] = ("BAPICUSTOMER_05", company)
        out["CUSTOMERGENERALDETAIL"] = ("BAPICUSTOMER_KNA1", general)
        out["RETURN"] = ("BAPIRET1", ret)
        return out

    def _create_order(self, params: dict[str, Any]) -> dict[str, Any]:
        header = params.get("ORDER_HEADER_IN") or {}
        partners = params.get("ORDER_PARTNERS") or []
        items = params.get("ORDER_ITEMS_IN") or []
        returns: list[dict[str, str]] = []
        sold_to = next(
            (_alpha(p.get("PARTN_NUMB", "")) for p in partners if p.get("PARTN_ROLE") == "AG"),
            "",
        )
        if not header.get("DOC_TYPE"):
            returns.append(_ret("E", "V1", "382", "Enter the sales document type"))
        if header.get("SALES_ORG") not in SALES_ORGS:
            org = header.get("SALES_ORG", "")
            returns.append(_ret("E", "V1", "317", f"Sales organization {org} is not defined"))
        if not sold_to:
            returns.append(_ret("E", "VP", "112", "Please enter sold-to party or ship-to party"))
        elif sold_to not in self.customers:
            returns.append(_ret("E", "V1", "390", f"Sold-to party {sold_to} does not exist"))
        if not items:
            returns.append(_ret("E", "V1", "766", "No item data could be determined"))
        number = ""
        if any(r["TYPE"] in {"E", "A"} for r in returns):
            returns.append(_ret("E", "V4", "219", "Sales document was not changed"))
        else:
            with self._lock:
                number = f"{self._next_order:010d}"
                self._next_order += 1
                self.orders[number] = {
                    "SD_DOC": number,
                    "SOLD_TO": sold_to,
                    "SALES_ORG": header["SALES_ORG"],
                    "DISTR_CHAN": header.get("DISTR_CHAN", ""),
                    "DIVISION": header.get("DIVISION", ""),
                    "DOC_TYPE": header["DOC_TYPE"],
                    "PURCH_NO_C": header.get("PURCH_NO_C", ""),
                    "items": items,
                }
            returns.append(
                _ret("S", "V4", "233", "SALES_HEADER_IN has been processed successfully")
            )
            returns.append(_ret("S", "V1", "311", f"Standard Order {int(number)} has been saved"))
        out: dict[str, Any] = {
            "ORDER_PARTNERS": ("BAPIPARNR", partners),
            "SALESDOCUMENT": ("char10", number),
        }
        if "ORDER_ITEMS_IN" in params:
            out["ORDER_ITEMS_IN"] = ("BAPISDITM", items)
        if "RETURN" in params:
            out["RETURN"] = ("BAPIRET2", returns)
        return out

    def _orders_getlist(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = _alpha(str(params.get("CUSTOMER_NUMBER") or ""))
        org = str(params.get("SALES_ORGANIZATION") or "")
        purchase_order = str(params.get("PURCHASE_ORDER_NUMBER") or "")
        rows: list[dict[str, str]] = []
        for order in self.orders.values():
            if order["SOLD_TO"] != customer or order["SALES_ORG"] != org:
                continue
            if purchase_order and order["PURCH_NO_C"] != purchase_order:
                continue
            for item in order["items"] or [{}]:
                rows.append(
                    {
                        "SD_DOC": order["SD_DOC"],
                        "ITM_NUMBER": str(item.get("ITM_NUMBER", "")),
                        "MATERIAL": str(item.get("MATERIAL", "")),
                        "DOC_TYPE": order["DOC_TYPE"],
                        "DOC_DATE": "2024-05-02",
                        "SOLD_TO": order["SOLD_TO"],
                        "SALES_ORG": order["SALES_ORG"],
                        "DOC_STATUS": "Open",
                        "PURCH_NO_C": order["PURCH_NO_C"],
                        "NET_VAL_HD": "0.00",
                        "CURRENCY": "CNY",
                    }
                )
        out: dict[str, Any] = {"RETURN": ("BAPIRETURN", {})}
        if "SALES_ORDERS" in params:
            out["SALES_ORDERS"] = ("BAPIORDERS", rows)
        return out

    @staticmethod
    def _address_row(customer: Customer) -> dict[str, str]:
        address = customer.address
        return {
            "CUSTOMER": customer.number,
            "NAME": address["NAME"],
            "CITY": address["CITY"],
            "POSTL_COD1": address["POSTL_CODE"],
            "STREET": address["STREET"],
            "COUNTRY": address["COUNTRY"],
            "COUNTRYISO": address["COUNTRYISO"],
            "REGION": address["REGION"],
            "TEL1_NUMBR": address["TELEPHONE"],
            "LANGU_ISO": address["LANGU_ISO"],
        }


# ------------------------------------------------------------------ XML helpers


def _ret(kind: str, ident: str, number: str, message: str) -> dict[str, str]:
    return {"TYPE": kind, "ID": ident, "NUMBER": number, "MESSAGE": message}


def _alpha(number: str) -> str:
    """SAP's ALPHA conversion: purely numeric customer numbers are zero-padded to 10."""
    return number.zfill(10) if number.isdigit() else number


def _in_ranges(number: str, ranges: list[dict[str, str]]) -> bool:
    def hit(row: dict[str, str]) -> bool:
        option, low, high = row.get("OPTION", "EQ"), row.get("LOW", ""), row.get("HIGH", "")
        low = _alpha(low) if low else low
        tests: dict[str, Callable[[], bool]] = {
            "EQ": lambda: number == low,
            "NE": lambda: number != low,
            "GT": lambda: number > low,
            "GE": lambda: number >= low,
            "LT": lambda: number < low,
            "LE": lambda: number <= low,
            "BT": lambda: low <= number <= _alpha(high),
            "CP": lambda: low in ("*", "") or number.startswith(low.rstrip("*")),
        }
        return tests.get(option, lambda: False)()

    included = [r for r in ranges if r.get("SIGN", "I") == "I"]
    excluded = [r for r in ranges if r.get("SIGN") == "E"]
    return (not included or any(hit(r) for r in included)) and not any(hit(r) for r in excluded)


def parse_params(operation_element: etree._Element) -> dict[str, Any]:
    """Request parameters: text, a structure (dict) or a table (list of dicts)."""
    params: dict[str, Any] = {}
    for child in operation_element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        items = [c for c in child if isinstance(c.tag, str)]
        if not items:
            params[name] = [] if name in _TABLE_PARAMS else (child.text or "")
        elif all(etree.QName(c).localname == "item" for c in items):
            params[name] = [{etree.QName(f).localname: f.text or "" for f in c} for c in items]
        else:
            params[name] = {etree.QName(f).localname: f.text or "" for f in items}
    return params


_TABLE_PARAMS = frozenset(
    {
        "ADDRESSDATA",
        "SPECIALDATA",
        "IDRANGE",
        "CUSTOMERBANKDETAIL",
        "ORDER_ITEMS_IN",
        "ORDER_PARTNERS",
        "ORDER_SCHEDULES_IN",
        "RETURN",
        "SALES_ORDERS",
    }
)


def response_envelope(operation: str, params: dict[str, Any]) -> bytes:
    """A response envelope; each parameter is (structure or simple type, value)."""
    nsmap = {"soap-env": SOAP_ENV}
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=nsmap)
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Header")
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    wrapper = etree.SubElement(body, f"{{{RFC_NS}}}{operation}Response", nsmap={"n0": RFC_NS})
    for name in sorted(params):
        kind, value = params[name]
        node = etree.SubElement(wrapper, name)
        if isinstance(value, list):
            for row in value:
                _fill(etree.SubElement(node, "item"), kind, row)
        elif isinstance(value, dict):
            _fill(node, kind, value)
        else:
            node.text = str(value)
    data: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
    return data


def _fill(node: etree._Element, structure: str, values: dict[str, Any]) -> None:
    """Every field of the structure, as SAP sends them: initial values, not omissions."""
    for field_name, type_name in STRUCTURES[structure]:
        value = str(values.get(field_name, ""))
        if not value:
            if type_name == "date10":
                value = INITIAL_DATE
            elif type_name.startswith(("decimal", "quantum")):
                value = "0.0"
            elif type_name == "int":
                value = "0"
        etree.SubElement(node, field_name).text = value


def fault_envelope(code: str, text: str, exception: str | None = None) -> bytes:
    detail = ""
    if exception:
        detail = (
            f'<detail><n0:Exception xmlns:n0="{RFC_NS}"><Name>{exception}</Name>'
            f"<Text>{text}</Text></n0:Exception></detail>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap-env:Envelope xmlns:soap-env="{SOAP_ENV}"><soap-env:Header/><soap-env:Body>'
        f"<soap-env:Fault><faultcode>soap-env:{code}</faultcode>"
        f'<faultstring xml:lang="en">{text}</faultstring>{detail}</soap-env:Fault>'
        "</soap-env:Body></soap-env:Envelope>"
    ).encode()


def hostile_xxe(url: str, operation: str = "BAPI_CUSTOMER_GETLIST") -> bytes:
    """A response whose RETURN message is an external entity (file or URL)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<!DOCTYPE soap-env:Envelope [<!ENTITY xxe SYSTEM "{url}">]>'
        f'<soap-env:Envelope xmlns:soap-env="{SOAP_ENV}"><soap-env:Body>'
        f'<n0:{operation}Response xmlns:n0="{RFC_NS}"><IDRANGE/>'
        "<RETURN><TYPE>E</TYPE><MESSAGE>&xxe;</MESSAGE></RETURN>"
        f"</n0:{operation}Response></soap-env:Body></soap-env:Envelope>"
    ).encode()


BILLION_LAUGHS_DTD = '<!ENTITY lol "lol">' + "".join(
    f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
    for i in range(1, 10)
)


def hostile_billion(operation: str = "BAPI_CUSTOMER_GETLIST") -> bytes:
    """The classic exponential-entity response (10^9 "lol"s if expanded)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<!DOCTYPE soap-env:Envelope [{BILLION_LAUGHS_DTD}]>"
        f'<soap-env:Envelope xmlns:soap-env="{SOAP_ENV}"><soap-env:Body>'
        f'<n0:{operation}Response xmlns:n0="{RFC_NS}"><IDRANGE/>'
        "<RETURN><TYPE>E</TYPE><MESSAGE>&lol9;</MESSAGE></RETURN>"
        f"</n0:{operation}Response></soap-env:Body></soap-env:Envelope>"
    ).encode()


# ------------------------------------------------------------------ HTTP


def _handler(server: SoapServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read counters, not logs."""

        def _path(self) -> str:
            return urlsplit(self.path).path

        def _authorized(self) -> bool:
            expected = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") == f"Basic {expected}":
                return True
            body = b"<html><body><h1>Logon failed</h1></body></html>"
            self._send(401, body, "text/html", {"WWW-Authenticate": 'Basic realm="SAP [S4H/100]"'})
            return False

        def _send(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            server.requests[self._path()] += 1
            if self._path() != WSDL_PATH:
                self._send(404, b"not found", "text/plain")
                return
            if not self._authorized():
                return
            injection = server._take("WSDL")
            if injection is not None and injection.kind == "wsdl_body":
                self._send(200, injection.options["body"], "text/xml")
                return
            text = WSDL_FIXTURE.read_text(encoding="utf-8").replace(
                PLACEHOLDER_ORIGIN, server.base_url
            )
            self._send(200, text.encode(), "text/xml; charset=utf-8")

        def do_POST(self) -> None:
            server.requests[self._path()] += 1
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            server.bodies.append(raw)
            if self._path() != ENDPOINT_PATH:
                self._send(404, b"not found", "text/plain")
                return
            if not self._authorized():
                return
            envelope = etree.fromstring(raw, _SAFE)
            body = envelope.find(f"{{{SOAP_ENV}}}Body")
            call = next(c for c in body if isinstance(c.tag, str))
            operation = etree.QName(call).localname
            server.calls[operation] += 1
            injection = server._take(operation)
            if injection is not None and self._misbehave(injection, operation):
                return
            params = parse_params(call)
            result = server.handle_call(operation, params)
            if injection is not None and injection.kind == "return_error":
                result["RETURN"] = (result["RETURN"][0], self._error_return(result, injection))
            if injection is not None and injection.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return
            self._send(200, response_envelope(operation, result), "text/xml; charset=utf-8")

        @staticmethod
        def _error_return(result: dict[str, Any], injection: Injection) -> Any:
            row = _ret(
                injection.options.get("type", "E"),
                injection.options.get("id", "V1"),
                injection.options.get("number", "311"),
                injection.options.get("message", "Injected error"),
            )
            return [row] if isinstance(result["RETURN"][1], list) else row

        def _misbehave(self, injection: Injection, operation: str) -> bool:
            """Answer badly; False when the call should still be processed."""
            kind, options = injection.kind, injection.options
            xml = "text/xml; charset=utf-8"
            if kind == "fault_client":
                text = options.get("text", "Cannot process the request: malformed input")
                self._send(500, fault_envelope("Client", text, "INVALID_INPUT"), xml)
            elif kind == "fault_server":
                text = options.get("text", "Internal server error: short dump RABAX_STATE")
                self._send(500, fault_envelope("Server", text), xml)
            elif kind == "fault_logon":
                text = f"No RFC authorization for function module {operation}"
                self._send(500, fault_envelope("Server", text, "RFC_NO_AUTHORITY"), xml)
            elif kind == "http_503":
                headers = {"Retry-After": str(options.get("retry_after", 0))}
                self._send(503, b"<html>Service unavailable</html>", "text/html", headers)
            elif kind == "http_500_html":
                self._send(500, b"<html>ICM error</html>", "text/html")
            elif kind == "hostile_xxe":
                self._send(200, hostile_xxe(options["url"], operation), xml)
            elif kind == "hostile_billion":
                self._send(200, hostile_billion(operation), xml)
            elif kind == "drop_before":
                self.close_connection = True
                self.connection.close()
            elif kind == "delay":
                time.sleep(float(options.get("seconds", 1.0)))
                return False
            else:
                return False
            return True

    return Handler


class ConnectionCounter:
    """A listener on 127.0.0.1 that counts accepted connections (and answers 200)."""

    def __init__(self) -> None:
        counter = self
        self.connections = 0
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                with counter._lock:
                    counter.connections += 1
                super().setup()

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = b'<?xml version="1.0"?><x xmlns="urn:fetched">fetched</x>'
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def running(**kwargs: Any) -> Iterator[SoapServer]:
    with SoapServer(**kwargs) as server:
        yield server
