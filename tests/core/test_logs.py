"""Logs are JSON lines with secrets masked by key name and by known value."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
import structlog

from core.logs import configure_logging, get_logger, register_secret
from core.settings import CoreSettings


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(CoreSettings(log_format="json", log_level="DEBUG"))
    yield stream
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()


def test_secrets_are_masked_by_key_and_by_value(captured: io.StringIO) -> None:
    register_secret("canary-Pa55word-7731")
    log = get_logger("test")
    log.info("connecting with canary-Pa55word-7731", password="hunter2hunter2", user="sap")
    logging.getLogger("stdlib").warning("token was canary-Pa55word-7731 here")
    log.info("nested", config={"host": "sap", "client_secret": "abc123456", "n": [1]})
    text = captured.getvalue()
    assert "canary-Pa55word-7731" not in text and "hunter2" not in text and "abc123456" not in text
    lines = [orjson.loads(line) for line in text.splitlines()]
    assert lines[0]["password"] == "********" and lines[0]["user"] == "sap"
    assert lines[1]["event"] == "token was ******** here"
    assert lines[2]["config"] == {"host": "sap", "client_secret": "********", "n": [1]}


def test_newlines_in_user_input_cannot_forge_a_line(captured: io.StringIO) -> None:
    get_logger("test").info("name", name='evil\n{"level": "error", "event": "forged"}')
    assert len(captured.getvalue().splitlines()) == 1
