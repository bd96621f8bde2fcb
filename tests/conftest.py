"""Shared fixtures: databases on both dialects, a tenant, a connection.

PostgreSQL tests use the real server on 127.0.0.1:5432 (override with
L2C_TEST_POSTGRES_URL). When it is unreachable they are skipped with the reason —
unless L2C_REQUIRE_SERVICES=1 (as in CI), where they fail.
"""

from __future__ import annotations

import os
import sys
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from core.model.tables import Base, Connection, SyncJob, Tenant
from core.store.engine import make_engine, make_session_factory
from core.store.migrate import upgrade

# pyodata's wheel installs a top-level `tests` package into site-packages, and a regular
# package beats this suite's namespace package `tests`: claim the name before any test
# module runs `from tests.conftest import ...`.
if getattr(sys.modules.get("tests"), "__path__", None) != [str(Path(__file__).parent)]:
    _suite = types.ModuleType("tests")
    _suite.__path__ = [str(Path(__file__).parent)]
    sys.modules["tests"] = _suite

PG_ADMIN_URL = os.environ.get(
    "L2C_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("L2C_REQUIRE_SERVICES") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def postgres_unavailable() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.OperationalError as error:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(error).strip()}"


def require_postgres() -> None:
    reason = postgres_unavailable()
    if reason is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"L2C_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


REDIS_URL = os.environ.get("L2C_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
"""A Redis database of the tests' own (flushed by the tests that use it)."""


def redis_unavailable() -> str | None:
    import redis

    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3) as client:
            client.ping()
    except redis.RedisError as error:
        return f"Redis not reachable at {REDIS_URL}: {str(error).strip()}"
    return None


def require_redis() -> None:
    reason = redis_unavailable()
    if reason is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"L2C_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    require_postgres()
    name = f"l2c_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The test session's database (tests using `engine` wipe it before they start)."""
    with scratch_postgres_database() as url:
        yield url


@pytest.fixture
def own_postgres_url() -> Iterator[str]:
    """A database of this test alone (whole-process tests that count every row)."""
    with scratch_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def _pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _wipe(engine: Engine) -> None:
    names = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in names:
                connection.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'l2c.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
    else:
        engine = request.getfixturevalue("_pg_engine")
        _wipe(engine)
        yield engine


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def tenant(sessions: sessionmaker[Session]) -> Tenant:
    with sessions.begin() as session:
        tenant = Tenant(slug="acme", name="Acme")
        session.add(tenant)
    return tenant


@pytest.fixture
def connection(sessions: sessionmaker[Session], tenant: Tenant) -> Connection:
    with sessions.begin() as session:
        connection = Connection(tenant_id=tenant.id, name="erp", connector="files", config={})
        session.add(connection)
    return connection


@pytest.fixture
def job(sessions: sessionmaker[Session], tenant: Tenant, connection: Connection) -> SyncJob:
    with sessions.begin() as session:
        job = SyncJob(
            tenant_id=tenant.id, name="erp-accounts", connection_id=connection.id, mappings=[]
        )
        session.add(job)
    return job
