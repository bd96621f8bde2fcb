"""`parse_xml`: the one way the SAP connectors read XML that came from outside.

IDoc files, SOAP bodies and partner drops are attacker-reachable input, so the
parser never expands entities, never loads a DTD, never touches the network and
keeps libxml2's size limits (``huge_tree=False``). On top of that, any document
carrying a ``<!DOCTYPE>`` at all is refused: SAP never sends one, and a DTD is the
vehicle of XXE (``<!ENTITY x SYSTEM "file:///etc/passwd">``) and of entity-expansion
bombs ("billion laughs"). Refusing it outright beats reasoning about which parts of
it were harmless.
"""

from __future__ import annotations

import re

from lxml import etree

from connectors.sdk.errors import DataError

__all__ = ["parse_xml"]

_LOCATION = re.compile(r",? line \d+, column \d+$")


def _parser() -> etree.XMLParser:
    """A fresh parser per call: lxml parsers must not be shared between threads."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse_xml(data: bytes, *, what: str) -> etree._Element:
    """Parse `data` safely and return its root element.

    `what` names the document in messages ("IDoc file inbound/DEBMAS_1.xml").
    Raises DataError (code ``dtd`` or ``malformed``) when the document carries a
    DTD or is not well-formed XML; the message says where and what to do.
    """
    if not data.strip():
        raise DataError(
            f"{what} is empty",
            code="malformed",
            hint="the sender wrote nothing, or the file was truncated; send it again",
        )
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno, 0)
        reason = _LOCATION.sub("", str(exc.msg or exc)).strip() or "syntax error"
        raise DataError(
            f"{what} is not well-formed XML: {reason} (line {line}, column {column})",
            code="malformed",
            hint="fix the file at that position or ask the sender to export it again",
            line=line,
            column=column,
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise DataError(
            f"{what} contains a DTD, which is refused: a <!DOCTYPE> can declare entities "
            "that read local files or expand without bound",
            code="dtd",
            hint="SAP does not write DTDs into IDoc-XML or SOAP; remove the <!DOCTYPE> "
            "declaration and check where the document came from",
        )
    return root
