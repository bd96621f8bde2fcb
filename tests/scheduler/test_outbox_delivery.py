"""Outbound webhooks end to end: a real sync write, the dispatcher, a real HTTP receiver on
127.0.0.1 that verifies every delivery with the `standardwebhooks` library."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook, WebhookVerificationError

from core.clock import utcnow
from core.errors import ConfigError
from core.model.entities import ENTITIES
from core.model.tables import Connection, OutboxMessage, Subscription, Tenant
from core.security.secrets import generate_key
from core.settings import get_settings
from core.store.upsert import Incoming, WriteContext, upsert_batch
from scheduler import outbox as dispatcher
from scheduler.subscriptions import create_subscription, update_subscription

LOOPBACK = ["127.0.0.0/8"]


# ---------------------------------------------------------------------------- receiver
@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified_with: list[str]


@dataclass
class Receiver:
    """What the endpoint saw, and what it answers next (default 204)."""

    port: int = 0
    secrets: list[str] = field(default_factory=list)
    answers: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    always: tuple[int, dict[str, str]] = (204, {})
    got: list[Received] = field(default_factory=list)
    trickle: bool = False

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {name.lower(): value for name, value in self.headers.items()}
        verified = []
        for secret in receiver.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified.append(secret)
            except WebhookVerificationError:
                pass
        receiver.got.append(Received(self.path, headers, body, verified))
        if receiver.trickle:
            self._trickle()
            return
        status, extra = receiver.answers.popleft() if receiver.answers else receiver.always
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.do_POST()

    def _trickle(self) -> None:
        """Headers one byte at a time: no single read times out, the whole exchange does."""
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 40:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server.receiver
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("L2C_SECRET_KEY", generate_key())
    monkeypatch.delenv("L2C_URL_ALLOWLIST", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# ---------------------------------------------------------------------------- helpers
def subscribe(
    sessions: sessionmaker[Session], tenant: Tenant, receiver: Receiver, **kwargs: Any
) -> Subscription:
    with sessions.begin() as session:
        sub, secret = create_subscription(
            session,
            tenant.id,
            name=kwargs.pop("name", "events"),
            url=kwargs.pop("url", receiver.url()),
            allowlist=LOOPBACK,
            **kwargs,
        )
    receiver.secrets.append(secret)
    return sub


def sync_accounts(
    sessions: sessionmaker[Session], tenant: Tenant, connection: Connection, count: int
) -> None:
    spec = ENTITIES["account"]
    items = [
        Incoming.of(spec, i, f"C{i}", spec.batch_adapter.validate_python([{"name": f"N{i}"}])[0])
        for i in range(count)
    ]
    with sessions.begin() as session:
        ctx = WriteContext(tenant.id, connection.id, None, utcnow())
        upsert_batch(session, ctx, spec=spec, object_="customers", items=items)


def messages(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions.begin() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def subscription(sessions: sessionmaker[Session], sub: Subscription) -> Subscription:
    with sessions.begin() as session:
        return session.get_one(Subscription, sub.id)


def dispatch(sessions: sessionmaker[Session], **kwargs: Any) -> dispatcher.DispatchReport:
    kwargs.setdefault("allowlist", LOOPBACK)
    return dispatcher.dispatch_due(sessions, **kwargs)


# ---------------------------------------------------------------------------- tests
def test_changes_are_delivered_signed_and_verifiable(
    sessions, tenant, connection, receiver
) -> None:
    subscribe(sessions, tenant, receiver)
    sync_accounts(sessions, tenant, connection, 2)
    report = dispatch(sessions)
    assert (report.claimed, report.delivered, report.retrying, report.dead) == (2, 2, 0, 0)
    rows = messages(sessions)
    assert [(m.status, m.attempts, m.last_status) for m in rows] == [("delivered", 1, 204)] * 2
    assert len(receiver.got) == 2
    for row, got in zip(rows, receiver.got, strict=True):
        assert got.verified_with == receiver.secrets
        assert got.headers["webhook-id"] == f"msg_{row.id}"
        assert got.headers["content-type"] == "application/json"
        assert got.headers["user-agent"].startswith("L2C-Hub/")
        assert got.headers["webhook-signature"].startswith("v1,")
        event = orjson.loads(got.body)
        assert event["type"] == "account.created"
        assert event["data"]["seq"] == row.change_seq
        assert event["data"]["connection_id"] == str(connection.id)
    assert dispatch(sessions).claimed == 0  # nothing is sent twice


def test_failures_follow_the_retry_schedule_then_dead_letter_and_replay_keeps_the_id(
    sessions, tenant, connection, receiver
) -> None:
    subscribe(sessions, tenant, receiver)
    sync_accounts(sessions, tenant, connection, 1)
    receiver.always = (500, {})
    now = utcnow()
    for attempt, delay in enumerate([*dispatcher.SCHEDULE[1:], None], start=1):
        report = dispatch(sessions, now=now)
        assert report.claimed == 1
        [row] = messages(sessions)
        assert (row.attempts, row.last_status) == (attempt, 500)
        if delay is None:
            assert (row.status, report.dead) == ("dead", 1)
            break
        assert row.status == "pending"
        waited = (row.next_attempt_at - now).total_seconds()
        assert delay.total_seconds() * 0.9 <= waited <= delay.total_seconds() * 1.1
        early = now + timedelta(seconds=waited * 0.5)
        assert dispatch(sessions, now=early).claimed == 0  # not due yet
        now = row.next_attempt_at
    assert len(receiver.got) == len(dispatcher.SCHEDULE) == 10
    ids = {got.headers["webhook-id"] for got in receiver.got}
    assert ids == {f"msg_{row.id}"}

    from core.store import outbox

    with sessions.begin() as session:
        assert outbox.replay(session, tenant.id, [row.id], now=now) == 1
    receiver.always = (200, {})
    assert dispatch(sessions, now=now).delivered == 1
    assert receiver.got[-1].headers["webhook-id"] == f"msg_{row.id}"
    assert receiver.got[-1].verified_with == receiver.secrets
    [row] = messages(sessions)
    assert (row.status, row.attempts) == ("delivered", 1)


def test_410_disables_the_subscription(sessions, tenant, connection, receiver) -> None:
    sub = subscribe(sessions, tenant, receiver)
    sync_accounts(sessions, tenant, connection, 3)
    receiver.always = (410, {})
    report = dispatch(sessions)
    assert report.disabled == [sub.id]
    assert len(receiver.got) == 1  # the rest of the batch is not sent to a gone endpoint
    stored = subscription(sessions, sub)
    assert (stored.enabled, stored.disabled_reason) == (False, "endpoint answered 410 Gone")
    assert {m.status for m in messages(sessions)} == {"dead"}
    sync_accounts(sessions, tenant, connection, 4)  # new changes: no new messages
    assert len(messages(sessions)) == 3


def test_redirects_are_failures_and_not_followed(sessions, tenant, connection, receiver) -> None:
    subscribe(sessions, tenant, receiver)
    sync_accounts(sessions, tenant, connection, 1)
    receiver.answers.append((302, {"location": receiver.url("/elsewhere")}))
    report = dispatch(sessions)
    assert (report.delivered, report.retrying) == (0, 1)
    assert [got.path for got in receiver.got] == ["/hooks"]
    [row] = messages(sessions)
    assert (row.status, row.last_status) == ("pending", 302)
    assert "redirect not followed" in (row.last_error or "")


def test_throttling_honours_retry_after_for_the_whole_endpoint(
    sessions, tenant, connection, receiver
) -> None:
    subscribe(sessions, tenant, receiver)
    sync_accounts(sessions, tenant, connection, 2)
    receiver.answers.append((429, {"retry-after": "3600"}))
    now = utcnow()
    report = dispatch(sessions, now=now)
    assert (report.retrying, report.released) == (1, 1)
    assert len(receiver.got) == 1
    first, second = messages(sessions)
    assert first.next_attempt_at - now >= timedelta(seconds=3600)
    assert (second.attempts, second.next_attempt_at) == (0, first.next_attempt_at)
    assert dispatch(sessions, now=now + timedelta(minutes=30)).claimed == 0


def test_retry_after_is_capped_at_a_day() -> None:
    now = utcnow()
    at = dispatcher.next_attempt_at(1, now, retry_after=timedelta(days=30))
    assert at == now + dispatcher.RETRY_AFTER_CAP
    assert dispatcher.parse_retry_after("Wed, 21 Oct 2099 07:28:00 GMT", now) is not None
    assert dispatcher.parse_retry_after("soon", now) is None


def test_a_url_blocked_at_connect_time_fails_without_a_request(
    sessions, tenant, connection, receiver
) -> None:
    """Allowed when configured, refused when the allowlist no longer covers it."""
    subscribe(sessions, tenant, receiver)
    sync_accounts(sessions, tenant, connection, 2)
    report = dispatch(sessions, allowlist=[])
    assert (report.retrying, report.released) == (1, 1)
    assert receiver.got == []
    first, second = messages(sessions)
    assert first.attempts == 1 and "URL guard" in (first.last_error or "")
    assert "is refused" in (first.last_error or "")
    assert "loopback" in (first.last_error or "")
    assert second.attempts == 0


def test_dns_rebinding_between_check_and_connect_is_caught(
    sessions, tenant, connection, receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name answers a public address to the configuration check and the dispatcher's
    pre-check, then the receiver's loopback address: the connect-time check refuses it."""
    answers = iter(["93.184.216.34", "93.184.216.34", "127.0.0.1"])
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            address = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with sessions.begin() as session:
        url = f"http://rebind.example:{receiver.port}/hooks"
        create_subscription(session, tenant.id, name="rebind", url=url, allowlist=[])
    sync_accounts(sessions, tenant, connection, 1)
    report = dispatch(sessions, allowlist=[])
    assert report.retrying == 1
    assert receiver.got == []
    [row] = messages(sessions)
    assert "rebind.example resolves to 127.0.0.1" in (row.last_error or "")


def test_an_endpoint_failing_for_five_days_is_disabled(
    sessions, tenant, connection, receiver
) -> None:
    sub = subscribe(sessions, tenant, receiver)
    sync_accounts(sessions, tenant, connection, 1)
    now = utcnow()
    with sessions.begin() as session:
        session.get_one(Subscription, sub.id).failing_since = now - timedelta(days=5, seconds=1)
    receiver.always = (503, {})
    report = dispatch(sessions, now=now)
    assert report.disabled == [sub.id]
    stored = subscription(sessions, sub)
    assert not stored.enabled and "failing without a success" in (stored.disabled_reason or "")


def test_a_success_clears_the_failure_clock(sessions, tenant, connection, receiver) -> None:
    sub = subscribe(sessions, tenant, receiver)
    sync_accounts(sessions, tenant, connection, 1)
    receiver.answers.append((500, {}))
    now = utcnow()
    dispatch(sessions, now=now)
    assert subscription(sessions, sub).failing_since == now
    dispatch(sessions, now=now + timedelta(minutes=1))
    assert subscription(sessions, sub).failing_since is None


def test_during_a_secret_rotation_both_secrets_verify(
    sessions, tenant, connection, receiver
) -> None:
    sub = subscribe(sessions, tenant, receiver)
    with sessions.begin() as session:
        _, new = update_subscription(session, tenant.id, sub.id, rotate_secret=True)
    assert new is not None and new != receiver.secrets[0]
    receiver.secrets.append(new)
    sync_accounts(sessions, tenant, connection, 1)
    assert dispatch(sessions).delivered == 1
    [got] = receiver.got
    assert got.verified_with == receiver.secrets  # old and new
    assert len(got.headers["webhook-signature"].split(" ")) == 2


def test_the_whole_exchange_has_a_deadline(
    sessions, tenant, connection, receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatcher, "TOTAL_TIMEOUT", 0.5)
    subscribe(sessions, tenant, receiver)
    sync_accounts(sessions, tenant, connection, 1)
    receiver.trickle = True
    report = dispatch(sessions)
    assert report.retrying == 1
    [row] = messages(sessions)
    assert "timed out" in (row.last_error or "")


# ---------------------------------------------------------------------------- transport
def fake_dns(monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> list[str]:
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            asked.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_the_transport_connects_to_the_vetted_address_and_keeps_the_host(
    receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is resolved once, by the guard; the socket is opened to the vetted address
    (a second lookup would show in `asked`), while Host still names the URL's host."""
    asked = fake_dns(monkeypatch, "hooks.example", "127.0.0.1")
    with dispatcher.delivery_client(LOOPBACK) as client:
        response = client.post(f"http://hooks.example:{receiver.port}/pinned", content=b"{}")
    assert response.status_code == 204
    assert asked == ["hooks.example"]
    [got] = receiver.got
    assert (got.path, got.headers["host"]) == ("/pinned", f"hooks.example:{receiver.port}")


def test_the_transport_refuses_a_blocked_address_before_connecting(
    receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, "rebound.example", "127.0.0.1")
    with dispatcher.delivery_client([]) as client, pytest.raises(ConfigError, match="loopback"):
        client.post(f"http://rebound.example:{receiver.port}/", content=b"{}")
    with dispatcher.delivery_client([]) as client, pytest.raises(ConfigError):
        client.post(receiver.url(), content=b"{}")
    assert receiver.got == []


def test_the_client_does_not_follow_redirects_or_use_env_proxies(
    receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    receiver.answers.append((307, {"location": receiver.url("/next")}))
    with dispatcher.delivery_client(LOOPBACK) as client:
        response = client.post(receiver.url(), content=b"{}")
    assert isinstance(response, httpx.Response) and response.status_code == 307
    assert [got.path for got in receiver.got] == ["/hooks"]


def test_next_attempt_is_none_after_the_last_scheduled_attempt() -> None:
    now = datetime.now().astimezone()
    assert dispatcher.next_attempt_at(len(dispatcher.SCHEDULE), now) is None
    assert dispatcher.next_attempt_at(len(dispatcher.SCHEDULE) - 1, now) is not None


# ---------------------------------------------------------------------------- TLS
def _certificate_for(name: str) -> tuple[bytes, bytes, bytes]:
    """(CA cert PEM, server cert PEM, server key PEM): a throwaway CA signing `name`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def subject(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    start = utcnow() - timedelta(hours=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(subject("test CA"))
        .issuer_name(subject("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject(name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


@pytest.fixture
def tls_receiver(tmp_path) -> Iterator[tuple[Receiver, ssl.SSLContext, list[str]]]:
    """An HTTPS receiver on 127.0.0.1 with a certificate for `hooks.example` only; yields
    it, a client context trusting its CA, and the SNI names it was greeted with."""
    ca_pem, cert_pem, key_pem = _certificate_for("hooks.example")
    (tmp_path / "cert.pem").write_bytes(cert_pem + ca_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    greeted: list[str] = []

    def note_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        greeted.append(name or "")

    server_context.sni_callback = note_sni
    server = _Server(("127.0.0.1", 0), _Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    server.receiver = Receiver(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cadata=ca_pem.decode())
    yield server.receiver, client_context, greeted
    server.shutdown()
    server.server_close()
    thread.join()


def test_https_to_a_pinned_address_still_verifies_the_url_host(
    tls_receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The socket goes to the vetted IP, yet TLS sends SNI for and verifies the certificate
    against the URL's host name: a certificate for another name is refused."""
    receiver, context, greeted = tls_receiver
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in {"hooks.example", "other.example"}:
            return [
                (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with dispatcher.delivery_client(LOOPBACK, ssl_context=context) as client:
        response = client.post(f"https://hooks.example:{receiver.port}/tls", content=b"{}")
        assert response.status_code == 204
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.post(f"https://other.example:{receiver.port}/tls", content=b"{}")
    assert [got.path for got in receiver.got] == ["/tls"]
    assert greeted[:2] == ["hooks.example", "other.example"]
