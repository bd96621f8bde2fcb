"""Engine and session factory for SQLite (embedded) and PostgreSQL (distributed).

SQLite runs in WAL mode with `BEGIN IMMEDIATE`, so a writer takes the lock when its
transaction starts instead of failing half-way with 'database is locked'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConfigError

READ_ONLY = "l2c_read_only"


def normalize_url(url: str) -> str:
    """Accept the common spellings and pick our drivers (psycopg 3 for PostgreSQL)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername not in {"postgresql+psycopg", "sqlite", "sqlite+pysqlite"}:
        raise ConfigError(
            f"unsupported database {parsed.drivername!r}",
            hint="L2C_DATABASE_URL must be sqlite:///path or postgresql://user@host/db",
        )
    return parsed.render_as_string(hide_password=False)


def json_dumps(value: Any) -> str:
    """JSON columns: UUIDs, dates and datetimes natively, Decimals as exact strings."""
    return orjson.dumps(value, default=str).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas and pool settings the hub relies on."""
    url = normalize_url(url)
    kwargs.setdefault("json_serializer", json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    _configure_postgres(engine)
    return engine


def _configure_postgres(engine: Engine) -> None:
    from psycopg.types.json import set_json_dumps, set_json_loads

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # COPY writes dicts into json columns through psycopg itself, not SQLAlchemy.
        set_json_dumps(json_dumps, dbapi_connection)
        set_json_loads(orjson.loads, dbapi_connection)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        readonly = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (the CLI prints them)."""
    return sessionmaker(engine, expire_on_commit=False)


def read_only_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions for reading only: on SQLite they do not take the write lock, so they
    run beside a writer (WAL) instead of waiting for it."""
    bind = sessions.kw["bind"]
    return sessionmaker(bind.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
