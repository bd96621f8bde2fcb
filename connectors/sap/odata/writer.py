"""Sales-order write-back to S/4HANA (``API_SALES_ORDER_SRV/A_SalesOrder``).

Idempotent creates: the hub's idempotency key goes into ``PurchaseOrderByCustomer``
(String 35; the key is 32 hex characters) and the writer looks it up before every
POST. A POST whose answer was lost raises TransientError unretried (see the client);
the hub's retry then finds the order instead of creating a twin.

Safe updates: only the header fields the hub owns (``WriteRequest.owned``) are
compared with SAP's current values and only the differing ones are PATCHed, with
``If-Match`` set to the ETag of the read. On 412 the order is read again and the
diff recomputed, so what SAP users changed in fields the hub does not own stays.
Items are never patched on an existing order (SAP re-prices, schedules and may
have delivered them): a difference only yields a warning in ``details``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import httpx

from connectors.sap.odata.client import ODataClient
from connectors.sap.odata.errors import PreconditionFailed
from connectors.sap.odata.model import load_service
from connectors.sap.odata.values import parse_edm_time, parse_wire_datetime, quote
from connectors.sdk.errors import ConfigError, DataError, TransientError
from connectors.sdk.writer import WriteRequest, WriteResult

__all__ = [
    "IDEMPOTENCY_FIELD",
    "ITEMS_WARNING",
    "MAX_PATCH_ATTEMPTS",
    "SUPPORTED_OBJECTS",
    "SapODataWriter",
    "writer",
]

log = logging.getLogger("connectors.sap.odata.writer")

SERVICE = "API_SALES_ORDER_SRV"
ENTITY_SET = "A_SalesOrder"
SUPPORTED_OBJECTS = ("sales_order",)
IDEMPOTENCY_FIELD = "PurchaseOrderByCustomer"
"""Where the hub's idempotency key lives in SAP (Customer Reference, String 35)."""
IDEMPOTENCY_MAX_LENGTH = 35
MAX_PATCH_ATTEMPTS = 3
"""PATCH attempts per update; each 412 in between costs one re-read."""
ITEMS_WARNING = "items changed in the hub are not sent to an existing sales order"

_NUMBERS = frozenset({"Edm.Decimal", "Edm.Double", "Edm.Single", "Edm.Int64"})
_INTEGERS = frozenset({"Edm.Int16", "Edm.Int32", "Edm.Byte", "Edm.SByte"})
_DIGITS = re.compile(r"^\d+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SapODataWriter:
    """Creates and updates sales orders in one S/4HANA system (one ODataClient session)."""

    def __init__(
        self, config: Mapping[str, Any], *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._client = ODataClient(config, transport=transport)

    def __enter__(self) -> SapODataWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def upsert(self, request: WriteRequest) -> WriteResult:
        if request.object not in SUPPORTED_OBJECTS:
            raise ConfigError(
                f"the sap_odata connector cannot write {request.object!r} objects",
                field="object",
                hint=f"supported: {', '.join(SUPPORTED_OBJECTS)}",
            )
        key = _checked_key(request.idempotency_key)
        payload = _payload_without_key(request.payload, key)
        if request.remote_id is None:
            return self._create(payload, key)
        return self._update(request.remote_id, payload, request.owned)

    # ------------------------------------------------------------------ create

    def _create(self, payload: dict[str, Any], key: str) -> WriteResult:
        existing = self._find(key)
        if existing is not None:
            log.info(
                "sales order %s already holds key %s; not creating", existing["SalesOrder"], key
            )
            return _result(existing, created=False, etag=_metadata_etag(existing))
        body = _create_body(payload, key)
        response = self._client.create(SERVICE, ENTITY_SET, body)
        data = response.data or {}
        number = data.get("SalesOrder")
        if not isinstance(number, str) or not number:
            # SAP said 2xx, so the order may exist: let the retry's lookup decide.
            raise TransientError(
                f"SAP accepted the sales order ({response.status}) without returning its number",
                hint="the hub retries and looks the order up by PurchaseOrderByCustomer",
            )
        log.info("created sales order %s for key %s", number, key)
        return _result(data, created=True, etag=response.etag, messages=response.messages)

    def _find(self, key: str) -> dict[str, Any] | None:
        """The order already holding `key`; DataError when SAP holds two."""
        found = self._client.find(
            SERVICE, ENTITY_SET, f"{IDEMPOTENCY_FIELD} eq {quote(key)}", top=2
        )
        if len(found) > 1:
            numbers = " and ".join(str(row.get("SalesOrder")) for row in found)
            raise DataError(
                f"SAP holds two sales orders with {IDEMPOTENCY_FIELD} {key}: {numbers}",
                field=IDEMPOTENCY_FIELD,
                code="duplicate",
                hint="someone copied the order in SAP; reject or delete the extra one there, "
                "then retry the write",
            )
        return found[0] if found else None

    # ------------------------------------------------------------------ update

    def _update(self, remote_id: str, payload: dict[str, Any], owned: Sequence[str]) -> WriteResult:
        header_types, item_types = property_types()
        wanted = {
            name: payload[name]
            for name in owned
            if name in payload and name != IDEMPOTENCY_FIELD and not _is_navigation(name)
        }
        warnings: list[str] = []
        if not wanted:
            warnings.append("no owned header fields in the payload: nothing is sent to SAP")
        items = _items(payload.get("to_Item"))
        expand: tuple[str, ...] = ("to_Item",) if items is not None else ()
        for attempt in range(1, MAX_PATCH_ATTEMPTS + 1):
            entity, etag = self._read(remote_id, expand)
            if expand:
                if _items_differ(items or [], _items(entity.get("to_Item")) or [], item_types):
                    warnings.append(ITEMS_WARNING)
                expand = ()
            changes = {
                name: _to_wire(name, header_types.get(name), value)
                for name, value in wanted.items()
                if not _same(header_types.get(name), value, entity.get(name))
            }
            if not changes:
                return _result(entity, created=False, etag=etag, warnings=warnings)
            try:
                response = self._client.patch(
                    SERVICE,
                    ENTITY_SET,
                    {"SalesOrder": remote_id},
                    changes,
                    if_match=etag or "*",
                )
            except PreconditionFailed:
                log.info(
                    "sales order %s changed in SAP meanwhile (412, attempt %d); re-reading",
                    remote_id,
                    attempt,
                )
                continue
            return _result(
                entity,
                created=False,
                etag=response.etag,
                messages=response.messages,
                warnings=warnings,
                changed=sorted(changes),
            )
        raise TransientError(
            f"sales order {remote_id} kept changing in SAP while the hub updated it "
            f"(412 Precondition Failed {MAX_PATCH_ATTEMPTS} times)",
            hint="the hub retries later, when SAP users have finished editing it",
            remote_id=remote_id,
        )

    def _read(self, remote_id: str, expand: Sequence[str]) -> tuple[dict[str, Any], str | None]:
        found = self._client.read_entity(
            SERVICE, ENTITY_SET, {"SalesOrder": remote_id}, expand=expand
        )
        if found is None and self._exists(remote_id):
            raise TransientError(
                f"SAP did not return sales order {remote_id} although it lists it",
                hint="the hub retries later",
            )
        if found is None:
            raise DataError(
                f"sales order {remote_id} no longer exists in SAP",
                field="SalesOrder",
                code="not_found",
                hint="it was deleted in SAP; unlink the hub's order from it to create a new one",
            )
        entity, etag = found
        return entity, etag or _metadata_etag(entity)

    def _exists(self, remote_id: str) -> bool:
        """Ask the collection too: a 404 on a wrong service path must not read as "deleted".

        The collection query raises ConfigError when the service itself is missing.
        """
        return bool(
            self._client.find(SERVICE, ENTITY_SET, f"SalesOrder eq {quote(remote_id)}", top=1)
        )


def writer(config: Mapping[str, Any]) -> SapODataWriter:
    """The WriterFactory of ``sap_odata``."""
    return SapODataWriter(config)


# ---------------------------------------------------------------------- payload


def _checked_key(key: str) -> str:
    if not key or len(key) > IDEMPOTENCY_MAX_LENGTH or not key.isprintable():
        raise DataError(
            f"idempotency key {key[:40]!r} does not fit {IDEMPOTENCY_FIELD} "
            f"(1 to {IDEMPOTENCY_MAX_LENGTH} printable characters)",
            field=IDEMPOTENCY_FIELD,
            code="invalid_idempotency_key",
        )
    return key


def _payload_without_key(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The payload minus the reserved field, refused when the mapping filled it itself."""
    body = dict(payload)
    own = body.pop(IDEMPOTENCY_FIELD, None)
    if own not in (None, "", key):
        raise ConfigError(
            f"the outbound mapping sets {IDEMPOTENCY_FIELD} ({str(own)[:40]!r}), which the "
            "sap_odata writer reserves for the hub's idempotency key",
            field=IDEMPOTENCY_FIELD,
            hint=f"remove {IDEMPOTENCY_FIELD} from the mapping; put the customer's reference "
            "into PurchaseOrderByShipToParty or a text instead",
        )
    return body


def _create_body(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The deep-insert body: header values in wire form, ``to_Item`` as ``{"results": [...]}``."""
    header_types, item_types = property_types()
    body: dict[str, Any] = {}
    for name, value in payload.items():
        if name == "to_Item":
            items = _items(value)
            if items is None:
                raise DataError(
                    'to_Item must be a list of items or {"results": [...]}',
                    field="to_Item",
                    code="invalid_value",
                )
            body[name] = {
                "results": [
                    {k: _to_wire(k, item_types.get(k), v) for k, v in item.items()}
                    for item in items
                ]
            }
        elif _is_navigation(name):
            body[name] = value
        else:
            body[name] = _to_wire(name, header_types.get(name), value)
    body[IDEMPOTENCY_FIELD] = key
    return body


def _items(value: Any) -> list[dict[str, Any]] | None:
    """A to-many navigation value as a list (``{"results": [...]}`` or a plain list)."""
    if isinstance(value, Mapping):
        value = value.get("results")
    if isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
        return [dict(item) for item in value]
    return None


def _is_navigation(name: str) -> bool:
    return name.startswith("to_")


def _items_differ(
    hub: list[dict[str, Any]], sap: list[dict[str, Any]], types: Mapping[str, str]
) -> bool:
    """Whether the hub's items say something SAP's do not (fields the hub sent only)."""
    if len(hub) != len(sap):
        return True
    by_number = {_item_number(row.get("SalesOrderItem")): row for row in sap}
    for position, item in enumerate(hub):
        number = item.get("SalesOrderItem")
        current = by_number.get(_item_number(number)) if number is not None else sap[position]
        if current is None:
            return True
        for name, value in item.items():
            if not _is_navigation(name) and not _same(types.get(name), value, current.get(name)):
                return True
    return False


def _item_number(value: Any) -> str:
    text = str(value or "")
    return (text.lstrip("0") or "0") if _DIGITS.match(text) else text


# ---------------------------------------------------------------------- results


def _result(
    entity: Mapping[str, Any],
    *,
    created: bool,
    etag: str | None,
    messages: Sequence[Any] = (),
    warnings: Sequence[str] = (),
    changed: Sequence[str] | None = None,
) -> WriteResult:
    details: dict[str, Any] = {"etag": etag, "messages": [_message(m) for m in messages]}
    if warnings:
        details["warnings"] = list(dict.fromkeys(warnings))
    if changed is not None:
        details["changed"] = list(changed)
    status = entity.get("OverallSDProcessStatus")
    return WriteResult(
        remote_id=str(entity["SalesOrder"]),
        created=created,
        status=str(status) if status not in (None, "") else None,
        details=details,
    )


def _message(message: Any) -> Any:
    """A sap-message entry as plain data (JSON-serialisable for the hub's log)."""
    if dataclasses.is_dataclass(message) and not isinstance(message, type):
        return dataclasses.asdict(message)
    return message


def _metadata_etag(entity: Mapping[str, Any]) -> str | None:
    meta = entity.get("__metadata")
    etag = meta.get("etag") if isinstance(meta, Mapping) else None
    return str(etag) if etag else None


# ---------------------------------------------------------------------- values


@cache
def property_types() -> tuple[dict[str, str], dict[str, str]]:
    """EDM types of the sales-order header and item properties (from the shipped EDMX)."""
    service = load_service(SERVICE)
    header = service.entity_type(ENTITY_SET)
    item = service.target(header, "to_Item")
    return (
        {name: prop.edm_type for name, prop in header.properties.items()},
        {name: prop.edm_type for name, prop in item.properties.items()},
    )


def _to_wire(name: str, edm_type: str | None, value: Any) -> Any:
    """A hub value as OData V2 JSON wants it (ISO dates → /Date()/, numbers → strings)."""
    if value is None or edm_type is None:
        return value
    try:
        if edm_type == "Edm.DateTime":
            return f"/Date({_millis(value)})/"
        if edm_type == "Edm.DateTimeOffset":
            return f"/Date({_millis(value)}+0000)/"
        if edm_type == "Edm.Time":
            moment = _time(value)
            return f"PT{moment.hour:02d}H{moment.minute:02d}M{moment.second:02d}S"
        if edm_type in _NUMBERS:
            return format(_decimal(value), "f")
        if edm_type in _INTEGERS:
            return int(_decimal(value))
        if edm_type == "Edm.Boolean":
            return _boolean(value)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise DataError(
            f"{name}: {str(value)[:60]!r} is not a valid {edm_type}",
            field=name,
            code="invalid_value",
            hint="fix the outbound mapping or the hub record",
        ) from exc
    return value


def _same(edm_type: str | None, hub: Any, sap: Any) -> bool:
    """Whether the hub value equals SAP's, compared as values of the EDM type.

    Empty and null are the same (SAP has no null strings). Digit-only strings are
    compared without leading zeros: SAP's ALPHA conversion stores ``1000`` as
    ``0000001000``, so the hub's form must not look like a change on every run.
    """
    if hub in (None, "") or sap in (None, ""):
        return hub in (None, "") and sap in (None, "")
    try:
        if edm_type in ("Edm.DateTime", "Edm.DateTimeOffset"):
            return _millis(hub) == _millis(sap)
        if edm_type == "Edm.Time":
            return _time(hub) == _time(sap)
        if edm_type in _NUMBERS or edm_type in _INTEGERS:
            return _decimal(hub) == _decimal(sap)
        if edm_type == "Edm.Boolean":
            return _boolean(hub) == _boolean(sap)
    except (ValueError, TypeError, ArithmeticError):
        return False
    hub_text, sap_text = str(hub), str(sap)
    if _DIGITS.match(hub_text) and _DIGITS.match(sap_text):
        return hub_text.lstrip("0") == sap_text.lstrip("0")
    return hub_text == sap_text


def _millis(value: Any) -> int:
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str) and _ISO_DATE.match(value):
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    instant = parse_wire_datetime(value)
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _time(value: Any) -> time:
    if isinstance(value, str) and not value.startswith("P"):
        return time.fromisoformat(value)
    return parse_edm_time(value)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"not a boolean: {value!r}")
