# zeep has no type annotations; calling into it is fine.
# mypy: disable-error-code="no-untyped-call"
"""`SoapClient`: one SAP SOAP service (its WSDL), called BAPI by BAPI through zeep.

Safety: zeep parses the WSDL and every response with DTDs, entities and external
references forbidden and without libxml2's huge-tree mode, so XXE and "billion
laughs" payloads are refused, whether in the WSDL or in a response; the transport
loads no document but the configured WSDL (see transport.py).

Errors, by who must act:

* the WSDL cannot be loaded or is not one, a logon or authorization is refused
  (HTTP 401/403, or a fault saying so), the endpoint sends a hostile document
  -> ConfigError naming the setting;
* a timeout, a lost connection, 429/502/503/504, a ``Server`` fault -> TransientError
  (reads are retried here, honouring Retry-After; writes never: a write whose answer
  was lost may have happened, and the writer looks it up before trying again);
* a ``Client`` fault, parameters the WSDL does not accept -> DataError; RETURN rows of
  type E/A are left to the caller (`BapiResult.raise_for_errors`), which knows which
  messages are normal (GETLIST's "no customers found" ends a listing).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
import zeep
from lxml import etree
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from zeep import exceptions as zeep_errors
from zeep.helpers import serialize_object
from zeep.wsdl.bindings.soap import Soap11Binding, SoapBinding

from connectors.sap.soap.bapi import AUTHORIZATION, BapiResult, plain, return_messages
from connectors.sap.soap.config import SoapConfig, parse_config
from connectors.sap.soap.transport import DocumentRefusedError, GuardedTransport, safe_url
from connectors.sdk.errors import ConfigError, ConnectorError, DataError, TransientError

__all__ = ["OPERATIONS", "SoapClient"]

logger = logging.getLogger(__name__)

OPERATIONS: Final = (
    "BAPI_CUSTOMER_GETLIST",
    "BAPI_CUSTOMER_GETDETAIL2",
    "BAPI_SALESORDER_CREATEFROMDAT2",
    "BAPI_SALESORDER_GETLIST",
)
"""What the connector calls; the service definition must expose all four."""

MAX_WAIT_SECONDS = 30.0

_ENTITY_TROUBLE = re.compile(r"(?i)amplification|entity reference loop|excessive depth")
"""libxml2 stops some entity bombs itself, as a syntax error; they are still hostile."""


class SoapClient:
    """A loaded WSDL bound to its SOAP 1.1 endpoint, with HTTP Basic authentication."""

    def __init__(self, config: SoapConfig | Mapping[str, Any]) -> None:
        self.config = config if isinstance(config, SoapConfig) else parse_config(config)
        session = requests.Session()
        session.auth = (self.config.username, self.config.password)
        session.verify = self.config.verify_tls
        self._session = session
        self.transport = GuardedTransport(
            self.config.wsdl, session=session, timeout=self.config.timeout_seconds
        )
        settings = zeep.Settings(
            strict=True,
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
            xml_huge_tree=False,
        )
        try:
            self._zeep = zeep.Client(self.config.wsdl, transport=self.transport, settings=settings)
            self._binding, wsdl_address = self._pick_binding()
            self.address = self._endpoint(wsdl_address)
            self._service = self._zeep.create_service(self._binding.name, self.address)
        except BaseException as exc:
            session.close()
            if isinstance(exc, Exception) and not isinstance(exc, ConnectorError):
                raise _wsdl_error(exc, self.config.wsdl) from exc
            raise

    # ---------------------------------------------------------------- public

    @property
    def operations(self) -> frozenset[str]:
        """Operation names of the bound binding."""
        return frozenset(self._binding.all())

    def call(
        self, operation: str, params: Mapping[str, Any] | None = None, *, read: bool
    ) -> BapiResult:
        """Call one BAPI; `read` calls are retried on TransientError, writes never.

        Table parameters the caller leaves out are sent empty: SAP's SOAP runtime
        returns a table (RETURN included) only when the request carried it.
        """
        if operation not in self.operations:
            raise ConfigError(
                f"the WSDL has no operation {operation}",
                field="wsdl",
                hint=f"add {operation} to the service definition (SOAMANAGER) and reload it",
            )
        args = self._with_tables(operation, params or {})
        if not read or self.config.max_retries == 0:
            return self._call_once(operation, args)
        retrying = Retrying(
            stop=stop_after_attempt(self.config.max_retries + 1),
            retry=retry_if_exception_type(TransientError),
            wait=_wait,
            before_sleep=_log_retry,
            reraise=True,
        )
        result: BapiResult = retrying(self._call_once, operation, args)
        return result

    def output_fields(self, operation: str, parameter: str) -> list[str]:
        """Field names of a structure the operation returns, as this WSDL defines it."""
        for name, element in self._binding.get(operation).output.body.type.elements:
            if name == parameter:
                return [field for field, _ in getattr(element.type, "elements", [])]
        raise ConfigError(
            f"{operation} returns no {parameter} in this WSDL",
            field="wsdl",
            hint="the WSDL must describe the standard BAPI interface",
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SoapClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ---------------------------------------------------------------- internals

    def _pick_binding(self) -> tuple[Any, str | None]:
        """The SOAP 1.1 port (SAP WSDLs also carry a SOAP 1.2 one), preferring a
        binding that offers all four operations."""
        candidates: list[tuple[int, Any, str | None]] = []
        for service in self._zeep.wsdl.services.values():
            for port in service.ports.values():
                binding = port.binding
                if not isinstance(binding, SoapBinding):
                    continue
                complete = set(OPERATIONS) <= set(binding.all())
                score = (2 if complete else 0) + (1 if isinstance(binding, Soap11Binding) else 0)
                candidates.append((score, binding, port.binding_options.get("address")))
        if not candidates:
            for binding in self._zeep.wsdl.bindings.values():
                if isinstance(binding, SoapBinding):
                    candidates.append((0, binding, None))
        if not candidates:
            raise ConfigError(
                f"{safe_url(self.config.wsdl)} defines no SOAP binding",
                field="wsdl",
                hint="give the WSDL of a SOAP service (SOAMANAGER, 'Open WSDL document')",
            )
        _, binding, address = max(candidates, key=lambda item: item[0])
        return binding, address

    def _endpoint(self, wsdl_address: str | None) -> str:
        address = self.config.endpoint or wsdl_address
        if not address:
            raise ConfigError(
                "the WSDL names no service address",
                field="endpoint",
                hint="set endpoint to the service URL shown in SOAMANAGER",
            )
        if self.config.sap_client:
            parts = urlsplit(address)
            query = [(k, v) for k, v in parse_qsl(parts.query) if k != "sap-client"]
            query.append(("sap-client", self.config.sap_client))
            address = urlunsplit(parts._replace(query=urlencode(query)))
        return address

    def _with_tables(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        args: dict[str, Any] = {}
        for name, element in self._binding.get(operation).input.body.type.elements:
            if name in params:
                args[name] = _as_table(params[name]) if _is_table(element) else params[name]
            elif _is_table(element):
                args[name] = {"item": []}
        unknown = sorted(set(params) - set(args))
        if unknown:
            raise DataError(
                f"{operation} has no parameter(s) {', '.join(unknown)}",
                code="invalid_parameters",
                hint="check the names against the BAPI's interface (SE37)",
            )
        return args

    def _call_once(self, operation: str, args: dict[str, Any]) -> BapiResult:
        try:
            raw = self._service[operation](**args)
        except ConnectorError:
            raise
        except zeep_errors.Fault as fault:
            raise _fault_error(fault, operation) from None
        except (zeep_errors.DTDForbidden, zeep_errors.EntitiesForbidden) as exc:
            raise self._hostile(operation, "declares a DTD or entities") from exc
        except zeep_errors.ExternalReferenceForbidden as exc:
            raise self._hostile(operation, "refers to an external document") from exc
        except zeep_errors.TransportError as exc:
            if _ENTITY_TROUBLE.search(str(exc.message)):
                raise self._hostile(operation, "declares entities") from exc
            raise self._not_soap(operation, exc.status_code) from exc
        except zeep_errors.XMLSyntaxError as exc:
            if _ENTITY_TROUBLE.search(str(exc.message)):
                raise self._hostile(operation, "declares entities") from exc
            raise self._not_soap(operation, None) from exc
        except (zeep_errors.XMLParseError, zeep_errors.UnexpectedElementError) as exc:
            raise ConfigError(
                f"{operation}: the answer does not match the WSDL ({exc})",
                field="wsdl",
                hint="the WSDL may be older than the service: download it again",
            ) from exc
        except zeep_errors.ValidationError as exc:
            raise DataError(
                f"{operation}: {exc}", code="invalid_parameters", hint="check the payload"
            ) from exc
        except TypeError as exc:
            if "unexpected keyword argument" not in str(exc):
                raise
            raise DataError(
                f"{operation}: {_first_line(str(exc))}",
                code="invalid_parameters",
                hint="a field name is not in the BAPI structure; check the mapping",
            ) from exc
        data = _output(raw, self._binding.get(operation))
        return BapiResult(operation, data, return_messages(data.get("RETURN")))

    def _hostile(self, operation: str, what: str) -> ConfigError:
        return ConfigError(
            f"{operation}: the answer from {safe_url(self.address)} {what}; refused "
            "(XML external entity protection)",
            field="endpoint" if self.config.endpoint else "wsdl",
            hint="check that the endpoint is the SAP system and not something in between",
        )

    def _not_soap(self, operation: str, status: int | None) -> ConnectorError:
        where = safe_url(self.address)
        if status is not None and status >= 500:
            return TransientError(
                f"{operation}: {where} answered HTTP {status} without a readable SOAP fault",
                hint="a server error on the SAP side; retried later",
            )
        suffix = f" (HTTP {status})" if status else ""
        return ConfigError(
            f"{operation}: {where} did not answer with SOAP{suffix}",
            field="endpoint" if self.config.endpoint else "wsdl",
            hint="check that the address is the SAP web service endpoint",
        )


# -------------------------------------------------------------------- helpers


def _is_table(element: Any) -> bool:
    """A table parameter: its type holds exactly one element, ``item``, repeated."""
    children = getattr(element.type, "elements", None) or []
    if len(children) != 1:
        return False
    name, child = children[0]
    return bool(name == "item" and child.max_occurs != 1)


def _as_table(value: Any) -> Any:
    """Accept a list of rows where zeep wants ``{"item": rows}``."""
    if isinstance(value, list | tuple):
        return {"item": list(value)}
    if value is None:
        return {"item": []}
    return value


def _output(raw: Any, operation: Any) -> dict[str, Any]:
    """The response's parameters as plain values, by name."""
    names = [name for name, _ in operation.output.body.type.elements]
    serialized = serialize_object(raw, dict)
    if not isinstance(serialized, Mapping):
        serialized = {names[0]: serialized} if len(names) == 1 else {}
    result = plain(serialized)
    return result if isinstance(result, dict) else {}


def _fault_error(fault: zeep_errors.Fault, operation: str) -> ConnectorError:
    code = (fault.code or "").rsplit(":", 1)[-1]
    text = (fault.message or "").strip() or "no faultstring"
    exception = _exception_name(fault.detail)
    message = f"{operation}: SOAP fault {code or '(no code)'}: {_first_line(text)}"
    if exception:
        message += f" [{exception}]"
    if AUTHORIZATION.search(text):
        return ConfigError(
            message,
            field="username",
            hint="the user needs S_SERVICE and S_RFC authorization for these BAPIs "
            "and must not be locked (ask the SAP basis team)",
        )
    if code.startswith("Client"):
        return DataError(message, code="soap_fault", hint="SAP rejected the request content")
    if code in {"VersionMismatch", "MustUnderstand"}:
        return ConfigError(message, field="wsdl", hint="the endpoint expects another binding")
    return TransientError(message, hint="a server-side error in SAP; retried later")


def _exception_name(detail: Any) -> str | None:
    """The ABAP exception SAP puts in a fault's detail (``<Name>NOT_FOUND</Name>``)."""
    if detail is None or not isinstance(detail, etree._Element):
        return None
    for node in detail.iter():
        if isinstance(node.tag, str) and etree.QName(node).localname == "Name" and node.text:
            return str(node.text).strip()
    return None


def _wsdl_error(exc: Exception, wsdl: str) -> ConfigError:
    where = safe_url(wsdl)
    if isinstance(exc, zeep_errors.DTDForbidden | zeep_errors.EntitiesForbidden) or (
        isinstance(exc, zeep_errors.XMLSyntaxError | etree.XMLSyntaxError)
        and _ENTITY_TROUBLE.search(str(exc))
    ):
        return ConfigError(
            f"{where} declares a DTD or entities, which are refused "
            "(XML external entity protection)",
            field="wsdl",
            hint="SAP's WSDLs have no DOCTYPE; check that the URL or file is the real WSDL",
        )
    if isinstance(exc, zeep_errors.ExternalReferenceForbidden):
        return DocumentRefusedError(str(exc.url))
    if isinstance(exc, zeep_errors.XMLSyntaxError | etree.XMLSyntaxError):
        return ConfigError(
            f"{where} is not a WSDL: not well-formed XML ({_first_line(str(exc))})",
            field="wsdl",
            hint="give the WSDL link or file, not the service's web page",
        )
    return ConfigError(
        f"{where} is not a usable WSDL: {_first_line(str(exc)) or type(exc).__name__}",
        field="wsdl",
        hint="give the SOAP service's WSDL as SOAMANAGER shows it",
    )


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, TransientError) and error.retry_after is not None:
        return min(error.retry_after, MAX_WAIT_SECONDS)
    return float(min(0.5 * 2 ** (state.attempt_number - 1), MAX_WAIT_SECONDS))


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    logger.warning("SAP SOAP call failed (attempt %d), retrying: %s", state.attempt_number, error)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 300 else line[:297] + "..."
