"""Reading customers through BAPI_CUSTOMER_GETLIST + _GETDETAIL2, and call error mapping."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree
from tenacity import RetryCallState, Retrying

from connectors.sap.soap.client import SoapClient, _wait
from connectors.sap.soap.tap import SapSoapTap
from connectors.sdk.embedding import run_embedded
from connectors.sdk.errors import ConfigError, DataError, TransientError
from tests.connectors.sap.sap_soap_server import SoapServer

GETLIST = "BAPI_CUSTOMER_GETLIST"
GETDETAIL2 = "BAPI_CUSTOMER_GETDETAIL2"
EVERYONE = {"IDRANGE": [{"SIGN": "I", "OPTION": "GT", "LOW": ""}], "MAXROWS": 2}


@pytest.fixture(scope="module")
def server() -> Iterator[SoapServer]:
    with SoapServer(customers=9) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(server: SoapServer) -> None:
    server.reset_counts()
    server.bodies.clear()


def _sync(server: SoapServer, **overrides: object) -> list[dict[str, object]]:
    return run_embedded(SapSoapTap, server.config(**overrides)).records_of("customers")


def _idrange_lows(server: SoapServer) -> list[str]:
    lows = []
    for body in server.bodies:
        root = etree.fromstring(body)
        if root.find(".//{*}BAPI_CUSTOMER_GETLIST") is not None:
            lows.append(root.findtext(".//IDRANGE/item/LOW") or "")
    return lows


# ------------------------------------------------------------------ the sync


def test_sync_emits_every_customer_with_its_detail(server: SoapServer) -> None:
    records = _sync(server)
    numbers = [record["CUSTOMERNO"] for record in records]
    assert numbers == sorted(server.customers) and len(numbers) == 10
    first = records[0]
    assert set(first) == {
        "CUSTOMERNO",
        "CUSTOMERADDRESS",
        "CUSTOMERGENERALDETAIL",
        "CUSTOMERCOMPANYDETAIL",
    }
    assert first["CUSTOMERADDRESS"]["CUSTOMER"] == "0000100001"  # type: ignore[index]
    assert first["CUSTOMERADDRESS"]["NAME"] == "示例贸易1号有限公司"  # type: ignore[index]
    assert first["CUSTOMERCOMPANYDETAIL"]["COMP_CODE"] == "1010"  # type: ignore[index]
    assert server.calls[GETDETAIL2] == 10


def test_values_stay_sap_strings_and_empty_values_become_null(server: SoapServer) -> None:
    record = next(r for r in _sync(server) if r["CUSTOMERNO"] == "0000100002")
    general = record["CUSTOMERGENERALDETAIL"]
    company = record["CUSTOMERCOMPANYDETAIL"]
    address = record["CUSTOMERADDRESS"]
    assert isinstance(general, dict) and isinstance(company, dict) and isinstance(address, dict)
    assert general["CREAT_DATE"] is None  # SAP sent the initial date 0000-00-00
    assert company["CREAT_DATE"] == "2023-01-02"
    assert company["CONTROL_ACCOUNT"] == "0012100000"  # leading zeros kept
    assert company["CREDIT_LIMIT"] == "20000.00"  # decimal15.2, exact text
    assert address["NAME_2"] is None and address["FAX_NUMBER"] is None
    assert address["LANGU"] == "1"


def test_pages_ask_for_numbers_after_the_last_one_seen(server: SoapServer) -> None:
    records = _sync(server, max_rows=4)
    assert len(records) == 10
    assert _idrange_lows(server) == ["", "0000100004", "0000100008"]


def test_a_full_last_page_ends_on_no_customers_found(server: SoapServer) -> None:
    records = _sync(server, max_rows=5)
    assert len(records) == 10
    # 5 + 5, then a third page that finds nothing: F2/718 is the end, not an error
    assert _idrange_lows(server) == ["", "0000100005", "CN-EXT-001"]


def test_refused_detail_is_emitted_for_quarantine_and_the_sync_goes_on(
    server: SoapServer,
) -> None:
    server.inject(
        "return_error",
        GETDETAIL2,
        type="E",
        id="F2",
        number="504",
        message="Customer 0000100001 is not created in company code 1010",
    )
    records = _sync(server)
    assert records[0] == {
        "CUSTOMERNO": "0000100001",
        "_error": "E F2/504: Customer 0000100001 is not created in company code 1010",
    }
    assert all("_error" not in record for record in records[1:])
    assert len(records) == 10


def test_missing_authorization_in_return_is_a_settings_error(server: SoapServer) -> None:
    server.inject(
        "return_error",
        GETLIST,
        id="F2",
        number="543",
        message="No authorization to display general data for customer accounts",
    )
    with pytest.raises(ConfigError) as caught:
        _sync(server)
    assert caught.value.field == "username"
    assert "E F2/543" in caught.value.message


def test_busy_server_is_retried_then_answers(server: SoapServer) -> None:
    server.inject("http_503", GETLIST, retry_after=0)
    server.inject("http_503", GETLIST, retry_after=0)
    assert len(_sync(server, max_retries=2)) == 10
    assert server.calls[GETLIST] == 3  # two refused, then the one page


# ------------------------------------------------------------------ call errors


def _call(server: SoapServer, **overrides: object) -> object:
    with SoapClient(server.config(**overrides)) as client:
        return client.call(GETLIST, EVERYONE, read=True)


def test_retries_give_up_with_a_transient_error_carrying_retry_after(
    server: SoapServer,
) -> None:
    for _ in range(3):
        server.inject("http_503", GETLIST, retry_after=0)
    with pytest.raises(TransientError) as caught:
        _call(server, max_retries=2)
    assert caught.value.retry_after == 0
    assert server.calls[GETLIST] == 3


def test_retry_waits_as_long_as_retry_after_says() -> None:
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.set_exception((TransientError, TransientError("busy", retry_after=7), None))
    assert _wait(state) == 7
    state.set_exception((TransientError, TransientError("busy", retry_after=3600), None))
    assert _wait(state) == 30  # capped
    state.set_exception((TransientError, TransientError("busy"), None))
    assert _wait(state) == 0.5  # first attempt's back-off


def test_client_fault_is_a_data_error(server: SoapServer) -> None:
    server.inject("fault_client", GETLIST, text="Element IDRANGE: value too long")
    with pytest.raises(DataError) as caught:
        _call(server)
    assert "SOAP fault Client: Element IDRANGE: value too long" in caught.value.message
    assert "[INVALID_INPUT]" in caught.value.message  # the ABAP exception from <detail>
    assert server.calls[GETLIST] == 1  # not retried


def test_server_fault_is_transient(server: SoapServer) -> None:
    server.inject("fault_server", GETLIST)
    with pytest.raises(TransientError) as caught:
        _call(server, max_retries=0)
    assert "SOAP fault Server" in caught.value.message


def test_server_fault_about_authorization_is_a_settings_error(server: SoapServer) -> None:
    server.inject("fault_logon", GETLIST)
    with pytest.raises(ConfigError) as caught:
        _call(server)
    assert caught.value.field == "username"
    assert "No RFC authorization" in caught.value.message
    assert server.calls[GETLIST] == 1


def test_wrong_password_is_a_settings_error_without_the_password(server: SoapServer) -> None:
    with pytest.raises(ConfigError) as caught:
        _call(server, password="wrong-Secret-42")
    assert caught.value.field == "username"
    assert "401" in caught.value.message
    assert "wrong-Secret-42" not in str(caught.value)


def test_html_error_page_with_500_is_transient(server: SoapServer) -> None:
    server.inject("http_500_html", GETLIST)
    with pytest.raises(TransientError):
        _call(server, max_retries=0)


def test_timeout_is_transient(server: SoapServer) -> None:
    server.inject("delay", GETLIST, seconds=1.0)
    with pytest.raises(TransientError) as caught:
        _call(server, timeout_seconds=0.2, max_retries=0)
    assert "no answer" in caught.value.message


def test_lost_connection_on_a_read_is_retried(server: SoapServer) -> None:
    server.inject("drop_before", GETLIST)
    result = _call(server, max_retries=1)
    assert result.data["ADDRESSDATA"][0]["CUSTOMER"] == "0000100001"  # type: ignore[attr-defined]


def test_unknown_parameter_is_a_data_error(server: SoapServer) -> None:
    with SoapClient(server.config()) as client, pytest.raises(DataError) as caught:
        client.call(GETLIST, {**EVERYONE, "NOT_A_PARAMETER": "x"}, read=True)
    assert "NOT_A_PARAMETER" in caught.value.message
    assert server.calls[GETLIST] == 0


def test_unknown_structure_field_is_a_data_error(server: SoapServer) -> None:
    with SoapClient(server.config()) as client, pytest.raises(DataError) as caught:
        client.call(GETLIST, {"IDRANGE": [{"SIGN": "I", "COLOUR": "red"}]}, read=True)
    assert "COLOUR" in caught.value.message


def test_output_tables_are_always_requested(server: SoapServer) -> None:
    """SAP returns a table only if the request carried it, RETURN included."""
    _call(server)
    root = etree.fromstring(server.bodies[-1])
    call = root.find(".//{*}BAPI_CUSTOMER_GETLIST")
    assert call is not None
    assert {etree.QName(child).localname for child in call} >= {"ADDRESSDATA", "SPECIALDATA"}


def test_sap_client_is_sent_on_every_call(server: SoapServer) -> None:
    with SoapClient(server.config(sap_client="200")) as client:
        assert client.address.endswith("?sap-client=200")
