"""Hostile documents: the sap_soap connector refuses them cleanly and fetches nothing.

Every case points at `ConnectionCounter`, a listener on 127.0.0.1 that counts the
connections it accepts; it must see none. Cases: a WSDL with an external entity
(file and http), a "billion laughs" WSDL, WSDLs importing other documents (xsd:import,
xsd:include, wsdl:import; http, file, a path outside the WSDL's folder; on disk and
served over http), and the same entity tricks inside a SOAP response.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sap.soap import CONNECTOR
from connectors.sap.soap.client import SoapClient
from connectors.sdk.errors import ConfigError
from tests.connectors.sap.sap_soap_server import (
    BILLION_LAUGHS_DTD,
    PLACEHOLDER_ORIGIN,
    WSDL_FIXTURE,
    ConnectionCounter,
    SoapServer,
)

WSDL_TEXT = WSDL_FIXTURE.read_text(encoding="utf-8")
DEFINITIONS = "<wsdl:definitions "
SCHEMA_OPEN = '<xsd:schema attributeFormDefault="qualified"'


@pytest.fixture(scope="module")
def listener() -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter()
    yield counter
    counter.close()


@pytest.fixture(autouse=True)
def _no_fetch(listener: ConnectionCounter) -> Iterator[None]:
    """Whatever a test does, the listener must not have been contacted."""
    before = listener.connections
    yield
    assert listener.connections == before == 0, "an outbound fetch happened"


@pytest.fixture(scope="module")
def server() -> Iterator[SoapServer]:
    with SoapServer(customers=3) as running:
        yield running


def _config(wsdl: str | Path, server: SoapServer) -> dict[str, object]:
    return server.config(wsdl=str(wsdl), endpoint=server.endpoint_url)


def _with_doctype(text: str, subset: str) -> str:
    declaration, rest = text.split("\n", 1)
    return f"{declaration}\n<!DOCTYPE wsdl:definitions [{subset}]>\n{rest}"


def _write(tmp_path: Path, text: str, name: str = "service.wsdl") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _load_error(config: dict[str, object]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        SoapClient(config).close()
    assert caught.value.field == "wsdl"
    return caught.value


# ------------------------------------------------------------------ entities in the WSDL


def test_wsdl_with_file_entity_is_refused_without_reading_the_file(
    tmp_path: Path, server: SoapServer
) -> None:
    text = _with_doctype(WSDL_TEXT, '<!ENTITY xxe SYSTEM "file:///etc/passwd">').replace(
        "<wsdl:documentation>", "<wsdl:documentation>&xxe;", 1
    )
    error = _load_error(_config(_write(tmp_path, text), server))
    assert "DTD" in error.message
    assert "root:" not in str(error)


def test_wsdl_with_http_entity_is_refused(
    tmp_path: Path, server: SoapServer, listener: ConnectionCounter
) -> None:
    text = _with_doctype(WSDL_TEXT, f'<!ENTITY xxe SYSTEM "{listener.url}/xxe">').replace(
        "<wsdl:documentation>", "<wsdl:documentation>&xxe;", 1
    )
    error = _load_error(_config(_write(tmp_path, text), server))
    assert "DTD" in error.message


def test_wsdl_with_external_dtd_is_refused(
    tmp_path: Path, server: SoapServer, listener: ConnectionCounter
) -> None:
    declaration, rest = WSDL_TEXT.split("\n", 1)
    text = f'{declaration}\n<!DOCTYPE wsdl:definitions SYSTEM "{listener.url}/evil.dtd">\n{rest}'
    error = _load_error(_config(_write(tmp_path, text), server))
    assert "DTD" in error.message


def test_billion_laughs_wsdl_is_refused(tmp_path: Path, server: SoapServer) -> None:
    text = _with_doctype(WSDL_TEXT, BILLION_LAUGHS_DTD).replace(
        "<wsdl:documentation>", "<wsdl:documentation>&lol9;", 1
    )
    error = _load_error(_config(_write(tmp_path, text), server))
    assert "entities, which are refused" in error.message


def test_check_reports_a_hostile_wsdl_as_a_wsdl_setting_error(
    tmp_path: Path, server: SoapServer
) -> None:
    text = _with_doctype(WSDL_TEXT, '<!ENTITY xxe SYSTEM "file:///etc/passwd">')
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(_config(_write(tmp_path, text), server))
    assert caught.value.field == "wsdl"


# ------------------------------------------------------------------ imports in the WSDL


def _importing(schema_import: str) -> str:
    """The fixture WSDL whose schema also imports another document."""
    head, tail = WSDL_TEXT.split(SCHEMA_OPEN, 1)
    opening, rest = tail.split(">", 1)
    return f"{head}{SCHEMA_OPEN}{opening}>\n   {schema_import}{rest}"


@pytest.mark.parametrize("kind", ["import", "include"])
def test_wsdl_schema_reference_to_a_url_is_refused(
    kind: str, tmp_path: Path, server: SoapServer, listener: ConnectionCounter
) -> None:
    url = f"{listener.url}/types.xsd"
    element = (
        f'<xsd:import namespace="urn:evil" schemaLocation="{url}"/>'
        if kind == "import"
        else f'<xsd:include schemaLocation="{url}"/>'
    )
    error = _load_error(_config(_write(tmp_path, _importing(element)), server))
    assert "refused" in error.message
    assert listener.url in error.message


def test_wsdl_import_of_another_wsdl_is_refused(
    tmp_path: Path, server: SoapServer, listener: ConnectionCounter
) -> None:
    element = f'<wsdl:import namespace="urn:evil" location="{listener.url}/other.wsdl"/>'
    text = WSDL_TEXT.replace(" <wsdl:documentation>", f" {element}\n <wsdl:documentation>", 1)
    error = _load_error(_config(_write(tmp_path, text), server))
    assert "refused" in error.message


@pytest.mark.parametrize("location", ["file:///etc/passwd", "/etc/passwd", "../outside/types.xsd"])
def test_wsdl_schema_reference_outside_its_folder_is_refused(
    location: str, tmp_path: Path, server: SoapServer
) -> None:
    folder = tmp_path / "wsdl"
    folder.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "types.xsd").write_text(
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x"/>',
        encoding="utf-8",
    )
    element = f'<xsd:import namespace="urn:x" schemaLocation="{location}"/>'
    error = _load_error(_config(_write(folder, _importing(element)), server))
    assert "refused" in error.message
    assert "root:" not in str(error)


def test_remote_wsdl_may_not_import_even_from_its_own_server(
    server: SoapServer, listener: ConnectionCounter
) -> None:
    text = _importing(
        f'<xsd:import namespace="urn:evil" schemaLocation="{listener.url}/types.xsd"/>'
    ).replace(PLACEHOLDER_ORIGIN, server.base_url)
    server.inject("wsdl_body", "WSDL", body=text.encode())
    error = _load_error(server.config())
    assert "refused" in error.message

    relative = _importing('<xsd:import namespace="urn:evil" schemaLocation="types.xsd"/>')
    server.inject("wsdl_body", "WSDL", body=relative.encode())
    error = _load_error(server.config())
    assert "refused" in error.message
    assert not [path for path in server.requests if path.endswith("types.xsd")]


def test_xsd_next_to_a_local_wsdl_is_allowed(tmp_path: Path, server: SoapServer) -> None:
    """Saved WSDLs may come as a WSDL plus XSD files in one folder: those load."""
    match = re.search(r"(<xsd:schema .*?</xsd:schema>)", WSDL_TEXT, re.DOTALL)
    assert match is not None
    schema = match.group(1)
    (tmp_path / "types.xsd").write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n{schema}', encoding="utf-8"
    )
    stub = (
        '<xsd:schema targetNamespace="urn:sap-com:document:sap:rfc:functions" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        '<xsd:include schemaLocation="types.xsd"/></xsd:schema>'
    )
    text = WSDL_TEXT.replace(match.group(1), stub)
    with SoapClient(_config(_write(tmp_path, text), server)) as client:
        result = client.call(
            "BAPI_CUSTOMER_GETLIST",
            {"IDRANGE": [{"SIGN": "I", "OPTION": "GT", "LOW": ""}], "MAXROWS": 1},
            read=True,
        )
    assert [row["CUSTOMER"] for row in result.data["ADDRESSDATA"]] == ["0000100001"]


# ------------------------------------------------------------------ entities in a response


def _getlist(server: SoapServer) -> None:
    with SoapClient(server.config(max_retries=0)) as client:
        client.call("BAPI_CUSTOMER_GETLIST", {"IDRANGE": [], "MAXROWS": 1}, read=True)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "LISTENER"])
def test_response_with_external_entity_is_refused(
    target: str, server: SoapServer, listener: ConnectionCounter
) -> None:
    url = f"{listener.url}/xxe" if target == "LISTENER" else target
    server.inject("hostile_xxe", "BAPI_CUSTOMER_GETLIST", url=url)
    with pytest.raises(ConfigError) as caught:
        _getlist(server)
    assert "refused" in caught.value.message
    assert "root:" not in str(caught.value)


def test_billion_laughs_response_is_refused(server: SoapServer) -> None:
    server.inject("hostile_billion", "BAPI_CUSTOMER_GETLIST")
    with pytest.raises(ConfigError) as caught:
        _getlist(server)
    assert "refused" in caught.value.message
