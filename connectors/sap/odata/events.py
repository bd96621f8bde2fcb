"""SAP business events pushed by SAP Event Mesh to the hub's webhook, and the re-read.

S/4HANA publishes CloudEvents 1.0 whose `data` carries keys only, e.g.
``{"type": "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1", "data": {"SalesOrder": "42"}}``.
`EventMeshReceiver` checks the webhook's HTTP Basic credentials (configured on the
Event Mesh webhook subscription) and splits the body into events;
`ODataRecordFetcher` later re-reads the entities by key so the events carry the
same records the tap emits.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.sap.odata.client import ODataClient
from connectors.sap.odata.streams import STREAMS, StreamDef, convert
from connectors.sap.odata.values import quote
from connectors.sdk.errors import ConfigError, DataError
from connectors.sdk.webhooks import WebhookEvent

__all__ = ["FETCH_BATCH", "EventMeshReceiver", "ODataRecordFetcher", "stream_for_type"]

FETCH_BATCH = 40
"""Keys per re-read request (an `or` of key comparisons; keeps the URL short)."""

_TYPE = re.compile(
    r"^sap\.s4\.beh\.(?P<object>[a-z]+)\.v\d+\.(?P<Object>[A-Za-z]+)\.(?P<op>Created|Changed)\.v\d+$"
)
_STREAM_BY_OBJECT = {
    ("businesspartner", "BusinessPartner"): "business_partners",
    ("salesorder", "SalesOrder"): "sales_orders",
    ("product", "Product"): "products",
    ("billingdocument", "BillingDocument"): "billing_documents",
}
_STRUCTURED = ("application/cloudevents+json", "application/json")
_BATCH = "application/cloudevents-batch+json"


def stream_for_type(event_type: str) -> str:
    """The stream a business event type belongs to; DataError for any other type."""
    match = _TYPE.match(event_type)
    stream = _STREAM_BY_OBJECT.get((match["object"], match["Object"])) if match else None
    if stream is None:
        known = ", ".join(
            f"sap.s4.beh.{name}.v1.{entity}.{{Created,Changed}}.v1"
            for name, entity in _STREAM_BY_OBJECT
        )
        raise DataError(
            f"unsupported SAP event type {event_type[:120]!r}",
            field="type",
            code="unknown_event_type",
            hint=f"subscribe the webhook to {known} only",
        )
    return stream


class EventMeshReceiver:
    """Verifies an Event Mesh webhook call (HTTP Basic) and splits it into events."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        events = config.get("events")
        self._username = str(events.get("username") or "") if isinstance(events, Mapping) else ""
        self._password = str(events.get("password") or "") if isinstance(events, Mapping) else ""

    def verify(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        lower = {k.lower(): v for k, v in headers.items()}
        self._authenticate(lower.get("authorization", ""))
        content_type = lower.get("content-type", "").split(";")[0].strip().lower()
        if "ce-specversion" in lower:  # binary mode: attributes in headers, body = data
            attributes = {k[3:]: v for k, v in lower.items() if k.startswith("ce-")}
            return [_event({**attributes, "data": _json(body)})]
        doc = _json(body)
        if content_type == _BATCH or isinstance(doc, list):
            if not isinstance(doc, list):
                raise DataError("a CloudEvents batch must be a JSON array", code="invalid_body")
            return [_event(item) for item in doc]
        if content_type and content_type not in _STRUCTURED:
            raise DataError(
                f"unsupported content type {content_type!r}",
                code="invalid_body",
                hint="send CloudEvents as application/cloudevents+json (or a batch as "
                "application/cloudevents-batch+json)",
            )
        return [_event(doc)]

    def _authenticate(self, authorization: str) -> None:
        if not self._username or not self._password:
            raise ConfigError(
                "SAP events are not enabled for this connection",
                field="events",
                hint="set events.username and events.password, and use them as the Basic "
                "credentials of the Event Mesh webhook",
            )
        scheme, _, encoded = authorization.partition(" ")
        user, password = "", ""
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
        # Compare both, always, in constant time: no early exit to time.
        ok_user = hmac.compare_digest(user.encode(), self._username.encode())
        ok_password = hmac.compare_digest(password.encode(), self._password.encode())
        if not (ok_user and ok_password):
            raise ConfigError(
                "the webhook call did not carry the configured Basic credentials",
                field="events",
                hint="set the same user and password on the Event Mesh webhook subscription",
            )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError("the webhook body is not JSON", code="invalid_body") from exc


def _event(doc: Any) -> WebhookEvent:
    if not isinstance(doc, Mapping):
        raise DataError("a CloudEvent must be a JSON object", code="invalid_event")
    if doc.get("specversion") != "1.0":
        raise DataError(
            f"CloudEvents specversion {str(doc.get('specversion'))[:20]!r} is not supported",
            field="specversion",
            code="invalid_event",
            hint="SAP Event Mesh sends CloudEvents 1.0",
        )
    event_id = doc.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise DataError("the CloudEvent has no id", field="id", code="invalid_event")
    stream = STREAMS[stream_for_type(str(doc.get("type") or ""))]
    data = doc.get("data")
    if isinstance(data, str):  # data sent as a JSON string
        data = _json(data.encode())
    if not isinstance(data, Mapping):
        raise DataError(
            f"event {event_id}: data is not an object", field="data", code="invalid_event"
        )
    record: dict[str, Any] = {}
    for name in stream.key:
        value = data.get(name)
        if value in (None, ""):
            raise DataError(
                f"event {event_id} ({doc.get('type')}) has no {name} in its data",
                field=f"data.{name}",
                code="missing_key",
            )
        record[name] = str(value)
    return WebhookEvent(id=event_id, stream=stream.name, record=record)


class ODataRecordFetcher:
    """Re-reads entities by key, with the stream's $expand, as tap records."""

    def __init__(self, config: Mapping[str, Any], *, client: ODataClient | None = None) -> None:
        self._client = client or ODataClient(config)

    def fetch(self, stream: str, keys: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        definition = STREAMS.get(stream)
        if definition is None:
            raise ConfigError(f"sap_odata has no stream {stream!r}", field="streams")
        wanted = list(dict.fromkeys(tuple(str(k[n]) for n in definition.key) for k in keys))
        records: list[dict[str, Any]] = []
        for start in range(0, len(wanted), FETCH_BATCH):
            chunk = wanted[start : start + FETCH_BATCH]
            records.extend(self._fetch_chunk(definition, chunk))
        return records

    def _fetch_chunk(self, stream: StreamDef, chunk: list[tuple[str, ...]]) -> list[dict[str, Any]]:
        clauses = [
            " and ".join(
                f"{name} eq {quote(value)}" for name, value in zip(stream.key, key, strict=True)
            )
            for key in chunk
        ]
        params = {"$filter": " or ".join(f"({c})" if len(stream.key) > 1 else c for c in clauses)}
        if stream.expand:
            params["$expand"] = ",".join(stream.expand)
        entities = [
            entity
            for page in self._client.iter_pages(stream.service, stream.entity_set, params)
            for entity in page
        ]
        return [convert(entity, stream.name) for entity in entities]

    def close(self) -> None:
        self._client.close()
