"""SAP Event Mesh webhook receiver and the re-read of events' entities (events.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.sap.fake import FakeS4, serve_fake
from connectors.sap.odata.events import EventMeshReceiver, ODataRecordFetcher, stream_for_type
from connectors.sap.odata.streams import STREAMS, stream_schema
from connectors.sdk.errors import ConfigError, DataError
from connectors.sdk.webhooks import RecordFetcher, WebhookReceiver

HOOK_USER, HOOK_PASSWORD = "EVENT_MESH", "webhook-s3cret"
CONFIG: dict[str, Any] = {"events": {"username": HOOK_USER, "password": HOOK_PASSWORD}}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def cloud_event(event_type: str, data: Any, event_id: str = "e-1") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "type": event_type,
        "source": "/default/sap.s4.beh/S4HCLNT100",
        "id": event_id,
        "time": "2024-03-18T14:39:47Z",
        "datacontenttype": "application/json",
        "data": data,
    }


def post(
    body: Any,
    content_type: str = "application/cloudevents+json",
    authorization: str | None = None,
    **headers: str,
) -> tuple[dict[str, str], bytes]:
    sent = {
        "Content-Type": content_type,
        "Authorization": authorization or basic(HOOK_USER, HOOK_PASSWORD),
        **headers,
    }
    return sent, json.dumps(body).encode()


@pytest.fixture
def receiver() -> EventMeshReceiver:
    return EventMeshReceiver(CONFIG)


def test_receiver_and_fetcher_satisfy_the_sdk_protocols(receiver: EventMeshReceiver) -> None:
    assert isinstance(receiver, WebhookReceiver)
    auth = {"type": "basic", "username": "u", "password": "p"}
    fetcher = ODataRecordFetcher({"base_url": "http://127.0.0.1:9", "auth": auth})
    try:
        assert isinstance(fetcher, RecordFetcher)
    finally:
        fetcher.close()


def test_structured_event_becomes_one_keyed_event(receiver: EventMeshReceiver) -> None:
    headers, body = post(
        cloud_event(
            "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1",
            {"SalesOrder": "42", "SalesOrderType": "OR"},
        )
    )
    (event,) = receiver.verify(headers, body)
    assert (event.id, event.stream, dict(event.record)) == (
        "e-1",
        "sales_orders",
        {"SalesOrder": "42"},
    )


@pytest.mark.parametrize(
    ("event_type", "stream", "data"),
    [
        (
            "sap.s4.beh.businesspartner.v1.BusinessPartner.Created.v1",
            "business_partners",
            {"BusinessPartner": "0010100001"},
        ),
        (
            "sap.s4.beh.businesspartner.v1.BusinessPartner.Changed.v2",
            "business_partners",
            {"BusinessPartner": "1"},
        ),
        ("sap.s4.beh.product.v1.Product.Changed.v1", "products", {"Product": "FG-100"}),
        (
            "sap.s4.beh.billingdocument.v1.BillingDocument.Created.v1",
            "billing_documents",
            {"BillingDocument": "90000001"},
        ),
        ("sap.s4.beh.salesorder.v2.SalesOrder.Created.v1", "sales_orders", {"SalesOrder": "7"}),
    ],
)
def test_event_types_map_to_streams(
    receiver: EventMeshReceiver, event_type: str, stream: str, data: dict[str, str]
) -> None:
    headers, body = post(cloud_event(event_type, data), content_type="application/json")
    (event,) = receiver.verify(headers, body)
    assert event.stream == stream
    assert dict(event.record) == data


def test_batch_mode_gives_one_event_per_item(receiver: EventMeshReceiver) -> None:
    batch = [
        cloud_event("sap.s4.beh.salesorder.v1.SalesOrder.Created.v1", {"SalesOrder": "1"}, "a"),
        cloud_event("sap.s4.beh.product.v1.Product.Changed.v1", {"Product": "P-1"}, "b"),
    ]
    headers, body = post(batch, content_type="application/cloudevents-batch+json; charset=utf-8")
    events = receiver.verify(headers, body)
    assert [(e.id, e.stream) for e in events] == [("a", "sales_orders"), ("b", "products")]


def test_binary_mode_reads_attributes_from_headers(receiver: EventMeshReceiver) -> None:
    headers = {
        "authorization": basic(HOOK_USER, HOOK_PASSWORD),
        "content-type": "application/json",
        "ce-specversion": "1.0",
        "ce-type": "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1",
        "ce-id": "bin-1",
        "ce-source": "/default/sap.s4.beh/S4HCLNT100",
    }
    (event,) = receiver.verify(headers, b'{"SalesOrder": "9"}')
    assert (event.id, event.stream, dict(event.record)) == (
        "bin-1",
        "sales_orders",
        {"SalesOrder": "9"},
    )


@pytest.mark.parametrize(
    "authorization",
    [
        basic(HOOK_USER, "wrong-password"),
        basic("SOMEONE", HOOK_PASSWORD),
        "Bearer abc",
        "Basic !!!not-base64!!!",
        "",
    ],
)
def test_missing_or_wrong_credentials_are_refused(
    receiver: EventMeshReceiver, authorization: str
) -> None:
    headers, body = post(
        cloud_event("sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1", {"SalesOrder": "1"})
    )
    headers["Authorization"] = authorization
    with pytest.raises(ConfigError) as caught:
        receiver.verify(headers, body)
    assert caught.value.field == "events"
    assert HOOK_PASSWORD not in str(caught.value)


def test_events_not_configured_are_refused() -> None:
    headers, body = post(
        cloud_event("sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1", {"SalesOrder": "1"})
    )
    with pytest.raises(ConfigError, match="not enabled"):
        EventMeshReceiver({}).verify(headers, body)


def test_unknown_event_type_is_a_data_error_naming_it(receiver: EventMeshReceiver) -> None:
    headers, body = post(
        cloud_event("sap.s4.beh.purchaseorder.v1.PurchaseOrder.Changed.v1", {"PurchaseOrder": "1"})
    )
    with pytest.raises(DataError, match=r"PurchaseOrder\.Changed"):
        receiver.verify(headers, body)
    with pytest.raises(DataError, match="Deleted"):
        stream_for_type("sap.s4.beh.salesorder.v1.SalesOrder.Deleted.v1")


def test_missing_key_is_a_data_error_naming_it(receiver: EventMeshReceiver) -> None:
    headers, body = post(
        cloud_event("sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1", {"SalesOrderType": "OR"})
    )
    with pytest.raises(DataError, match="SalesOrder") as caught:
        receiver.verify(headers, body)
    assert caught.value.field == "data.SalesOrder"


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{not json", "application/cloudevents+json", "not JSON"),
        (
            json.dumps(
                {
                    **cloud_event("sap.s4.beh.product.v1.Product.Changed.v1", {"Product": "1"}),
                    "specversion": "0.3",
                }
            ).encode(),
            "application/json",
            "specversion",
        ),
        (
            json.dumps(
                cloud_event("sap.s4.beh.product.v1.Product.Changed.v1", {"Product": "1"})
            ).encode(),
            "text/plain",
            "content type",
        ),
        (
            json.dumps(
                {
                    "specversion": "1.0",
                    "type": "sap.s4.beh.product.v1.Product.Changed.v1",
                    "data": {"Product": "1"},
                }
            ).encode(),
            "application/json",
            "no id",
        ),
    ],
)
def test_unreadable_bodies_are_data_errors(
    receiver: EventMeshReceiver, body: bytes, content_type: str, message: str
) -> None:
    headers = {"Authorization": basic(HOOK_USER, HOOK_PASSWORD), "Content-Type": content_type}
    with pytest.raises(DataError, match=message):
        receiver.verify(headers, body)


# ---------------------------------------------------------------------- fetcher


@pytest.fixture(scope="module")
def fake() -> FakeS4:
    return FakeS4(
        business_partners=90, products=5, sales_orders=8, billing_documents=0, seed=5, page_size=25
    )


@pytest.fixture(scope="module")
def base_url(fake: FakeS4) -> Iterator[str]:
    with serve_fake(fake) as url:
        yield url


def fetcher_for(base_url: str) -> ODataRecordFetcher:
    return ODataRecordFetcher(
        {
            "base_url": base_url,
            "sap_client": "100",
            "auth": {"type": "basic", "username": "L2C_COMM", "password": "s3cret-Pa55"},
        }
    )


def test_fetcher_rereads_records_in_the_tap_shape_and_leaves_out_unknown_keys(
    base_url: str,
) -> None:
    fetcher = fetcher_for(base_url)
    try:
        records = fetcher.fetch(
            "sales_orders", [{"SalesOrder": "3"}, {"SalesOrder": "999999"}, {"SalesOrder": "5"}]
        )
    finally:
        fetcher.close()
    assert sorted(r["SalesOrder"] for r in records) == ["3", "5"]
    schema = stream_schema(STREAMS["sales_orders"])
    for record in records:
        assert set(record) <= set(schema["properties"])
        assert isinstance(record["to_Item"], list)
        assert record["to_Item"], "the stream's $expand is applied"
        assert "__metadata" not in record


def test_fetcher_batches_forty_keys_per_request_and_follows_paging(
    fake: FakeS4, base_url: str
) -> None:
    fetcher = fetcher_for(base_url)
    everything = fetcher.fetch("business_partners", [])
    assert everything == []
    partners = [f"{10100000 + i:010d}" for i in range(1, 91)]
    before = fake.stats()["requests"].get("GET A_BusinessPartner", 0)
    try:
        records = fetcher.fetch("business_partners", [{"BusinessPartner": k} for k in partners])
    finally:
        fetcher.close()
    found = sorted(r["BusinessPartner"] for r in records)
    assert len(found) == len(set(found))
    assert set(found) <= set(partners)
    assert len(found) == 90
    assert all("_changed_at" in r for r in records)
    requests = fake.stats()["requests"]["GET A_BusinessPartner"] - before
    # three key batches (40 + 40 + 10); the server pages at 25, so batches of 40 take two pages
    assert requests == 5
