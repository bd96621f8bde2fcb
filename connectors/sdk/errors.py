"""The connector error taxonomy, organised by who must act and how to recover.

    ConnectorError
    ├── ConfigError      the user fixes a setting (``field`` names it); no retry
    ├── TransientError   timeouts, lost connections, a file still being written; retry later
    └── DataError        one record is bad; quarantine it and go on

Connectors cannot import ``core`` (the import contract forbids it), so this is a
separate hierarchy. The ``category`` strings are the same as ``core.errors`` so the
composition root (scheduler/) translates one into the other by category alone.
Anything else a connector raises is a bug: fail loudly.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["ConfigError", "ConnectorError", "DataError", "TransientError"]


class ConnectorError(Exception):
    """Base of every error a user or the hub can act on. `hint` says how to fix it."""

    category: ClassVar[str] = "bug"

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(ConnectorError):
    """A setting is wrong or the system refuses it; the user must change the config.

    `field` is the dotted path of the offending setting (``streams[1].pattern``) so
    the console can put the message next to the right input.
    """

    category = "config"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        hint: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, hint=hint, **details)
        self.field = field


class TransientError(ConnectorError):
    """Worth retrying later unchanged. `retry_after` (seconds) when the system says so."""

    category = "transient"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        retry_after: float | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, hint=hint, **details)
        self.retry_after = retry_after


class DataError(ConnectorError):
    """One record cannot be read or written as it is. `field` names it when known."""

    category = "data"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str = "invalid",
        hint: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, hint=hint, **details)
        self.field = field
        self.code = code
