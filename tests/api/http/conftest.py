"""An API client per tenant against a migrated store (SQLite file or PostgreSQL)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.http.app import create_app
from core.settings import CoreSettings
from tests.api.http.support import SECRET_KEY, Caller, make_caller


@pytest.fixture
def api_settings(engine: Engine, tmp_path, monkeypatch: pytest.MonkeyPatch) -> CoreSettings:
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("L2C_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("L2C_DATABASE_URL", url)
    monkeypatch.setenv("L2C_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("L2C_URL_ALLOWLIST", '["127.0.0.0/8"]')
    monkeypatch.setenv("L2C_FILES_ROOT", str(tmp_path))  # the tests' folders
    monkeypatch.setenv("L2C_SINGER_EXECUTABLES", orjson.dumps([sys.executable]).decode())
    from core.settings import get_settings

    get_settings.cache_clear()
    return CoreSettings()


@pytest.fixture
def app(api_settings: CoreSettings):  # type: ignore[no-untyped-def]
    return create_app(api_settings, configure_logs=False)


@pytest.fixture
def alice(app, sessions: sessionmaker[Session]) -> Iterator[Caller]:  # type: ignore[no-untyped-def]
    """Tenant `alice` with an admin key (the client runs the app's lifespan)."""
    caller = make_caller(app, sessions, "alice")
    with caller.client:
        yield caller


@pytest.fixture
def bob(app, sessions: sessionmaker[Session]) -> Iterator[Caller]:  # type: ignore[no-untyped-def]
    """Tenant `bob`, the other tenant of isolation tests."""
    caller = make_caller(app, sessions, "bob")
    with caller.client:
        yield caller


@pytest.fixture
def anonymous(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        yield client
