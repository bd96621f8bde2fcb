"""What every command needs: settings, a session factory, and one way to report errors."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, wraps
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import orjson
import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import HubError
from core.settings import CoreSettings, get_settings
from core.store.engine import make_engine, make_session_factory
from scheduler.errors import translate

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
P = ParamSpec("P")
R = TypeVar("R")

EXIT_CODES = {"config": 2, "not_found": 3, "conflict": 4, "transient": 75, "data": 65}


def settings() -> CoreSettings:
    return get_settings()


@cache
def engine() -> Engine:
    return make_engine(settings().resolved_database_url())


@cache
def sessions() -> sessionmaker[Session]:
    return make_session_factory(engine())


@contextmanager
def transaction() -> Iterator[Session]:
    with sessions().begin() as session:
        yield session


def fail(message: str, hint: str | None = None, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    if hint:
        err_console.print(f"[dim]hint:[/] {hint}")
    raise typer.Exit(code)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """User mistakes become one line with the fix; only bugs show a traceback."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except HubError as error:
            fail(error.message, error.hint, EXIT_CODES.get(error.category, 1))
        except OperationalError as error:
            detail = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            if "no such table" in detail or "does not exist" in detail:
                fail(f"the database is not initialised ({detail})", "run `l2c init` first")
            fail(f"database unavailable: {detail}", "check L2C_DATABASE_URL", 75)
        except BrokenPipeError:
            sys.stderr.close()
            raise typer.Exit(141) from None
        except Exception as error:
            translated = translate(error)  # connector errors carry the same categories
            if isinstance(translated, HubError):
                fail(translated.message, translated.hint, EXIT_CODES.get(translated.category, 1))
            raise

    return wrapper


def read_json_file(path: Path, what: str) -> Any:
    """A user's JSON file, or one line saying why it cannot be read."""
    try:
        return orjson.loads(path.read_bytes())
    except OSError as error:
        fail(f"cannot read the {what} file {path}: {error.strerror}")
    except orjson.JSONDecodeError as error:
        fail(f"the {what} file {path} is not JSON: {error}")


def parse_assignments(pairs: list[str] | None) -> dict[str, Any]:
    """`--set a.b=1` style options into a nested dict; values parse as JSON when they can."""
    import orjson

    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            fail(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            value: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = raw
        node = result
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return result
