"""How connectors reach the network: the hub decides, the connector asks here.

A connector that opens HTTP clients or TCP sockets to a user-configured host takes its
transport from `http_transport()` and its sockets from `open_socket()`. Outside the
hub (a connector's own tests, `python -m` tools) these are plain httpx / socket. While
the hub runs a connector (a sync, a write-back, a check, re-reading events) it installs
its guarded versions with `guarded(...)`: every connection is vetted against the SSRF
rules at connect time and pinned to the vetted address, so a DNS answer that changes
between the check and the connection cannot reach an internal address.

The hub's choice travels in a context variable, so it applies to the thread (and
context) that runs the connector and to nothing else in the process.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

__all__ = ["Network", "guarded", "http_transport", "open_socket", "vet_url"]


@dataclass(frozen=True, slots=True)
class Network:
    """The hub's way out: an httpx transport factory and a socket opener."""

    transport: Callable[[bool], httpx.BaseTransport]
    """verify_tls -> a transport (False: no certificate check, for test systems)."""
    connect: Callable[[str, int, float], socket.socket]
    """(host, port, timeout) -> a connected socket."""
    vet: Callable[[str], None]
    """Raise (a ConfigError) when a URL must not be called; for clients that cannot take
    the transport (requests-based ones such as zeep's): checked before each request."""


_current: contextvars.ContextVar[Network | None] = contextvars.ContextVar(
    "l2c_connector_network", default=None
)


@contextlib.contextmanager
def guarded(network: Network) -> Iterator[None]:
    """Run the body with `network` as the connectors' way out."""
    token = _current.set(network)
    try:
        yield
    finally:
        _current.reset(token)


def http_transport(*, verify_tls: bool = True) -> httpx.BaseTransport | None:
    """The transport to give httpx.Client, or None for httpx's default."""
    network = _current.get()
    return None if network is None else network.transport(verify_tls)


def open_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to host:port (vetted and pinned when the hub runs the connector)."""
    network = _current.get()
    if network is None:
        return socket.create_connection((host, port), timeout=timeout)
    return network.connect(host, port, timeout)


def vet_url(url: str) -> None:
    """Before calling `url` with a client that cannot use `http_transport()`: raises
    when the hub's rules forbid it (a no-op outside the hub)."""
    network = _current.get()
    if network is not None:
        network.vet(url)
