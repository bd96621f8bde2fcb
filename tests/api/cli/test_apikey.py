"""`l2c apikey`: a key is printed once, authenticates, is never listed, and revoking it
makes it fail."""

from __future__ import annotations

import re
from pathlib import Path

from core.security.apikeys import authenticate
from core.store.engine import make_engine, make_session_factory

KEY = re.compile(r"l2c_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}")


def valid(tmp_path: Path, key: str) -> frozenset[str] | None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        with make_session_factory(engine)() as session:
            principal = authenticate(session, key)
            return principal.scopes if principal else None
    finally:
        engine.dispose()


def test_a_key_is_shown_once_authenticates_and_can_be_revoked(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("init").exit_code == 0
    created = cli("apikey", "create", "crm-sync", "--scope", "write", "--expires-in-days", "30")
    assert created.exit_code == 0, created.stderr
    (key,) = KEY.findall(created.stdout)
    assert "not shown again" in created.stdout
    assert valid(tmp_path, key) == {"write", "read"}

    listed = cli("apikey", "list")
    assert listed.exit_code == 0
    prefix = key.split("_")[1]
    assert "crm-sync" in listed.stdout and f"l2c_{prefix}_…" in listed.stdout
    assert key.split("_")[2] not in listed.stdout and not KEY.search(listed.stdout)
    assert "never" in listed.stdout  # not used yet

    revoked = cli("apikey", "revoke", prefix)
    assert revoked.exit_code == 0 and "revoked crm-sync" in revoked.stdout
    assert valid(tmp_path, key) is None
    assert cli("apikey", "revoke", "crm-sync").exit_code == 0  # twice is harmless


def test_scopes_and_names_are_checked(cli) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    bad = cli("apikey", "create", "x", "--scope", "root")
    assert bad.exit_code == 2 and "unknown scope(s): root" in bad.stderr
    assert "choose from admin, write, read, webhook" in bad.stderr
    missing = cli("apikey", "revoke", "nope")
    assert missing.exit_code == 3 and "l2c apikey list" in missing.stderr
