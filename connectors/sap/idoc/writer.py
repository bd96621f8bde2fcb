"""`IdocWriter`: orders to SAP as ORDERS05 IDoc-XML files in SAP's inbound folder.

Objects: ``orders05`` (payload = the IDoc's data segments, e.g. ``{"E1EDK01": [...],
"E1EDKA1": [...], "E1EDK02": [{"QUALF": "001", "BELNR": "<our order number>"}],
"E1EDP01": [...]}``) and ``idoc`` (any type: the payload also names ``IDOCTYP`` and
``MESTYP``, optionally ``CIMTYP``). The control record is ours: DIRECT 2 (inbound to
SAP), sender/receiver from the settings, CREDAT/CRETIM now in the SAP time zone, a
DOCNUM derived from the idempotency key.

Idempotent by name: the file is ``<IDOCTYP>_<idempotency_key>.xml``, written as
``.<name>.tmp`` and renamed, so SAP never sees half a file. If the name already
exists in `outbound_dir` (not yet picked up) or `outbound_processed_dir` (SAP's
folder for processed files, when configured), nothing is written:
``WriteResult(created=False)``. The remote id is the file name; SAP assigns its own
order number, which comes back in an ORDRSP (or ORDERS) IDoc on the `orders` stream
whose E1EDK02 with QUALF 001 carries our order number in BELNR.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from contextlib import ExitStack, suppress
from datetime import datetime
from typing import Any

from connectors.sap.idoc.config import IdocConfig, parse_config
from connectors.sap.idoc.idoc import build_idoc, docnum_for_key
from connectors.sap.idoc.sftp import SftpSession, connect
from connectors.sdk.errors import ConfigError, DataError, TransientError
from connectors.sdk.writer import WriteRequest, WriteResult

__all__ = ["OBJECTS", "IdocWriter", "file_name"]

OBJECTS = ("orders05", "idoc")
_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,29}")
# Control fields the writer owns; a payload's EDI_DC40 may add others (MESCOD, SNDPFC...).
_OWNED_CONTROL = ("TABNAM", "DOCNUM", "DIRECT", "IDOCTYP", "CIMTYP", "MESTYP", "CREDAT", "CRETIM")


def file_name(idoc_type: str, idempotency_key: str) -> str:
    """``ORDERS05_<key>.xml``: the same key always names the same file."""
    return f"{idoc_type}_{idempotency_key}.xml"


class IdocWriter:
    """Writes one IDoc file per request over one SFTP session (reopened after a failure)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.settings: IdocConfig = parse_config(config)
        if not self.settings.outbound_dir:
            raise ConfigError(
                "outbound_dir is not set",
                field="outbound_dir",
                hint="set the folder SAP's inbound IDoc job reads files from",
            )
        for side in ("sender", "receiver"):
            partner = getattr(self.settings, side)
            if not partner.port or not partner.partner_number:
                raise ConfigError(
                    f"{side} port and partner number are needed to write IDocs",
                    field=f"{side}.partner_number" if partner.port else f"{side}.port",
                    hint="use the values of the partner profile (WE20) and port (WE21) "
                    "SAP set up for the hub",
                )
        self._stack = ExitStack()
        self._session: SftpSession | None = None

    def upsert(self, request: WriteRequest) -> WriteResult:
        if request.object not in OBJECTS:
            raise ConfigError(
                f"sap_idoc cannot write {request.object!r} objects",
                hint=f"use one of: {', '.join(OBJECTS)}",
            )
        if not _KEY.fullmatch(request.idempotency_key):
            raise DataError(
                "the idempotency key must be 1-64 letters, digits, '_' or '-'",
                field="idempotency_key",
                hint="it becomes part of the file name",
            )
        payload = dict(request.payload)
        idoc_type, message_type, extension = self._types(request.object, payload)
        name = file_name(idoc_type, request.idempotency_key)
        if request.remote_id:
            # Already sent: ORDERS05 creates; a second file would be a second order.
            return WriteResult(
                remote_id=request.remote_id,
                created=False,
                status="sent",
                details={"note": "already sent; changes after sending are not transmitted"},
            )
        docnum = docnum_for_key(request.idempotency_key)
        control = self._control(payload.get("EDI_DC40"), idoc_type, message_type, extension)
        control["DOCNUM"] = docnum
        data = build_idoc(extension or idoc_type, control, payload)
        try:
            created = self._write(name, data)
        except TransientError:
            self.close()  # the session may be broken: reconnect on the next call
            raise
        return WriteResult(
            remote_id=name,
            created=created,
            status="sent",
            details={"file": name, "DOCNUM": docnum, "IDOCTYP": idoc_type, "MESTYP": message_type},
        )

    def close(self) -> None:
        self._session = None
        self._stack.close()

    # -------------------------------------------------------------- internals

    def _types(self, obj: str, payload: dict[str, Any]) -> tuple[str, str, str | None]:
        if obj == "orders05":
            for segment in ("E1EDK01", "E1EDP01"):
                if not payload.get(segment):
                    raise DataError(
                        f"an ORDERS05 order needs segment {segment}",
                        field=segment,
                        hint="E1EDK01 holds the header (currency, order type), E1EDP01 "
                        "one entry per item",
                    )
            idoc_type = str(payload.pop("IDOCTYP", None) or "ORDERS05")
            message_type = str(payload.pop("MESTYP", None) or "ORDERS")
        else:
            idoc_type = str(payload.pop("IDOCTYP", None) or "")
            message_type = str(payload.pop("MESTYP", None) or "")
        extension = payload.pop("CIMTYP", None) or None
        for field, value in (("IDOCTYP", idoc_type), ("MESTYP", message_type)):
            if not _TYPE.fullmatch(value):
                raise DataError(
                    f"{field} {value!r} is not an IDoc type name",
                    field=field,
                    hint="e.g. IDOCTYP ORDERS05 and MESTYP ORDERS",
                )
        if extension is not None and not _TYPE.fullmatch(str(extension)):
            raise DataError(f"CIMTYP {extension!r} is not an IDoc type name", field="CIMTYP")
        return idoc_type, message_type, str(extension) if extension else None

    def _control(
        self, extra: Any, idoc_type: str, message_type: str, extension: str | None
    ) -> dict[str, Any]:
        settings = self.settings
        now = datetime.now(settings.timezone)
        control: dict[str, Any] = {
            key: value
            for key, value in (extra.items() if isinstance(extra, Mapping) else ())
            if key not in _OWNED_CONTROL
        }
        control.update(
            {
                "TABNAM": "EDI_DC40",
                "DIRECT": "2",
                "IDOCTYP": idoc_type,
                "CIMTYP": extension,
                "MESTYP": message_type,
                "SNDPOR": settings.sender.port,
                "SNDPRT": settings.sender.partner_type,
                "SNDPRN": settings.sender.partner_number,
                "RCVPOR": settings.receiver.port,
                "RCVPRT": settings.receiver.partner_type,
                "RCVPRN": settings.receiver.partner_number,
                "CREDAT": now.strftime("%Y%m%d"),
                "CRETIM": now.strftime("%H%M%S"),
            }
        )
        if settings.sap_client:
            control["MANDT"] = settings.sap_client
        return control

    def _write(self, name: str, data: bytes) -> bool:
        """Write `name` unless it exists; temp name, then rename. True if written."""
        session = self._open()
        outbound = self.settings.outbound_dir
        assert outbound is not None
        target = posixpath.join(outbound, name)
        if session.exists(target, setting="outbound_dir"):
            return False
        processed = self.settings.outbound_processed_dir
        if processed and session.exists(
            posixpath.join(processed, name), setting="outbound_processed_dir"
        ):
            return False
        temp = posixpath.join(outbound, f".{name}.tmp")
        try:
            session.write(temp, data, setting="outbound_dir")
            session.replace(temp, target, setting="outbound_dir")
        except BaseException:
            # If the connection is gone the temp file stays; the next write overwrites it.
            with suppress(TransientError, ConfigError):
                session.remove(temp, setting="outbound_dir")
            raise
        return True

    def _open(self) -> SftpSession:
        if self._session is None:
            self._session = self._stack.enter_context(connect(self.settings))
        return self._session
