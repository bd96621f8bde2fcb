"""`check`, the settings, and the small helpers of the sap_soap connector."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.sap.soap import CONNECTOR
from connectors.sap.soap.bapi import BapiMessage, plain, record_value, return_messages
from connectors.sap.soap.config import parse_config
from connectors.sap.soap.transport import retry_after, safe_url
from connectors.sdk.errors import ConfigError
from tests.connectors.sap.sap_soap_server import WSDL_FIXTURE, WSDL_PATH, SoapServer

WSDL_TEXT = WSDL_FIXTURE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def server() -> Iterator[SoapServer]:
    with SoapServer(customers=2) as running:
        yield running


def _local(tmp_path: Path, text: str, server: SoapServer) -> dict[str, object]:
    path = tmp_path / "service.wsdl"
    path.write_text(text, encoding="utf-8")
    return server.config(wsdl=str(path), endpoint=server.endpoint_url)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ------------------------------------------------------------------ check


def test_check_is_ok_and_names_the_endpoint(server: SoapServer) -> None:
    result = CONNECTOR.check(server.config())
    assert result.ok
    assert result.message == "BAPI_CUSTOMER_GETLIST answered: first customer 0000100001"
    assert f"endpoint: {server.endpoint_url}?sap-client=100" in result.details
    assert not [line for line in result.details if line.startswith("warning")]


def test_check_with_wrong_password_blames_the_username(server: SoapServer) -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(server.config(password="Not-The-Password-1"))
    assert caught.value.field == "username"
    assert "Not-The-Password-1" not in str(caught.value)


def test_check_refuses_a_wsdl_without_the_four_operations(
    tmp_path: Path, server: SoapServer
) -> None:
    text = re.sub(
        r'<wsdl:operation name="BAPI_SALESORDER_CREATEFROMDAT2">.*?</wsdl:operation>',
        "",
        WSDL_TEXT,
        flags=re.DOTALL,
    )
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(_local(tmp_path, text, server))
    assert caught.value.field == "wsdl"
    assert "BAPI_SALESORDER_CREATEFROMDAT2" in caught.value.message


def test_check_warns_when_the_create_operation_does_not_commit(
    tmp_path: Path, server: SoapServer
) -> None:
    marker = '<wsp:Policy wsu:Id="OP__BAPI_SALESORDER_CREATEFROMDAT2">'
    head, tail = WSDL_TEXT.split(marker, 1)
    tail = tail.replace(">true</sapcomhnd:enableCommit>", ">false</sapcomhnd:enableCommit>", 1)
    result = CONNECTOR.check(_local(tmp_path, head + marker + tail, server))
    assert result.ok
    assert any("enableCommit false" in line for line in result.details)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("<html><body>SAP NetWeaver</body></html>", "no SOAP binding"),
        ("<html><body>unclosed", "not well-formed"),
        ('<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"/>', "no SOAP binding"),
    ],
)
def test_check_refuses_what_is_not_a_wsdl(
    content: str, words: str, tmp_path: Path, server: SoapServer
) -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(_local(tmp_path, content, server))
    assert caught.value.field == "wsdl"
    assert words in caught.value.message


def test_check_refuses_a_missing_wsdl_file(tmp_path: Path, server: SoapServer) -> None:
    config = server.config(wsdl=str(tmp_path / "missing.wsdl"))
    with pytest.raises(ConfigError, match="not found") as caught:
        CONNECTOR.check(config)
    assert caught.value.field == "wsdl"


def test_check_refuses_a_wsdl_url_that_is_not_there(server: SoapServer) -> None:
    config = server.config(wsdl=f"{server.base_url}/sap/bc/srt/wsdl/nothing")
    with pytest.raises(ConfigError, match="404") as caught:
        CONNECTOR.check(config)
    assert caught.value.field == "wsdl"


def test_check_reports_a_server_that_is_down_without_blaming_a_setting(
    server: SoapServer,
) -> None:
    port = _closed_port()
    config = server.config(wsdl=f"http://L2C:s3cret-in-url@127.0.0.1:{port}{WSDL_PATH}")
    result = CONNECTOR.check(config)
    assert not result.ok
    assert "cannot connect" in result.message
    assert "s3cret-in-url" not in result.message + " ".join(result.details)


def test_check_reports_missing_authorization_as_a_username_problem(
    server: SoapServer,
) -> None:
    server.inject(
        "return_error",
        "BAPI_CUSTOMER_GETLIST",
        id="F2",
        number="543",
        message="No authorization to display general data for customer accounts",
    )
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(server.config())
    assert caught.value.field == "username"


def test_check_validates_the_settings_first() -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check({"wsdl": "x.wsdl", "username": "u", "password": "p", "sap_client": "1"})
    assert caught.value.field == "sap_client"


# ------------------------------------------------------------------ settings


def test_wsdl_may_be_a_path_or_an_http_url_but_nothing_else(tmp_path: Path) -> None:
    base = {"username": "u", "password": "p"}
    assert parse_config({**base, "wsdl": "https://s4.example.com/w?wsdl"}).wsdl_is_remote
    local = parse_config({**base, "wsdl": f"file://{tmp_path}/a.wsdl"})
    assert local.wsdl == str(tmp_path / "a.wsdl") and not local.wsdl_is_remote
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.validate_config({**base, "wsdl": "ftp://example.com/a.wsdl"})
    assert caught.value.field == "wsdl"


def test_settings_never_show_the_password() -> None:
    settings = parse_config({"wsdl": "a.wsdl", "username": "u", "password": "Hidden-1"})
    assert "Hidden-1" not in repr(settings)
    assert CONNECTOR.secret_fields() == ["password"]


# ------------------------------------------------------------------ helpers


def test_bapi_messages_read_every_return_shape() -> None:
    table = [
        {"TYPE": "S", "ID": "V1", "NUMBER": "311", "MESSAGE": "Standard Order 4711 has been saved"},
        {"TYPE": "W", "ID": "V1", "NUMBER": "555", "MESSAGE": "Check the price"},
    ]
    assert [str(m) for m in return_messages(table)] == [
        "S V1/311: Standard Order 4711 has been saved",
        "W V1/555: Check the price",
    ]
    blank = {"TYPE": None, "ID": None, "NUMBER": None, "MESSAGE": None}
    assert return_messages(blank) == []
    bapireturn = {"TYPE": "E", "CODE": "VP112", "MESSAGE": "Enter a sold-to party"}
    assert return_messages(bapireturn) == [
        BapiMessage(type="E", id="VP112", message="Enter a sold-to party")
    ]
    assert str(return_messages(bapireturn)[0]) == "E VP112: Enter a sold-to party"


def test_plain_keeps_sap_values_exact_and_unwraps_tables() -> None:
    raw = {
        "SALES_ORDERS": {"item": [{"NET_VALUE": Decimal("1234.50"), "ROW": 0}]},
        "EMPTY": {"item": None},
        "SD_DOC": "0000004711",
    }
    assert plain(raw) == {
        "SALES_ORDERS": [{"NET_VALUE": "1234.50", "ROW": "0"}],
        "EMPTY": [],
        "SD_DOC": "0000004711",
    }
    assert plain(Decimal("1E+2")) == "100"
    assert record_value({"A": "", "D": "0000-00-00", "N": "0012"}) == {
        "A": None,
        "D": None,
        "N": "0012",
    }


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after("120") == 120
    assert retry_after(None) is None
    assert retry_after("soon") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past


def test_safe_url_drops_credentials() -> None:
    assert safe_url("https://u:pw@host:8443/p?q=1") == "https://host:8443/p?q=1"
    assert safe_url("https://host/p") == "https://host/p"


def test_tls_failure_is_a_settings_error(server: SoapServer) -> None:
    https_to_plain_port = server.wsdl_url.replace("http://", "https://")
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(server.config(wsdl=https_to_plain_port))
    assert caught.value.field == "verify_tls"
    assert "TLS" in caught.value.message


def test_unusable_endpoint_url_is_a_settings_error(server: SoapServer) -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(server.config(endpoint="sap-host/sap/bc/srt/rfc"))
    assert caught.value.field == "endpoint"
