"""Connection secrets are stored encrypted, shown masked, and handed to the connector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from core.model.tables import Connection
from core.security.secrets import generate_key
from core.settings import get_settings
from core.store.engine import make_engine, make_session_factory
from scheduler.connections import resolved_config

SETTINGS = {
    "executable": "tap-example",
    "tap_config": {"user": "erp", "password": "hunter2-secret"},
    "secret_keys": ["password"],
}


def test_secrets_are_encrypted_masked_and_resolved(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("L2C_SECRET_KEY", generate_key())
    cli("init")
    added = cli(
        "connection", "add", "legacy", "--connector", "singer", "--config", json.dumps(SETTINGS)
    )
    assert added.exit_code == 0, added.stderr
    listed = cli("connection", "list")
    assert "hunter2-secret" not in listed.stdout
    assert "********" in listed.stdout
    assert b"hunter2-secret" not in (tmp_path / "hub.db").read_bytes()
    sessions = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'hub.db'}"))
    with sessions.begin() as session:
        connection = session.scalars(select(Connection)).one()
        assert connection.config["tap_config"] == {"user": "erp", "password": "********"}
        get_settings.cache_clear()
        assert resolved_config(connection)["tap_config"]["password"] == "hunter2-secret"


def test_storing_a_secret_without_a_key_says_how_to_make_one(cli) -> None:
    cli("init")
    result = cli(
        "connection", "add", "legacy", "--connector", "singer", "--config", json.dumps(SETTINGS)
    )
    assert result.exit_code == 2
    assert "L2C_SECRET_KEY is not set" in result.stderr
    assert "l2c secret-key" in result.stderr


def test_a_rotated_key_still_decrypts_old_secrets(
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = generate_key()
    monkeypatch.setenv("L2C_SECRET_KEY", old)
    cli("init")
    cli("connection", "add", "legacy", "--connector", "singer", "--config", json.dumps(SETTINGS))
    monkeypatch.setenv("L2C_SECRET_KEY", f"{generate_key()},{old}")
    get_settings.cache_clear()
    sessions = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'hub.db'}"))
    with sessions.begin() as session:
        assert (
            resolved_config(session.scalars(select(Connection)).one())["tap_config"]["password"]
            == "hunter2-secret"
        )
