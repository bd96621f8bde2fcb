"""The SSRF guard: what it refuses, what it lets through, and what an allowlist lifts."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from core.errors import ConfigError
from core.security.urlguard import Allowlist, blocked_reason, check_host, check_url

BLOCKED = [
    ("http://127.0.0.1/", "loopback"),
    ("http://127.8.9.10:8080/x", "loopback"),
    ("http://localhost/", "loopback name"),
    ("http://api.localhost/", "loopback name"),
    ("http://[::1]/", "loopback"),
    ("http://2130706433/", "loopback"),  # decimal 127.0.0.1
    ("http://0x7f.1/", "loopback"),  # hex + short form
    ("http://0177.0.0.1/", "loopback"),  # octal
    ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped IPv6
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[64:ff9b::7f00:1]/", "loopback"),  # NAT64 of 127.0.0.1
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata service"),
    ("http://METADATA.google.internal./", "metadata service"),
    ("http://[fe80::1]/", "link-local"),
    ("http://10.0.0.5/", "RFC 1918"),
    ("http://172.16.3.4/", "RFC 1918"),
    ("http://192.168.1.1/", "RFC 1918"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://[fc00::1]/", "unique local"),
    ("http://[fd00:ec2::254]/", "unique local"),  # AWS IPv6 metadata
    ("http://0.0.0.0/", "this network"),
    ("http://0/", "this network"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://[::]/", "unspecified"),
]

MALFORMED = [
    ("ftp://example.com/", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("gopher://127.0.0.1:6379/_", "only http and https"),
    ("example.com/hook", "only http and https"),
    ("http://user:pass@93.184.216.34/", "credentials"),
    ("http://@93.184.216.34/", "credentials"),
    ("http:///path", "no host"),
    ("http://93.184.216.34:0/", "port 0"),
    ("http://93.184.216.34:70000/", "cannot be parsed"),
    ("http://93.184.216.34:x/", "cannot be parsed"),
    ("http://evil.com\\@127.0.0.1/", "backslashes"),
    ("http://93.184.216.34/a b", "spaces"),
    ("http://93.184.216.34/\nHost: x", "control characters"),
    ("", "empty"),
]


@pytest.mark.parametrize(("url", "reason"), BLOCKED)
def test_internal_targets_are_refused(url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_url(url)
    assert reason in caught.value.message
    assert "is refused" in caught.value.message
    assert "L2C_URL_ALLOWLIST" in (caught.value.hint or "")


@pytest.mark.parametrize(("url", "reason"), MALFORMED)
def test_malformed_or_unsafe_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_url(url)
    assert reason in caught.value.message


def test_credentials_never_appear_in_the_message() -> None:
    with pytest.raises(ConfigError) as caught:
        check_url("http://admin:hunter2@127.0.0.1/?token=abc123")
    assert "hunter2" not in str(caught.value)
    assert "abc123" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/hooks",
        "http://8.8.8.8:8080/x?y=1",
        "https://[2606:4700:4700::1111]/",
        "http://134744072/",  # decimal 8.8.8.8 is public, so allowed
    ],
)
def test_public_addresses_pass(url: str) -> None:
    target = check_url(url)
    assert target.addresses
    assert not target.allowlisted
    assert all(blocked_reason(a) is None for a in target.addresses)


def test_target_carries_host_port_scheme_and_vetted_addresses() -> None:
    target = check_url("HTTPS://93.184.216.34/x")
    assert (target.scheme, target.host, target.port) == ("https", "93.184.216.34", 443)
    assert target.addresses == ("93.184.216.34",)
    assert check_url("http://[2606:4700:4700::1111]:8443/").port == 8443


@pytest.mark.parametrize(
    ("url", "allowlist"),
    [
        ("http://127.0.0.1:8000/", ["127.0.0.0/8"]),
        ("http://[::ffff:127.0.0.1]/", ["127.0.0.1"]),  # the mapped IPv4 is what counts
        ("http://10.1.2.3/", ["10.1.0.0/16"]),
        ("http://[::1]/", ["::1/128"]),
        ("http://localhost/", ["localhost"]),
        ("http://metadata.google.internal/", ["metadata.google.internal"]),
    ],
)
def test_allowlist_lifts_the_block(
    url: str, allowlist: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if "google" in url:
        fake_dns(monkeypatch, {"metadata.google.internal": ["169.254.169.254"]})
    target = check_url(url, allowlist=allowlist)
    assert target.allowlisted


def test_allowlist_only_lifts_its_own_range() -> None:
    with pytest.raises(ConfigError, match="RFC 1918"):
        check_url("http://10.2.0.1/", allowlist=["10.1.0.0/16"])
    with pytest.raises(ConfigError, match="link-local"):
        check_url("http://169.254.169.254/", allowlist=["127.0.0.0/8", "sap.corp"])


def test_a_bad_allowlist_entry_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="neither a CIDR range nor a host name"):
        Allowlist.parse(["10.0.0.0/33x"])


def fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> list[str]:
    """Answer getaddrinfo from `table` for its names; other names go to the real resolver."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in table:
            asked.append(host)
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (ip, port, 0, 0) if ":" in ip else (ip, port),
                )
                for ip in table[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_name_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding style: one public and one private answer. Every answer must pass."""
    fake_dns(monkeypatch, {"rebind.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(ConfigError) as caught:
        check_url("https://rebind.example/hook")
    assert "rebind.example resolves to 10.0.0.7" in caught.value.message


def test_a_name_is_resolved_once_and_every_address_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = fake_dns(monkeypatch, {"hooks.example": ["93.184.216.34", "2606:4700::1"]})
    target = check_url("https://hooks.example/")
    assert asked == ["hooks.example"]
    assert target.addresses == ("93.184.216.34", "2606:4700::1")
    assert target.host == "hooks.example"


def test_an_allowlisted_name_admits_its_private_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"sap.corp": ["10.9.8.7"]})
    assert check_url("https://sap.corp/odata", allowlist=["sap.corp"]).addresses == ("10.9.8.7",)
    with pytest.raises(ConfigError, match=r"sap\.corp resolves to 10\.9\.8\.7"):
        check_url("https://sap.corp/odata", allowlist=["other.corp"])


def test_an_unresolvable_name_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def getaddrinfo(*_args: Any, **_kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(ConfigError, match="cannot be resolved"):
        check_url("https://no-such-host.invalid/")


def test_check_host_vets_the_transport_view() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        check_host("127.0.0.1", 80)
    with pytest.raises(ConfigError, match="loopback"):
        check_host("[::1]", 443)
    assert check_host("127.0.0.1", 80, allowlist=["127.0.0.1/32"]).addresses == ("127.0.0.1",)
