"""The error taxonomy, organised by who must act and how to recover.

    HubError
    ├── ConfigError      the user fixes settings, a mapping or a connection; no retry
    ├── TransientError   timeouts, lost connections, locks; retry later
    ├── DataError        one record is bad; quarantine it and go on
    ├── NotFoundError    the named thing does not exist (in this tenant)
    ├── ConflictError    the operation clashes with current state (e.g. a run in progress)
    └── ForbiddenError   the acting user may not do this (e.g. claim from a pool they are not in)

Anything else is a bug: fail loudly. HTTP and the CLI each map these once.
"""

from __future__ import annotations

from typing import Any, ClassVar


class HubError(Exception):
    """Base of every error a user can act on. `hint` says how to fix it."""

    category: ClassVar[str] = "bug"

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(HubError):
    category = "config"


class TransientError(HubError):
    category = "transient"


class DataError(HubError):
    """A record cannot be stored as it is. `field` names the offending field when known."""

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


class NotFoundError(HubError):
    category = "not_found"


class ConflictError(HubError):
    category = "conflict"


class ForbiddenError(HubError):
    """The acting user lacks the role the operation needs; the hint names who may."""

    category = "forbidden"
