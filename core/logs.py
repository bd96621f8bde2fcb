"""Structured logs: one JSON object per line in services, readable lines in a terminal.

Every record passes a redaction step: values under secret-looking keys are masked, and
any registered secret value (API keys, connection passwords, signing secrets seen by
this process) is replaced wherever it appears, even inside a message. CR/LF in strings
are escaped by the JSON renderer, so user input cannot forge a log line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

from core.security.secrets import REDACTED
from core.settings import CoreSettings

SECRET_KEYS = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|authorization|credential|signature|cookie",
    re.IGNORECASE,
)
_known: set[str] = set()


def register_secret(*values: str | None) -> None:
    """Make this process mask these values wherever they show up in a log record."""
    _known.update(v for v in values if v and len(v) >= 6)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _known:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_key(k) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and bool(SECRET_KEYS.search(key))


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        event[key] = REDACTED if _is_secret_key(key) else _scrub(value)
    return event


def _shared() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        structlog.processors.format_exc_info,
        redact,
    ]


def configure_logging(settings: CoreSettings, *, quiet: Iterable[str] = ()) -> None:
    """Route stdlib and structlog records through one redacting renderer on stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*_shared(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    if settings.secret_key is not None:
        register_secret(*settings.secret_key.get_secret_value().split(","))


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
