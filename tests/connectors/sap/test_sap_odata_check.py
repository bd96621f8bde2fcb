"""`check()`: counts per stream when all is well, and the setting to fix when not."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.sap.fake import FakeS4, Fault, serve_fake
from connectors.sap.odata.check import check
from connectors.sdk.errors import ConfigError

USER, PASSWORD = "L2C_COMM", "s3cret-Pa55"


@pytest.fixture(scope="module")
def fake() -> FakeS4:
    return FakeS4(business_partners=1234, products=7, sales_orders=9, billing_documents=3, seed=3)


@pytest.fixture(scope="module")
def base_url(fake: FakeS4) -> Iterator[str]:
    with serve_fake(fake) as url:
        yield url


@pytest.fixture(autouse=True)
def _clean(fake: FakeS4) -> Iterator[None]:
    fake.reset()
    yield
    fake.reset()


def settings(base_url: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "base_url": base_url,
        "sap_client": "100",
        "auth": {"type": "basic", "username": USER, "password": PASSWORD},
        "timeout_seconds": 5,
    }
    config.update(overrides)
    return config


def test_check_counts_every_stream(base_url: str) -> None:
    result = check(settings(base_url))
    assert result.ok
    assert result.details == [
        "business_partners: 1,234 records",
        "products: 7 records",
        "sales_orders: 9 records",
        "billing_documents: 3 records",
    ]
    assert USER in result.message
    assert PASSWORD not in result.message


def test_check_reads_only_the_selected_streams(base_url: str) -> None:
    result = check(settings(base_url, streams=["sales_orders"]))
    assert result.details == ["sales_orders: 9 records"]


def test_wrong_password_points_at_the_username(base_url: str) -> None:
    config = settings(base_url, auth={"type": "basic", "username": USER, "password": "nope-nope"})
    with pytest.raises(ConfigError) as caught:
        check(config)
    assert caught.value.field == "auth.username"
    assert "nope-nope" not in str(caught.value)


def test_wrong_oauth_client_points_at_the_client_id(base_url: str) -> None:
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": f"{base_url}/oauth/token",
        "client_id": "L2C_OAUTH",
        "client_secret": "wrong-secret",
    }
    with pytest.raises(ConfigError) as caught:
        check(settings(base_url, auth=auth))
    assert caught.value.field == "auth.client_id"


def test_missing_service_points_at_service_path_and_names_the_arrangement(base_url: str) -> None:
    config = settings(base_url, service_path="/sap/opu/odata/other", streams=["sales_orders"])
    with pytest.raises(ConfigError) as caught:
        check(config)
    assert caught.value.field == "service_path"
    assert "SAP_COM_0109" in (caught.value.hint or "")


def test_forbidden_names_the_communication_arrangement(fake: FakeS4, base_url: str) -> None:
    fake.inject(Fault(path="API_BUSINESS_PARTNER/", status=403, times=5))
    with pytest.raises(ConfigError) as caught:
        check(settings(base_url, streams=["business_partners"]))
    assert caught.value.field == "auth"
    assert "SAP_COM_0008" in (caught.value.hint or "")


def test_sap_down_is_not_ok_rather_than_a_setting(fake: FakeS4, base_url: str) -> None:
    fake.inject(Fault(path="API_PRODUCT_SRV/", status=503, retry_after=0, times=10))
    result = check(settings(base_url, streams=["products"]))
    assert not result.ok
    assert "503" in result.message


def test_unreachable_host_points_at_base_url_with_the_os_reason() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConfigError) as caught:
        check(settings(f"http://127.0.0.1:{port}", max_retries=0))
    assert caught.value.field == "base_url"
    assert "refused" in caught.value.message.lower()


# ---------------------------------------------------------------------- TLS


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        """No access log on stderr."""


@pytest.fixture
def tls_url(tmp_path: Path) -> Iterator[str]:
    cert, key = _self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_untrusted_certificate_points_at_verify_tls(tls_url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check(settings(tls_url, streams=["products"]))
    assert caught.value.field == "verify_tls"
    assert "certificate" in caught.value.message.lower()
