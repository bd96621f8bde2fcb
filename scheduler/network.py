"""The hub's way out for connectors (connectors/sdk/network.py): SSRF-vetted, pinned.

`connector_network()` wraps a block that runs connector code (a sync's tap, a writer, a
check, a discovery, a fetcher): the connector's HTTP clients then connect through the
outbox's guarded transport and its sockets through `check_host`, both against
L2C_URL_ALLOWLIST and pinned to the address that was vetted.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator

import httpx

from connectors.sdk.network import Network, guarded
from core.errors import ConfigError
from core.security.urlguard import Allowlist, check_host, check_url
from core.settings import get_settings
from scheduler.outbox import GuardedTransport


def _allowlist() -> Allowlist:
    return Allowlist.parse(get_settings().url_allowlist)


def _transport(verify_tls: bool) -> httpx.BaseTransport:
    context = httpx.create_ssl_context(trust_env=False)
    if not verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return GuardedTransport(_allowlist(), ssl_context=context)


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    target = check_host(host, port, allowlist=_allowlist())
    failure: OSError | None = None
    for address in target.addresses:
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as error:
            failure = error
    if failure is None:
        raise ConfigError(f"{host!r} resolves to no address", hint="check the host name")
    raise failure


def _vet(url: str) -> None:
    check_url(url, allowlist=_allowlist())


@contextlib.contextmanager
def connector_network() -> Iterator[None]:
    """Run the body with the guarded network installed for connector code."""
    with guarded(Network(transport=_transport, connect=_connect, vet=_vet)):
        yield
