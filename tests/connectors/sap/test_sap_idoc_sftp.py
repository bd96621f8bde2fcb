"""sap_idoc's SFTP side against a real SFTP server on 127.0.0.1: pinned host keys, logins,
folder errors, and `check`."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from paramiko.hostkeys import HostKeys

from connectors.sap.idoc import CONNECTOR
from connectors.sap.idoc.config import parse_config
from connectors.sap.idoc.sftp import connect
from connectors.sdk.errors import ConfigError, TransientError
from tests.connectors.sap.sftp_server import (
    KEY_USER,
    PASSWORD,
    SftpTestServer,
    drop,
    drop_fixture,
    idoc_config,
    make_folders,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_folders(tmp_path / "sftp")


@pytest.fixture
def server(root: Path) -> Iterator[SftpTestServer]:
    with SftpTestServer(root) as running:
        yield running


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of its own: proves nothing is read from or written to ~/.ssh."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def open_session(config: dict[str, Any]) -> list[str]:
    with connect(parse_config(config)) as session:
        return [f.name for f in session.list_files("/inbound", setting="inbound_dir")]


def other_key_line(algorithm: str = "ssh-ed25519") -> str:
    return str(asyncssh.generate_private_key(algorithm).export_public_key().decode().strip())


# ------------------------------------------------------------------ host keys


def test_password_login_with_pinned_key_lists_the_folder(
    server: SftpTestServer, root: Path
) -> None:
    drop_fixture(root, "INVOIC02_0000000000502001.xml")
    assert open_session(idoc_config(server)) == ["INVOIC02_0000000000502001.xml"]


def test_known_hosts_line_with_another_host_name_pins_the_same_key(
    server: SftpTestServer,
) -> None:
    lines = f"# scanned earlier\nsftp.example.com {server.host_key_line} sap-file-port\n"
    assert open_session(idoc_config(server, host_keys=lines)) == []
    hashed = f"{HostKeys.hash_host('[sftp.example.com]:2222')} {server.host_key_line}"
    assert open_session(idoc_config(server, host_keys=[hashed])) == []


def test_wrong_host_key_is_refused_showing_the_offered_fingerprint(
    server: SftpTestServer, isolated_home: Path
) -> None:
    config = idoc_config(server, host_keys=[other_key_line()])
    with pytest.raises(ConfigError) as caught:
        open_session(config)
    assert caught.value.field == "host_keys"
    assert f"ssh-ed25519 {server.host_key_fingerprint}" in caught.value.message
    assert "not connecting" in caught.value.message
    assert server.logins == 0  # refused before any credential was sent
    assert not (isolated_home / ".ssh").exists()


def test_unknown_host_key_is_never_added(server: SftpTestServer, isolated_home: Path) -> None:
    """Only an ECDSA key is pinned; the server offers ed25519: refused, twice, nothing saved."""
    config = idoc_config(server, host_keys=other_key_line("ecdsa-sha2-nistp256"))
    for _ in range(2):
        with pytest.raises(ConfigError) as caught:
            open_session(config)
        assert caught.value.field == "host_keys"
        assert server.host_key_fingerprint in caught.value.message
    assert server.logins == 0
    assert not (isolated_home / ".ssh").exists()
    assert list(isolated_home.iterdir()) == []


@pytest.mark.parametrize(
    ("host_keys", "problem"),
    [
        ("ssh-ed25519 not-base64!", "not base64"),
        ("ssh-unknown AAAAB3NzaC1yc2E=", "not supported"),
        ("@cert-authority *.example.com ssh-ed25519 AAAA", "markers"),
        ("# only a comment", "holds no key"),
    ],
)
def test_unusable_host_keys_are_a_config_error(host_keys: str, problem: str) -> None:
    config = {
        "host": "sftp.example.com",
        "username": "u",
        "password": "p",
        "host_keys": host_keys,
        "inbound_dir": "in",
        "archive_dir": "archive",
        "error_dir": "error",
    }
    with pytest.raises(ConfigError, match=problem) as caught:
        CONNECTOR.validate_config(config)
    assert caught.value.field == "host_keys"


# ------------------------------------------------------------------ logins


def test_private_key_login(server: SftpTestServer) -> None:
    config = idoc_config(server, username=KEY_USER, password=None)
    config["private_key"] = server.client_key_text
    del config["password"]
    assert open_session(config) == []


def test_encrypted_private_key_needs_its_passphrase(server: SftpTestServer) -> None:
    # few KDF rounds: the default (bcrypt, 128 rounds) costs about a second per load
    text = server.client_key.export_private_key(
        "openssh", passphrase="pass-phrase", rounds=2, ignore_few_rounds=True
    ).decode()
    config = idoc_config(server, username=KEY_USER, private_key=text)
    del config["password"]
    with pytest.raises(ConfigError, match="set its passphrase") as missing:
        open_session(config)
    assert missing.value.field == "private_key_passphrase"
    with pytest.raises(ConfigError, match="cannot be read") as wrong:
        open_session({**config, "private_key_passphrase": "wrong"})
    assert wrong.value.field == "private_key_passphrase"
    assert open_session({**config, "private_key_passphrase": "pass-phrase"}) == []


def test_refused_password_names_the_setting_and_hides_it(server: SftpTestServer) -> None:
    with pytest.raises(ConfigError) as caught:
        open_session(idoc_config(server, password="wrong-Pa55word"))
    assert caught.value.field == "password"
    assert "wrong-Pa55word" not in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_unreachable_server_is_transient(server: SftpTestServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(TransientError, match="cannot reach SFTP server"):
        open_session(idoc_config(server, port=free_port))


# ------------------------------------------------------------------ folders and check


def test_denied_folder_is_a_config_error_naming_it(root: Path) -> None:
    with SftpTestServer(root, deny=["inbound"]) as server, pytest.raises(ConfigError) as caught:
        open_session(idoc_config(server))
    assert caught.value.field == "inbound_dir"
    assert "permission denied" in caught.value.message
    assert "/inbound" in caught.value.message


def test_missing_folder_is_a_config_error_naming_it(server: SftpTestServer, root: Path) -> None:
    (root / "inbound").rmdir()
    with pytest.raises(ConfigError, match="does not exist") as caught:
        open_session(idoc_config(server))
    assert caught.value.field == "inbound_dir"


def test_check_counts_waiting_files_and_probes_each_folder(
    server: SftpTestServer, root: Path
) -> None:
    drop_fixture(root, "DEBMAS07_0000000000401001.xml")
    drop(root, "ORDERS05_new.xml", "<ORDERS05/>", age=0)  # still being written
    drop(root, ".hidden.xml", "<x/>")
    result = CONNECTOR.check(idoc_config(server))
    assert result.ok
    assert server.host_key_fingerprint in result.message
    assert "2 IDoc file(s) waiting" in result.message
    assert "(1 still being written)" in result.details[0]
    assert [d.split()[0] for d in result.details[1:]] == [
        "archive_dir",
        "error_dir",
        "outbound_dir",
    ]
    for folder in ("archive", "error", "outbound"):
        assert list((root / folder).iterdir()) == []  # probe files removed


def test_check_names_a_read_only_outbound_folder(root: Path) -> None:
    with (
        SftpTestServer(root, read_only=["outbound"]) as server,
        pytest.raises(ConfigError) as caught,
    ):
        CONNECTOR.check(idoc_config(server))
    assert caught.value.field == "outbound_dir"
    assert "permission denied" in caught.value.message


def test_check_names_a_missing_processed_folder(server: SftpTestServer) -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(idoc_config(server, outbound_processed_dir="/sap/processed"))
    assert caught.value.field == "outbound_processed_dir"


def test_settings_need_a_credential_and_distinct_folders() -> None:
    base = {
        "host": "h",
        "username": "u",
        "host_keys": other_key_line(),
        "inbound_dir": "/in",
        "archive_dir": "/archive",
        "error_dir": "/error",
    }
    with pytest.raises(ConfigError, match="no credential"):
        CONNECTOR.validate_config(base)
    with pytest.raises(ConfigError, match="same folder") as caught:
        CONNECTOR.validate_config({**base, "password": "p", "archive_dir": "/in/"})
    assert caught.value.field == "archive_dir"
    with pytest.raises(ConfigError, match="unknown time zone"):
        CONNECTOR.validate_config({**base, "password": "p", "timezone": "Mars/Olympus"})
