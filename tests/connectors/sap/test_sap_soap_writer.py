"""Creating sales orders with BAPI_SALESORDER_CREATEFROMDAT2, exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.sap.soap import CONNECTOR
from connectors.sap.soap.writer import SalesOrderWriter
from connectors.sdk.errors import DataError, TransientError
from connectors.sdk.writer import Writer, WriteRequest
from tests.connectors.sap.sap_soap_server import SoapServer

CREATE = "BAPI_SALESORDER_CREATEFROMDAT2"
GETLIST = "BAPI_SALESORDER_GETLIST"


@pytest.fixture(scope="module")
def server() -> Iterator[SoapServer]:
    with SoapServer(customers=3) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(server: SoapServer) -> None:
    server.reset_counts()


@pytest.fixture
def writer(server: SoapServer) -> Iterator[SalesOrderWriter]:
    made = CONNECTOR.writer(server.config(max_retries=1))  # type: ignore[misc]
    assert isinstance(made, SalesOrderWriter) and isinstance(made, Writer)
    yield made
    made.close()


def payload(**header: Any) -> dict[str, Any]:
    return {
        "ORDER_HEADER_IN": {
            "DOC_TYPE": "TA",
            "SALES_ORG": "1010",
            "DISTR_CHAN": "10",
            "DIVISION": "00",
            "REQ_DATE_H": "2024-06-01",
            **header,
        },
        "ORDER_PARTNERS": [{"PARTN_ROLE": "AG", "PARTN_NUMB": "0000100001"}],
        "ORDER_ITEMS_IN": [{"ITM_NUMBER": "000010", "MATERIAL": "TG11", "TARGET_QU": "PC"}],
        "ORDER_SCHEDULES_IN": [{"ITM_NUMBER": "000010", "REQ_QTY": "5"}],
    }


def request(body: dict[str, Any] | None = None, **kwargs: Any) -> WriteRequest:
    key = kwargs.pop("idempotency_key", uuid.uuid4().hex)
    return WriteRequest("sales_order", body or payload(), key, **kwargs)


def orders_with(server: SoapServer, key: str) -> list[str]:
    return [number for number, order in server.orders.items() if order["PURCH_NO_C"] == key]


def test_create_then_repeat_gives_the_same_document_and_one_order(
    writer: SalesOrderWriter, server: SoapServer
) -> None:
    req = request()
    first = writer.upsert(req)
    assert first.created is True
    assert first.remote_id == orders_with(server, req.idempotency_key)[0]
    assert any("V1/311" in message for message in first.details["messages"])  # type: ignore[index]
    again = writer.upsert(req)
    assert again.created is False
    assert again.remote_id == first.remote_id
    assert again.status == "Open"
    assert orders_with(server, req.idempotency_key) == [first.remote_id]
    assert server.calls[CREATE] == 1
    assert server.calls[GETLIST] == 2  # looked up before each attempt


def test_idempotency_key_goes_into_the_customer_purchase_order_number(
    writer: SalesOrderWriter, server: SoapServer
) -> None:
    req = request(payload(PURCH_NO_C="SOMETHING-ELSE"))
    created = writer.upsert(req)
    assert server.orders[created.remote_id]["PURCH_NO_C"] == req.idempotency_key


def test_lost_answer_is_found_by_the_retry_instead_of_creating_a_twin(
    writer: SalesOrderWriter, server: SoapServer
) -> None:
    req = request()
    server.inject("drop", CREATE)  # SAP saves the order, the answer never arrives
    with pytest.raises(TransientError):
        writer.upsert(req)
    assert server.calls[CREATE] == 1  # a write is never retried blindly
    saved = orders_with(server, req.idempotency_key)
    assert len(saved) == 1
    retried = writer.upsert(req)
    assert retried.created is False
    assert retried.remote_id == saved[0]
    assert orders_with(server, req.idempotency_key) == saved


def test_busy_server_on_create_is_transient_and_not_retried(
    writer: SalesOrderWriter, server: SoapServer
) -> None:
    server.inject("http_503", CREATE, retry_after=0)
    with pytest.raises(TransientError):
        writer.upsert(request())
    assert server.calls[CREATE] == 1


def test_business_error_on_http_200_is_a_data_error_with_sap_messages(
    writer: SalesOrderWriter, server: SoapServer
) -> None:
    before = len(server.orders)
    with pytest.raises(DataError) as caught:
        writer.upsert(request(payload(DOC_TYPE="")))
    assert caught.value.message == (
        "E V1/382: Enter the sales document type; E V4/219: Sales document was not changed"
    )
    assert caught.value.code == "bapi_error"
    assert len(server.orders) == before


def test_abort_message_is_an_error_too(writer: SalesOrderWriter, server: SoapServer) -> None:
    server.inject(
        "return_error", CREATE, type="A", id="V1", number="049", message="Update terminated"
    )
    with pytest.raises(DataError) as caught:
        writer.upsert(request())
    assert "A V1/049: Update terminated" in caught.value.message


def test_unknown_sold_to_party_is_a_data_error(writer: SalesOrderWriter) -> None:
    body = payload()
    body["ORDER_PARTNERS"] = [{"PARTN_ROLE": "AG", "PARTN_NUMB": "0000999999"}]
    with pytest.raises(DataError) as caught:
        writer.upsert(request(body))
    assert "E V1/390" in caught.value.message


def test_sales_organization_comes_from_the_settings_when_the_payload_has_none(
    writer: SalesOrderWriter, server: SoapServer
) -> None:
    body = payload()
    del body["ORDER_HEADER_IN"]["SALES_ORG"]
    created = writer.upsert(request(body))
    assert server.orders[created.remote_id]["SALES_ORG"] == "1010"


def test_rows_may_come_as_zeep_tables(writer: SalesOrderWriter, server: SoapServer) -> None:
    body = payload()
    body["ORDER_PARTNERS"] = {"item": body["ORDER_PARTNERS"]}
    assert writer.upsert(request(body)).created is True


def test_update_is_not_sent_and_says_so(writer: SalesOrderWriter, server: SoapServer) -> None:
    result = writer.upsert(request(remote_id="0000004711"))
    assert result.remote_id == "0000004711"
    assert result.created is False
    assert "cannot change" in result.details["warning"]  # type: ignore[index]
    assert sum(server.calls.values()) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ORDER_PARTNERS": []}, "ORDER_HEADER_IN"),
        (
            {**payload(), "ORDER_PARTNERS": [{"PARTN_ROLE": "WE", "PARTN_NUMB": "1"}]},
            "ORDER_PARTNERS",
        ),
        ({**payload(), "ORDER_ITEMS_IN": "TG11"}, "ORDER_ITEMS_IN"),
    ],
)
def test_payload_without_what_the_bapi_needs_is_refused_before_calling_sap(
    body: dict[str, Any], field: str, writer: SalesOrderWriter, server: SoapServer
) -> None:
    with pytest.raises(DataError) as caught:
        writer.upsert(request(body))
    assert caught.value.field == field
    assert sum(server.calls.values()) == 0


def test_unknown_payload_parameter_or_field_is_a_data_error(
    writer: SalesOrderWriter, server: SoapServer
) -> None:
    with pytest.raises(DataError, match="ORDER_TEXT"):
        writer.upsert(request({**payload(), "ORDER_TEXT": []}))
    body = payload()
    body["ORDER_ITEMS_IN"][0]["COLOUR"] = "red"
    with pytest.raises(DataError, match="COLOUR"):
        writer.upsert(request(body))
    assert server.calls[CREATE] == 0


def test_bad_idempotency_key_or_object_is_refused(writer: SalesOrderWriter) -> None:
    with pytest.raises(DataError, match="32 lowercase hex"):
        writer.upsert(request(idempotency_key="not-a-key"))
    with pytest.raises(DataError, match="cannot write 'invoice'"):
        writer.upsert(WriteRequest("invoice", payload(), uuid.uuid4().hex))
