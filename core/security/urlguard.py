"""SSRF guard for the URLs the hub calls (webhook subscriptions, connector endpoints).

A URL is parsed strictly, its host resolved once, and EVERY address it resolves to must
be public; the caller then connects to one of the vetted addresses (never resolving the
name again), which defeats DNS rebinding. Checking resolved addresses rather than the
spelling also catches the numeric aliases of private hosts (`http://2130706433/`,
`http://0x7f.1/`, `http://[::ffff:127.0.0.1]/`): the resolver turns them into the
address they really name.

An admin may lift the block with an allowlist of CIDR ranges or exact host names
(`L2C_URL_ALLOWLIST`), for internal endpoints that are meant to be reached.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

HINT = "add the range to L2C_URL_ALLOWLIST if this internal endpoint is intended"
SCHEMES = {"http": 80, "https": 443}
METADATA_HOSTS = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
    }
)
"""Names of cloud instance-metadata services (their addresses are blocked as well)."""

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
_BLOCKED: tuple[tuple[IPNetwork, str], ...] = (
    (_V4("0.0.0.0/8"), "'this network' (0.0.0.0/8)"),
    (_V4("10.0.0.0/8"), "private (RFC 1918)"),
    (_V4("100.64.0.0/10"), "carrier-grade NAT (100.64.0.0/10)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local / cloud metadata (169.254.0.0/16)"),
    (_V4("172.16.0.0/12"), "private (RFC 1918)"),
    (_V4("192.0.0.0/24"), "IETF protocol assignment (192.0.0.0/24)"),
    (_V4("192.0.2.0/24"), "documentation (TEST-NET-1)"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast"),
    (_V4("192.168.0.0/16"), "private (RFC 1918)"),
    (_V4("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"),
    (_V4("198.51.100.0/24"), "documentation (TEST-NET-2)"),
    (_V4("203.0.113.0/24"), "documentation (TEST-NET-3)"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved (240.0.0.0/4) or broadcast"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/96"), "IPv4-compatible (deprecated)"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001::/32"), "Teredo tunnel"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("2002::/16"), "6to4 tunnel"),
    (_V6("fc00::/7"), "unique local (fc00::/7)"),
    (_V6("fe80::/10"), "link-local (fe80::/10)"),
    (_V6("fec0::/10"), "site-local (deprecated)"),
    (_V6("ff00::/8"), "multicast"),
)
_MAPPED = _V6("::ffff:0:0/96")
_NAT64 = _V6("64:ff9b::/96")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


@dataclass(frozen=True, slots=True)
class GuardedTarget:
    """A vetted destination: connect to one of `addresses`, send `host` as Host/SNI."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]
    """Every address the host resolved to, all allowed, in resolver order."""
    allowlisted: bool = False
    """True when an allowlist entry let a private address (or name) through."""


@dataclass(frozen=True, slots=True)
class Allowlist:
    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """CIDR ranges, single addresses or exact host names; anything else is refused."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip().lower()
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            name = _normalise_name(entry)
            if not _is_host_name(name):
                raise ConfigError(
                    f"L2C_URL_ALLOWLIST entry {raw!r} is neither a CIDR range nor a host name",
                    hint='give ranges like "10.1.0.0/16" or exact names like "sap.corp"',
                )
            hosts.add(name)
        return cls(tuple(networks), frozenset(hosts))

    def admits_host(self, host: str) -> bool:
        return host in self.hosts

    def admits(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)


class UnresolvedHostError(ConfigError):
    """The host name does not resolve (here, now)."""


def check_url(
    url: str, *, allowlist: Sequence[str] | Allowlist = (), unresolved_ok: bool = False
) -> GuardedTarget:
    """Parse `url`, resolve its host once and vet every address; raise ConfigError naming
    the URL and the reason when it must not be called.

    `unresolved_ok` is for configuration time: a name this machine cannot resolve (split
    DNS, a host not yet up) is accepted with no addresses, because every connection is
    vetted again when it is made."""
    rules = allowlist if isinstance(allowlist, Allowlist) else Allowlist.parse(allowlist)
    shown = display_url(url)
    scheme, host, port = _parse(url, shown)
    try:
        addresses, allowlisted = _vet(host, port, rules, shown)
    except UnresolvedHostError:
        if not unresolved_ok:
            raise
        addresses, allowlisted = (), False
    return GuardedTarget(url, scheme, host, port, addresses, allowlisted)


def check_host(
    host: str,
    port: int,
    *,
    allowlist: Sequence[str] | Allowlist = (),
    unresolved_ok: bool = False,
) -> GuardedTarget:
    """Vet a host and port (a transport at connect time, or a setting that names a host
    rather than a URL, such as an SFTP server; `unresolved_ok` as for `check_url`)."""
    rules = allowlist if isinstance(allowlist, Allowlist) else Allowlist.parse(allowlist)
    name = _normalise_name(host.strip("[]").lower())
    shown = f"{name}:{port}"
    if not name:
        raise ConfigError(f"cannot connect to {shown!r}: empty host", hint="fix the URL")
    try:
        addresses, allowlisted = _vet(name, port, rules, shown)
    except UnresolvedHostError:
        if not unresolved_ok:
            raise
        addresses, allowlisted = (), False
    return GuardedTarget(shown, "", name, port, addresses, allowlisted)


def display_url(url: str) -> str:
    """The URL without credentials, query or fragment: safe for messages and logs."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        query = "?…" if parts.query else ""
        return f"{parts.scheme}://{netloc}{parts.path}{query}"
    except ValueError:
        return "<unparsable URL>"


def _parse(url: str, shown: str) -> tuple[str, str, int]:
    if not isinstance(url, str) or not url:
        raise ConfigError("the URL is empty", hint="give an http(s):// URL")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        raise ConfigError(
            f"URL {shown!r} contains spaces, control characters or backslashes",
            hint="percent-encode them; hosts never contain them",
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ConfigError(f"URL {shown!r} cannot be parsed: {error}", hint="fix the URL") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigError(
            f"URL {shown!r} uses scheme {scheme or '(none)'!r}; only http and https are allowed",
            hint="give an https:// URL",
        )
    if "@" in parts.netloc:
        raise ConfigError(
            f"URL {shown!r} carries credentials (user:password@)",
            hint="remove them from the URL; endpoints authenticate deliveries by signature",
        )
    host = _normalise_name((parts.hostname or "").lower())
    if not host:
        raise ConfigError(f"URL {shown!r} has no host", hint="give a URL like https://example.com/")
    if port == 0:
        raise ConfigError(f"URL {shown!r} has port 0", hint="use a port between 1 and 65535")
    return scheme, host, port or SCHEMES[scheme]


def _normalise_name(host: str) -> str:
    """Lower-case ASCII form without a trailing dot (`Ex.com.` and `ex.com` are one host)."""
    host = host.rstrip(".")
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return host
    return host


def _is_host_name(name: str) -> bool:
    return bool(name) and len(name) <= 253 and all(_HOST_LABEL.match(p) for p in name.split("."))


def _vet(host: str, port: int, rules: Allowlist, shown: str) -> tuple[tuple[str, ...], bool]:
    name_allowed = rules.admits_host(host)
    if not name_allowed:
        blocked_name = _blocked_name(host)
        if blocked_name:
            raise ConfigError(f"URL {shown!r} is refused: {host} is {blocked_name}", hint=HINT)
    addresses = _resolve(host, port, shown)
    allowlisted = name_allowed
    for text in addresses:
        address = _effective(ipaddress.ip_address(text.split("%", 1)[0]))
        reason = _blocked_reason(address)
        if reason is None:
            continue
        if name_allowed or rules.admits(address):
            allowlisted = True
            continue
        via = "" if host == text else f"{host} resolves to {text}, "
        raise ConfigError(f"URL {shown!r} is refused: {via}a {reason} address", hint=HINT)
    return addresses, allowlisted


def _blocked_name(host: str) -> str | None:
    if host in METADATA_HOSTS:
        return "a cloud metadata service"
    if host == "localhost" or host.endswith(".localhost"):
        return "a loopback name"
    return None


def _resolve(host: str, port: int, shown: str) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise UnresolvedHostError(
            f"URL {shown!r}: host {host!r} cannot be resolved ({error})",
            hint="check the host name and the DNS of this machine",
        ) from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise ConfigError(f"URL {shown!r}: host {host!r} has no address", hint="check the name")
    return addresses


def _effective(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped or NAT64 IPv6 address really reaches."""
    if isinstance(address, ipaddress.IPv6Address) and (address in _MAPPED or address in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address


def blocked_reason(address: str) -> str | None:
    """Why an address must not be called without an allowlist entry (None: public)."""
    return _blocked_reason(_effective(ipaddress.ip_address(address.split("%", 1)[0])))


def _blocked_reason(address: IPAddress) -> str | None:
    for network, reason in _BLOCKED:
        if address.version == network.version and address in network:
            return reason
    if not address.is_global:
        return "non-public"
    return None
