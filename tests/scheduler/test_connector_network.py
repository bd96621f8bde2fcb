"""Connectors reach only what the SSRF rules allow, and tenants cannot point them at the
server's files: settings declared `x-network` / `x-server-path`, and the guarded network
(scheduler/network.py) the hub installs while connector code runs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from connectors.sdk.network import http_transport, open_socket, vet_url
from core.errors import ConfigError
from core.model.tables import Tenant
from core.settings import get_settings
from scheduler.connections import add_connection
from scheduler.network import connector_network

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.delenv("L2C_URL_ALLOWLIST", raising=False)
    monkeypatch.setenv("L2C_FILES_ROOT", str(tmp_path / "files" / "{tenant}"))
    monkeypatch.setenv("L2C_SECRET_KEY", "x" * 43 + "=")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _soap(wsdl: str) -> dict[str, str]:
    return {"wsdl": wsdl, "username": "RFC_L2C", "password": "secret-Pa55"}


def _idoc(host: str) -> dict[str, object]:
    return {
        "host": host,
        "username": "sapftp",
        "password": "secret-Pa55",
        "host_keys": [HOST_KEY],
        "inbound_dir": "out",
        "archive_dir": "archive",
        "error_dir": "error",
    }


@pytest.mark.usefixtures("settings")
def test_a_tenant_cannot_point_a_wsdl_at_server_files(
    sessions: sessionmaker[Session], tenant: Tenant, tmp_path: Path
) -> None:
    with sessions.begin() as session, pytest.raises(ConfigError) as caught:
        add_connection(
            session,
            tenant,
            name="ecc",
            connector="sap_soap",
            config=_soap("/etc/passwd"),
            remote=True,
        )
    assert caught.value.details["field"] == "config.wsdl"
    assert "outside this tenant's files folder" in caught.value.message
    inside = tmp_path / "files" / "acme" / "bapi.wsdl"
    with sessions.begin() as session:  # under the tenant's own folder: fine
        add_connection(
            session,
            tenant,
            name="ecc",
            connector="sap_soap",
            config=_soap(str(inside)),
            remote=True,
        )
    with sessions.begin() as session:  # the operator's CLI is not limited
        add_connection(
            session,
            tenant,
            name="ecc-cli",
            connector="sap_soap",
            config=_soap("/srv/sap/bapi.wsdl"),
        )


@pytest.mark.usefixtures("settings")
@pytest.mark.parametrize(
    ("connector", "config", "field"),
    [
        ("sap_soap", _soap("http://169.254.169.254/latest/meta-data/x.wsdl"), "config.wsdl"),
        ("sap_idoc", _idoc("127.0.0.1"), "config.host"),
        ("sap_idoc", _idoc("0x7f000001"), "config.host"),
        (
            "sap_odata",
            {
                "base_url": "http://10.0.0.8:8000",
                "auth": {"type": "basic", "username": "u", "password": "p"},
            },
            "config.base_url",
        ),
    ],
)
def test_internal_addresses_are_refused_in_settings(
    sessions: sessionmaker[Session], tenant: Tenant, connector: str, config: dict, field: str
) -> None:
    with sessions.begin() as session, pytest.raises(ConfigError) as caught:
        add_connection(session, tenant, name="x", connector=connector, config=config)
    assert caught.value.details["field"] == field


@pytest.mark.usefixtures("settings")
def test_the_guarded_network_refuses_what_the_rules_refuse(
    counting_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = counting_server
    port = int(url.rsplit(":", 1)[1])
    with connector_network():
        transport = http_transport()
        assert transport is not None
        with httpx.Client(transport=transport) as client, pytest.raises(ConfigError):
            client.get(url + "/metadata")
        with pytest.raises(ConfigError):
            open_socket("127.0.0.1", port, 5)
        with pytest.raises(ConfigError):
            vet_url(url + "/service")
    assert seen == []

    monkeypatch.setenv("L2C_URL_ALLOWLIST", '["127.0.0.1"]')
    get_settings.cache_clear()
    with connector_network():
        with httpx.Client(transport=http_transport()) as client:
            assert client.get(url + "/metadata").status_code == 200
        vet_url(url + "/service")
        sock = open_socket("127.0.0.1", port, 5)
        assert isinstance(sock, socket.socket)
        sock.close()
    assert seen == ["/metadata"]


def test_outside_the_hub_connectors_use_the_plain_network() -> None:
    assert http_transport() is None
    vet_url("http://127.0.0.1:1/anything")  # no rules outside the hub
