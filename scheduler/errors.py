"""Translate connector and third-party errors into core's taxonomy, in one place."""

from __future__ import annotations

from core import errors as core_errors

_BY_CATEGORY: dict[str, type[core_errors.HubError]] = {
    "config": core_errors.ConfigError,
    "transient": core_errors.TransientError,
    "data": core_errors.DataError,
}


def translate(error: BaseException) -> BaseException:
    """Connector errors carry a `category`; map them to the core class of that category."""
    if isinstance(error, core_errors.HubError):
        return error
    category = getattr(error, "category", None)
    target = _BY_CATEGORY.get(category) if isinstance(category, str) else None
    if target is None:
        target = _singer_sdk_error(error)
    if target is None:
        return error
    message = getattr(error, "message", None) or str(error)
    translated = target(message, hint=getattr(error, "hint", None))
    translated.__cause__ = error
    return translated


def _singer_sdk_error(error: BaseException) -> type[core_errors.HubError] | None:
    from singer_sdk.exceptions import ConfigValidationError, RetriableAPIError

    if isinstance(error, ConfigValidationError):
        return core_errors.ConfigError
    if isinstance(error, RetriableAPIError | TimeoutError | ConnectionError):
        return core_errors.TransientError
    return None
