"""BAPI conventions: RETURN messages, result values, and the ``E V1/311: text`` form.

A BAPI reports business errors in its RETURN parameter, not as a SOAP fault, and
usually with HTTP 200: a BAPIRET2 table (CREATEFROMDAT2), a single BAPIRET1 or
BAPIRETURN1 structure (GETDETAIL2, GETLIST) or a BAPIRETURN with a CODE instead of
ID/NUMBER (SALESORDER_GETLIST). Every call's RETURN is read here; TYPE E (error) and
A (abort) make the call a failure, S/W/I are kept as messages.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.sdk.errors import ConfigError, DataError

__all__ = [
    "AUTHORIZATION",
    "BapiMessage",
    "BapiResult",
    "plain",
    "record_value",
    "return_messages",
]

AUTHORIZATION = re.compile(
    r"(?i)(log\s?on|log\s?in|password|authori[sz]|not\s+authori|no\s+rfc\s+auth"
    r"|user\s+(\S+\s+)?(is\s+)?locked|unauthori[sz]ed|access\s+denied)"
)
"""Messages (fault texts, RETURN rows) that mean the SAP user lacks a logon or a role."""

ERROR_TYPES = frozenset({"E", "A"})
INITIAL_DATE = "0000-00-00"
"""How SAP serialises an empty DATS field in a date10 element."""


@dataclass(frozen=True, slots=True)
class BapiMessage:
    """One RETURN row."""

    type: str
    id: str = ""
    number: str = ""
    message: str = ""

    @property
    def is_error(self) -> bool:
        return self.type in ERROR_TYPES

    @property
    def key(self) -> tuple[str, str]:
        """(message class, number), e.g. ("F2", "718"), to recognise a known message."""
        return self.id, self.number

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id, "number": self.number, "message": self.message}

    def __str__(self) -> str:
        code = f"{self.id}/{self.number}" if self.number else self.id
        head = f"{self.type} {code}" if code else self.type
        return f"{head}: {self.message}" if self.message else head


@dataclass(frozen=True, slots=True)
class BapiResult:
    """A BAPI's output parameters (plain Python values) and its RETURN messages."""

    operation: str
    data: dict[str, Any]
    messages: list[BapiMessage] = field(default_factory=list)

    @property
    def errors(self) -> list[BapiMessage]:
        return [m for m in self.messages if m.is_error]

    def raise_for_errors(self, *, ignore: Collection[tuple[str, str]] = ()) -> None:
        """DataError carrying every E/A message, except the (class, number) in `ignore`.

        When every error is about authorization (``F2/543 No authorization to display
        ...``) the user's roles are to blame, not the record: ConfigError instead.
        """
        errors = [m for m in self.errors if m.key not in ignore]
        if errors and all(AUTHORIZATION.search(m.message) for m in errors):
            raise ConfigError(
                f"{self.operation}: " + "; ".join(str(m) for m in errors),
                field="username",
                hint="the SAP user lacks an authorization these BAPIs need (ask the SAP "
                "basis team; SU53 shows which)",
            )
        if errors:
            raise DataError(
                "; ".join(str(m) for m in errors),
                code="bapi_error",
                hint=f"{self.operation} refused the call; SAP's message says what to correct",
                operation=self.operation,
                messages=[m.as_dict() for m in self.messages],
            )


def return_messages(value: Any) -> list[BapiMessage]:
    """RETURN rows from a plain RETURN value (a structure, a table, or nothing).

    An all-blank structure is SAP's "no message" and yields nothing.
    """
    rows = value if isinstance(value, list) else [value] if isinstance(value, Mapping) else []
    messages: list[BapiMessage] = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        kind = _text(row.get("TYPE"))
        text = _text(row.get("MESSAGE"))
        if not kind and not text:
            continue
        ident = _text(row.get("ID"))
        number = _text(row.get("NUMBER"))
        if not ident and not number:  # BAPIRETURN: CODE = message class + number
            ident = _text(row.get("CODE"))
        messages.append(BapiMessage(type=kind or "?", id=ident, number=number, message=text))
    return messages


def plain(value: Any) -> Any:
    """zeep's output as JSON-compatible values, as SAP sent them.

    Table parameters (an element whose only child is the repeated ``item``) become
    lists; numbers become their decimal text (``Decimal('52.60')`` -> ``"52.60"``,
    exact); strings, including leading zeros, are untouched.
    """
    if isinstance(value, Mapping):
        if set(value) == {"item"}:
            items = value["item"]
            return [plain(item) for item in items] if items else []
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, bool):
        return "X" if value else ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex().upper()
    return value


def record_value(value: Any) -> Any:
    """A plain value as the tap emits it: empty strings and initial dates become null."""
    if isinstance(value, dict):
        return {key: record_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [record_value(item) for item in value]
    if value in ("", INITIAL_DATE):
        return None
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
