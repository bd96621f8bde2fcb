"""`check`: can the hub reach SAP with these settings, and how much would each stream read?

For each selected stream: fetch the service's ``$metadata`` and count its entity set
(``$top=1&$inlinecount=allpages``). A problem one setting explains raises
ConfigError naming it (the console shows the message next to that input); SAP
being down or slow gives ``ok=False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from connectors.sap.odata.client import ODataClient
from connectors.sap.odata.config import CONFIG_SCHEMA, ODataSettings
from connectors.sap.odata.model import parse_edmx
from connectors.sap.odata.streams import STREAMS, StreamDef
from connectors.sdk.errors import ConfigError, DataError, TransientError
from connectors.sdk.spec import CheckResult, validate_against

__all__ = ["check"]

_CHECK_RETRIES = 1
_CHECK_TIMEOUT = 30.0


def check(config: Mapping[str, Any]) -> CheckResult:
    validate_against(CONFIG_SCHEMA, config)
    settings = ODataSettings.from_config(config)
    quick = {
        **config,
        "max_retries": min(settings.max_retries, _CHECK_RETRIES),
        "timeout_seconds": min(settings.timeout_seconds, _CHECK_TIMEOUT),
    }
    details: list[str] = []
    with ODataClient(quick) as client:
        for name in settings.streams:
            stream = STREAMS[name]
            try:
                details.append(_check_stream(client, stream))
            except ConfigError as exc:
                raise _explain(exc, settings, stream) from exc
            except TransientError as exc:
                if exc.details.get("reason") == "connect":
                    raise _unreachable(exc, settings) from exc
                return CheckResult(
                    ok=False,
                    message=f"SAP did not answer for {name}: {exc.message}",
                    details=[*details, exc.hint or ""],
                )
            except DataError as exc:
                return CheckResult(
                    ok=False, message=f"SAP refused the test read of {name}: {exc}", details=details
                )
    return CheckResult(
        ok=True,
        message=f"connected to {settings.base_url}{settings.service_path} as {_who(settings)}; "
        f"{len(details)} stream(s) readable",
        details=details,
    )


def _check_stream(client: ODataClient, stream: StreamDef) -> str:
    metadata = client.metadata(stream.service)
    try:
        model = parse_edmx(stream.service, metadata)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ConfigError(
            f"{stream.service}/$metadata is not an OData EDMX document",
            field="service_path",
            hint="base_url + service_path must lead to the OData services "
            "(usually /sap/opu/odata/sap)",
        ) from exc
    if stream.entity_set not in model.entity_sets:
        raise ConfigError(
            f"{stream.service} has no entity set {stream.entity_set} (an older API version?)",
            field="streams",
            hint=f"deselect {stream.name}, or activate the current {stream.service} version",
        )
    answer = client.get(
        stream.service,
        stream.entity_set,
        {"$top": "1", "$inlinecount": "allpages", "$select": ",".join(stream.key)},
    )
    count = (answer.data or {}).get("__count")
    if count is None:
        return f"{stream.name}: readable (the service does not count)"
    return f"{stream.name}: {int(count):,} records"


def _explain(exc: ConfigError, settings: ODataSettings, stream: StreamDef) -> ConfigError:
    """Point a client-level ConfigError at the setting the user must change."""
    if exc.field == "auth" and exc.details.get("status") == 401:
        field = "auth.client_id" if settings.auth_type != "basic" else "auth.username"
        return ConfigError(
            f"SAP refused the credentials of {_who(settings)} (401)",
            field=field,
            hint="check the user name and password of the communication user"
            if settings.auth_type == "basic"
            else "check client_id and client_secret of the OAuth client",
        )
    if exc.field == "auth" and exc.details.get("status") == 403:
        return ConfigError(
            f"{_who(settings)} may not read {stream.service} (403)",
            field="auth",
            hint="add the user to a communication arrangement for "
            f"{stream.communication_scenario}, or give the technical user the role for "
            f"{stream.service}",
        )
    if exc.field == "service_path":
        return ConfigError(
            f"SAP has no service {stream.service} under {settings.service_path} (404)",
            field="service_path",
            hint=f"check service_path; on S/4HANA Cloud create a communication arrangement for "
            f"{stream.communication_scenario}; on-premise activate {stream.service} in "
            "/IWFND/MAINT_SERVICE",
        )
    return exc


def _unreachable(exc: TransientError, settings: ODataSettings) -> ConfigError:
    cause = exc.__cause__
    reason = str(cause) if cause is not None and str(cause) else exc.message
    if exc.details.get("target") == "token_url":
        return ConfigError(
            f"cannot reach the OAuth token endpoint: {reason}",
            field="auth.token_url",
            hint="check the token URL and that the hub can reach it",
        )
    return ConfigError(
        f"cannot reach {settings.base_url}: {reason}",
        field="base_url",
        hint="check the host name and port, and that the hub may connect to it (firewall, "
        "proxy, SAP Cloud Connector)",
    )


def _who(settings: ODataSettings) -> str:
    if settings.auth_type == "basic":
        return f"user {settings.auth.get('username')}"
    return f"OAuth client {settings.auth.get('client_id')}"
