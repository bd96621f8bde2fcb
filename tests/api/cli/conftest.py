from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import context
from api.cli.main import app
from core.settings import get_settings

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Result:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr


def _clear_caches() -> None:
    get_settings.cache_clear()
    context.engine.cache_clear()
    context.sessions.cache_clear()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """Invoke `l2c` in-process against a fresh SQLite store under tmp_path."""
    monkeypatch.setenv("L2C_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("L2C_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("L2C_TENANT", raising=False)
    monkeypatch.delenv("L2C_SECRET_KEY", raising=False)
    _clear_caches()
    runner = CliRunner()

    def invoke(*args: str, input_: str | bytes | None = None) -> Result:
        _clear_caches()
        outcome = runner.invoke(app, list(args), input=input_, catch_exceptions=False)
        return Result(outcome.exit_code, ANSI.sub("", outcome.stdout), ANSI.sub("", outcome.stderr))

    yield invoke
    context.engine().dispose()
    _clear_caches()
