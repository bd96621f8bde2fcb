"""IDoc-XML <-> records.

An IDoc-XML document (SAP's "XML file" port, WE21) looks like::

    <ORDERS05>                      root = IDoc type (or the extension type)
      <IDOC BEGIN="1">              one per IDoc; a file may hold several
        <EDI_DC40 SEGMENT="1">      control record: DOCNUM, IDOCTYP, MESTYP, CREDAT, ...
        <E1EDK01 SEGMENT="1">       data segments: fields as child elements,
          <CURCY>CNY</CURCY>        child segments nested in their parent
        ...

A record is the IDoc with its control values lifted to the top (``DOCNUM``,
``IDOCTYP``, ``MESTYP``, ``CIMTYP``, ``_created_at``), the whole control record under
``EDI_DC40`` and every data segment as a key whose value is **always a list** of
dicts (segments repeat; a mapping never has to ask whether it got one or many).
Values stay the strings SAP wrote: ``"000010"`` is not ``10``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from lxml import etree

from connectors.sap.xml import parse_xml
from connectors.sdk.errors import DataError

__all__ = [
    "CONTROL_FIELDS",
    "build_idoc",
    "docnum_for_key",
    "read_idocs",
]

CONTROL_FIELDS = (
    "TABNAM",
    "MANDT",
    "DOCNUM",
    "DOCREL",
    "STATUS",
    "DIRECT",
    "OUTMOD",
    "EXPRSS",
    "TEST",
    "IDOCTYP",
    "CIMTYP",
    "MESTYP",
    "MESCOD",
    "MESFCT",
    "STD",
    "STDVRS",
    "STDMES",
    "SNDPOR",
    "SNDPRT",
    "SNDPFC",
    "SNDPRN",
    "SNDSAD",
    "SNDLAD",
    "RCVPOR",
    "RCVPRT",
    "RCVPFC",
    "RCVPRN",
    "RCVSAD",
    "RCVLAD",
    "CREDAT",
    "CRETIM",
    "REFINT",
    "REFGRP",
    "REFMES",
    "ARCKEY",
    "SERIAL",
)
"""EDI_DC40 fields in SAP's order; written in this order, unknown ones after them."""

_LIFTED = ("DOCNUM", "IDOCTYP", "MESTYP", "CIMTYP")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


# ------------------------------------------------------------------ reading


def read_idocs(data: bytes, *, file: str, timezone: tzinfo) -> list[dict[str, Any]]:
    """The IDocs of one IDoc-XML file as records (``_file`` = `file`).

    `timezone` is the SAP system's: CREDAT/CRETIM are its local time and become
    ``_created_at``, an ISO-8601 UTC string. Raises DataError when the file is not
    IDoc-XML (not well-formed, a DTD, no ``IDOC``, no control record, no DOCNUM).
    """
    root = parse_xml(data, what=f"IDoc file {file}")
    idocs = [child for child in root if isinstance(child.tag, str) and _local(child) == "IDOC"]
    if not idocs:
        raise DataError(
            f"IDoc file {file}: root <{_local(root)}> holds no <IDOC> element",
            code="not_idoc",
            hint='expected SAP IDoc-XML: <ORDERS05><IDOC BEGIN="1"><EDI_DC40 ...',
        )
    return [_record(idoc, index, file, timezone) for index, idoc in enumerate(idocs, start=1)]


def _record(idoc: etree._Element, index: int, file: str, timezone: tzinfo) -> dict[str, Any]:
    where = f"IDoc file {file}, IDoc {index}"
    segments = [child for child in idoc if isinstance(child.tag, str)]
    control_element = next((s for s in segments if _local(s) == "EDI_DC40"), None)
    if control_element is None:
        raise DataError(
            f"{where}: no EDI_DC40 control record",
            code="not_idoc",
            hint='every <IDOC> must start with <EDI_DC40 SEGMENT="1">',
        )
    control = _fields_only(control_element, where)
    missing = [name for name in ("DOCNUM", "IDOCTYP", "MESTYP") if not control.get(name)]
    if missing:
        raise DataError(
            f"{where}: control record lacks {', '.join(missing)}",
            code="not_idoc",
            hint="SAP fills DOCNUM, IDOCTYP and MESTYP in every IDoc; check the sender",
        )
    record: dict[str, Any] = {name: control.get(name) for name in _LIFTED}
    record["DOCNUM"] = control["DOCNUM"].strip()
    record["_created_at"] = created_at(control.get("CREDAT"), control.get("CRETIM"), timezone)
    record["EDI_DC40"] = control
    for segment in segments:
        if segment is control_element:
            continue
        record.setdefault(_local(segment), []).append(_segment(segment, where))
    record["_file"] = file
    return record


def _segment(element: etree._Element, where: str) -> dict[str, Any]:
    """Fields (leaf elements) as strings, child segments as lists, in document order."""
    result: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):  # comments, processing instructions
            continue
        name = _local(child)
        if _is_segment(child):
            existing = result.setdefault(name, [])
            if not isinstance(existing, list):
                raise _clash(where, _local(element), name)
            existing.append(_segment(child, where))
        else:
            if name in result:
                raise _clash(where, _local(element), name)
            result[name] = child.text or ""
    return result


def _fields_only(element: etree._Element, where: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for child in element:
        if isinstance(child.tag, str):
            name = _local(child)
            if name in fields or _is_segment(child):
                raise _clash(where, "EDI_DC40", name)
            fields[name] = child.text or ""
    return fields


def _is_segment(element: etree._Element) -> bool:
    """A segment carries SEGMENT="1" or has child elements; a field is text only."""
    return "SEGMENT" in element.attrib or any(isinstance(c.tag, str) for c in element)


def _clash(where: str, segment: str, name: str) -> DataError:
    return DataError(
        f"{where}: {name} appears more than once in {segment} (or as field and segment)",
        code="not_idoc",
        field=name,
        hint="a field occurs once per segment in IDoc-XML; check the sender's export",
    )


def _local(element: etree._Element) -> str:
    return str(etree.QName(element).localname)


def created_at(credat: str | None, cretim: str | None, timezone: tzinfo) -> str | None:
    """CREDAT ``YYYYMMDD`` + CRETIM ``HHMMSS`` (SAP local time) -> ``...Z``; None if absent."""
    if not credat or not credat.strip():
        return None
    date_text = credat.strip()
    time_text = (cretim or "").strip() or "000000"
    try:
        local = datetime.strptime(date_text + time_text, "%Y%m%d%H%M%S")  # noqa: DTZ007
    except ValueError:
        raise DataError(
            f"CREDAT/CRETIM {date_text!r}/{time_text!r} is not a date YYYYMMDD and time HHMMSS",
            code="invalid",
            field="EDI_DC40.CREDAT",
            hint="check the control record the sender wrote",
        ) from None
    utc = local.replace(tzinfo=timezone).astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ writing


def docnum_for_key(key: str) -> str:
    """A 16-digit DOCNUM derived from `key`: the same key always gives the same number."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return f"{digest % 10**16:016d}"


def build_idoc(idoc_type: str, control: Mapping[str, Any], segments: Mapping[str, Any]) -> bytes:
    """One IDoc-XML document (UTF-8, with XML declaration) holding one IDoc.

    `control` fills EDI_DC40 (written first, in SAP's field order; empty values
    left out); `segments` maps segment names to a list of dicts (a single dict is
    taken as a list of one), each dict holding fields (strings, ints, Decimals) and
    child segments (lists of dicts), written in the dict's order. Keys starting with
    ``_`` and the lifted control values of a read record (``DOCNUM``, ``IDOCTYP``,
    ``MESTYP``, ``CIMTYP``, ``EDI_DC40``) are not segments and are skipped, so a
    record read by `read_idocs` can be written back. Raises DataError for a name or
    value IDoc-XML cannot carry.
    """
    root = etree.Element(_name(idoc_type, "IDoc type"))
    idoc = etree.SubElement(root, "IDOC", BEGIN="1")
    header = etree.SubElement(idoc, "EDI_DC40", SEGMENT="1")
    ordered = [n for n in CONTROL_FIELDS if n in control] + [
        n for n in control if n not in CONTROL_FIELDS
    ]
    for name in ordered:
        text = _text(control[name], f"EDI_DC40.{name}")
        if text:
            _set_text(etree.SubElement(header, _name(name, "control field")), text, name)
    for name, value in segments.items():
        if name.startswith("_") or name in (*_LIFTED, "EDI_DC40"):
            continue
        _append_segments(idoc, name, value, name)
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data


def _append_segments(parent: etree._Element, name: str, value: Any, path: str) -> None:
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise DataError(
            f"segment {path} must be a list of objects, not {type(value).__name__}",
            code="invalid",
            field=path,
            hint='write segments as lists: {"E1EDK01": [{"CURCY": "CNY"}]}',
        )
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise DataError(
                f"segment {path}[{position}] must be an object, not {type(item).__name__}",
                code="invalid",
                field=f"{path}[{position}]",
            )
        element = etree.SubElement(parent, _name(name, "segment"), SEGMENT="1")
        for key, child in item.items():
            child_path = f"{path}[{position}].{key}"
            if isinstance(child, Mapping) or (
                isinstance(child, Sequence) and not isinstance(child, str | bytes)
            ):
                _append_segments(element, key, child, child_path)
            else:
                text = _text(child, child_path)
                if text is not None:
                    _set_text(etree.SubElement(element, _name(key, "field")), text, child_path)


def _set_text(element: etree._Element, text: str, path: str) -> None:
    try:
        element.text = text
    except ValueError:  # NUL and other control characters XML 1.0 cannot carry
        raise DataError(
            f"{path}: the value holds characters XML cannot carry (control characters)",
            code="invalid",
            field=path,
            hint="remove control characters from the value",
        ) from None


def _text(value: Any, path: str) -> str | None:
    """A field value as IDoc text; None (omit the field) for None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise DataError(
            f"{path}: booleans have no IDoc form",
            code="invalid",
            field=path,
            hint="map it to the flag SAP expects, usually 'X' or ''",
        )
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if not number.is_finite():
            raise DataError(f"{path}: {value} is not a number SAP accepts", field=path)
        return format(number, "f")
    raise DataError(
        f"{path}: a {type(value).__name__} cannot be an IDoc field value",
        code="invalid",
        field=path,
        hint="fields are text; nested objects must be segments (lists of objects)",
    )


def _name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.lower().startswith("xml"):
        raise DataError(
            f"{name!r} is not a valid IDoc {what} name",
            code="invalid",
            field=str(name),
            hint="use SAP's names as in WE60, e.g. E1EDK01 or BELNR "
            "(a '/' in a namespaced segment is written as '_-')",
        )
    return name
