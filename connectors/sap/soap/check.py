"""`check`: can the hub load the WSDL, does it offer the BAPIs, and does SAP answer?

Steps: validate the settings; load the WSDL (ConfigError ``wsdl`` when it is missing,
not a WSDL, carries a DTD or refers to other documents); find the four operations;
call BAPI_CUSTOMER_GETLIST with MAXROWS=1 (ConfigError ``username`` on HTTP 401 or
a missing authorization). A server that is down or busy gives ``ok=False``: no
setting is to blame.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from connectors.sap.soap.client import OPERATIONS, SoapClient
from connectors.sap.soap.config import CONFIG_SCHEMA, parse_config
from connectors.sap.soap.streams import GETLIST, NO_CUSTOMERS
from connectors.sap.soap.transport import safe_url
from connectors.sap.soap.writer import CREATE
from connectors.sdk.errors import ConfigError, DataError, TransientError
from connectors.sdk.spec import CheckResult, validate_against

__all__ = ["check", "commit_enabled"]

_POLICY_NS = "http://schemas.xmlsoap.org/ws/2004/09/policy"
_WSU_ID = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}Id"


def check(config: Mapping[str, Any]) -> CheckResult:
    validate_against(CONFIG_SCHEMA, config, secrets=["password"])
    settings = parse_config(config)
    try:
        client = SoapClient(settings)
    except TransientError as error:
        return CheckResult(
            ok=False, message=f"cannot load the WSDL: {error.message}", details=_hint(error)
        )
    with client:
        missing = [name for name in OPERATIONS if name not in client.operations]
        if missing:
            raise ConfigError(
                f"the WSDL lacks operation(s) {', '.join(missing)}",
                field="wsdl",
                hint="the service definition (SOAMANAGER) must expose " + ", ".join(OPERATIONS),
            )
        try:
            result = client.call(
                GETLIST,
                {
                    "IDRANGE": [{"SIGN": "I", "OPTION": "GT", "LOW": "", "HIGH": ""}],
                    "MAXROWS": 1,
                    "ADDRESSDATA": [],
                },
                read=False,
            )
            result.raise_for_errors(ignore={NO_CUSTOMERS})
        except (TransientError, DataError) as error:
            return CheckResult(
                ok=False, message=f"{GETLIST} failed: {error.message}", details=_hint(error)
            )
        rows = result.data.get("ADDRESSDATA") or []
        answer = f"first customer {rows[0].get('CUSTOMER')}" if rows else "no customers visible"
        details = [
            f"endpoint: {safe_url(client.address)}",
            f"operations: {', '.join(OPERATIONS)}",
        ]
        if commit_enabled(client, CREATE) is False:
            details.append(
                f"warning: the WSDL says {CREATE} runs without commit "
                "(sapcomhnd:enableCommit false): SAP would roll created orders back; "
                "enable commit for the operation in SOAMANAGER"
            )
    return CheckResult(ok=True, message=f"{GETLIST} answered: {answer}", details=details)


def commit_enabled(client: SoapClient, operation: str) -> bool | None:
    """The WSDL's ``OP__<operation>`` policy's commit flag; None when it has none."""
    documents = list(client.transport.loaded.values())
    if not documents:
        return None
    # zeep already refused DTDs and entities in this document; parse it the same way.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(documents[0], parser)
    except etree.XMLSyntaxError:
        return None
    for policy in root.iter(f"{{{_POLICY_NS}}}Policy"):
        if policy.get(_WSU_ID) != f"OP__{operation}":
            continue
        for node in policy.iter():
            if isinstance(node.tag, str) and etree.QName(node).localname == "enableCommit":
                return (node.text or "").strip().lower() == "true"
    return None


def _hint(error: TransientError | DataError) -> list[str]:
    return [error.hint] if error.hint else []
