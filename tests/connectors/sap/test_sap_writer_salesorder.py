"""The sap_odata writer against the fake S/4HANA: idempotent creates, ETag-safe updates.

One fake server for the module (reset before each test); requests are counted by a
transport wrapped around the writer's own, so "no PATCH" and "one refetch" are facts
observed on the wire.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import pytest

from connectors.sap.fake import FakeS4, Fault, serve_fake
from connectors.sap.odata.writer import ITEMS_WARNING, SapODataWriter, writer
from connectors.sdk.errors import ConfigError, DataError, TransientError
from connectors.sdk.writer import Writer, WriteRequest

USER, PASSWORD = "L2C_COMM", "s3cret-Pa55"
CUSTOMER = "0010100001"  # the fake's first business partner
MATERIAL = "FG1000001"  # the fake's first product
ORDERS = "A_SalesOrder"


class Recorder(httpx.HTTPTransport):
    """Counts requests by method and runs `before` hooks just before a request leaves."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []
        self.before: dict[str, Callable[[], object]] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        hook = self.before.pop(request.method, None)
        if hook is not None:
            hook()
        self.calls.append((request.method, request.url.path))
        return super().handle_request(request)

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeS4, str]]:
    fake = FakeS4(
        business_partners=5, products=5, sales_orders=3, billing_documents=0, seed=7,
        username=USER, password=PASSWORD,
    )  # fmt: skip
    with serve_fake(fake) as base_url:
        yield fake, base_url


@pytest.fixture
def fake(server: tuple[FakeS4, str]) -> FakeS4:
    server[0].reset()
    return server[0]


@pytest.fixture
def wire() -> Recorder:
    return Recorder()


@pytest.fixture
def sap(server: tuple[FakeS4, str], wire: Recorder, fake: FakeS4) -> Iterator[SapODataWriter]:
    config = {
        "base_url": server[1],
        "auth": {"type": "basic", "username": USER, "password": PASSWORD},
        "max_retries": 1,
        "timeout_seconds": 10,
    }
    with SapODataWriter(config, transport=wire) as sap_writer:
        yield sap_writer


def order_payload(**header: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "SalesOrderType": "OR",
        "SalesOrganization": "1010",
        "DistributionChannel": "10",
        "OrganizationDivision": "00",
        "SoldToParty": CUSTOMER,
        "RequestedDeliveryDate": "2030-01-15",
        "to_Item": {
            "results": [
                {"SalesOrderItem": "10", "Material": MATERIAL, "RequestedQuantity": "2",
                 "RequestedQuantityUnit": "PC"},
                {"SalesOrderItem": "20", "Material": "FG1000002", "RequestedQuantity": 3.5},
            ]
        },
    }  # fmt: skip
    payload.update(header)
    return payload


def create(sap: SapODataWriter, payload: dict[str, Any], key: str | None = None) -> Any:
    key = key or uuid.uuid4().hex
    return sap.upsert(WriteRequest("sales_order", payload, key))


def orders_with(fake: FakeS4, key: str) -> list[str]:
    return list(fake.stats()["sales_orders_by_po"].get(key, []))


# ---------------------------------------------------------------------- create


def test_writer_factory_builds_a_writer(server: tuple[FakeS4, str]) -> None:
    config = {"base_url": server[1], "auth": {"type": "basic", "username": USER, "password": "x"}}
    built = writer(config)
    try:
        assert isinstance(built, Writer)
    finally:
        built.close()


def test_deep_insert_creates_one_order_with_items_and_key(
    sap: SapODataWriter, fake: FakeS4
) -> None:
    key = uuid.uuid4().hex
    result = create(sap, order_payload(), key)

    assert result.created is True
    assert orders_with(fake, key) == [result.remote_id]
    order = fake.sales_orders[result.remote_id]
    assert order["PurchaseOrderByCustomer"] == key
    assert order["SoldToParty"] == CUSTOMER
    assert order["RequestedDeliveryDate"] == "/Date(1894665600000)/"  # ISO date sent as V2
    assert [(i["Material"], i["RequestedQuantity"]) for i in order["to_Item"]] == [
        (MATERIAL, "2"),
        ("FG1000002", "3.5"),
    ]
    assert result.status == order["OverallSDProcessStatus"]
    assert result.details is not None and result.details["etag"]
    assert any("has been saved" in m["message"] for m in result.details["messages"])


def test_items_as_a_plain_list_are_wrapped(sap: SapODataWriter, fake: FakeS4) -> None:
    payload = order_payload(to_Item=[{"Material": MATERIAL, "RequestedQuantity": "1"}])
    result = create(sap, payload)
    assert [i["Material"] for i in fake.sales_orders[result.remote_id]["to_Item"]] == [MATERIAL]


def test_repeated_upsert_returns_the_same_order_without_creating(
    sap: SapODataWriter, fake: FakeS4, wire: Recorder
) -> None:
    key = uuid.uuid4().hex
    first = create(sap, order_payload(), key)
    again = create(sap, order_payload(), key)

    assert (again.remote_id, again.created) == (first.remote_id, False)
    assert orders_with(fake, key) == [first.remote_id]
    assert wire.count("POST") == 1


@pytest.mark.parametrize("lost", ["drop", "504"])
def test_lost_response_is_transient_and_the_retry_finds_the_order(
    sap: SapODataWriter, fake: FakeS4, wire: Recorder, lost: Literal["drop", "504"]
) -> None:
    key = uuid.uuid4().hex
    fake.inject(Fault(method="POST", path=f"{ORDERS}$", lost_response=lost))

    with pytest.raises(TransientError):
        create(sap, order_payload(), key)
    assert len(orders_with(fake, key)) == 1  # SAP did create it: the answer was lost
    assert wire.count("POST") == 1  # and the client did not post again

    retry = create(sap, order_payload(), key)
    assert retry.created is False
    assert orders_with(fake, key) == [retry.remote_id]
    assert wire.count("POST") == 1


def test_expired_csrf_token_is_fetched_again_once(
    sap: SapODataWriter, fake: FakeS4, wire: Recorder
) -> None:
    create(sap, order_payload())
    fetches = wire.count("HEAD")
    fake.expire_csrf_tokens()

    result = create(sap, order_payload())

    assert result.created is True
    assert wire.count("HEAD") == fetches + 1
    assert wire.count("POST") == 3  # first order, refused one, accepted retry


def test_csrf_refused_twice_is_a_clean_error_not_a_loop(
    sap: SapODataWriter, fake: FakeS4, wire: Recorder
) -> None:
    key = uuid.uuid4().hex
    fake.inject(Fault(method="POST", path=f"{ORDERS}$", expire_csrf=True, times=5))

    with pytest.raises(ConfigError) as caught:
        create(sap, order_payload(), key)

    assert "CSRF" in str(caught.value)
    assert wire.count("POST") == 2
    assert orders_with(fake, key) == []


def test_wrong_password_is_a_config_error_on_auth(server: tuple[FakeS4, str], fake: FakeS4) -> None:
    config = {"base_url": server[1], "auth": {"type": "basic", "username": USER, "password": "no"}}
    with SapODataWriter(config) as refused, pytest.raises(ConfigError) as caught:
        create(refused, order_payload())
    assert caught.value.field == "auth"
    assert "no" not in caught.value.message.split()  # the password is not repeated


def test_sap_busy_is_transient_after_the_client_retries(
    sap: SapODataWriter, fake: FakeS4, wire: Recorder
) -> None:
    key = uuid.uuid4().hex
    fake.inject(Fault(method="POST", path=f"{ORDERS}$", status=503, retry_after=0, times=5))
    with pytest.raises(TransientError) as caught:
        create(sap, order_payload(), key)
    assert caught.value.retry_after == 0
    assert wire.count("POST") == 2  # max_retries=1: SAP did nothing, so one retry is safe
    assert orders_with(fake, key) == []


def test_unknown_sold_to_party_is_a_data_error_with_sap_message(
    sap: SapODataWriter, fake: FakeS4
) -> None:
    with pytest.raises(DataError) as caught:
        create(sap, order_payload(SoldToParty="0099999999"))
    assert "Sold-to party 0099999999 does not exist" in caught.value.message
    assert caught.value.field == "SoldToParty"  # SAP's error detail names the property
    assert fake.stats()["counts"][ORDERS] == 3


def test_item_without_material_is_a_data_error_with_sap_message(
    sap: SapODataWriter, fake: FakeS4
) -> None:
    payload = order_payload(to_Item=[{"SalesOrderItem": "10", "RequestedQuantity": "1"}])
    with pytest.raises(DataError) as caught:
        create(sap, payload)
    assert "Material (empty) does not exist" in caught.value.message
    assert caught.value.field == "Material"
    assert fake.stats()["counts"][ORDERS] == 3


def test_mapping_that_sets_the_reserved_reference_is_a_config_error(
    sap: SapODataWriter, wire: Recorder
) -> None:
    with pytest.raises(ConfigError) as caught:
        create(sap, order_payload(PurchaseOrderByCustomer="PO-4711"))
    assert caught.value.field == "PurchaseOrderByCustomer"
    assert "idempotency" in caught.value.message
    assert wire.calls == []


def test_other_objects_are_refused_naming_the_supported_one(
    sap: SapODataWriter, wire: Recorder
) -> None:
    with pytest.raises(ConfigError) as caught:
        sap.upsert(WriteRequest("invoice", {}, uuid.uuid4().hex))
    assert "sales_order" in str(caught.value)
    assert wire.calls == []


def test_two_orders_holding_the_key_is_a_data_error_naming_both(
    sap: SapODataWriter, fake: FakeS4, wire: Recorder
) -> None:
    key = uuid.uuid4().hex
    fake.touch(ORDERS, "1", PurchaseOrderByCustomer=key)
    fake.touch(ORDERS, "2", PurchaseOrderByCustomer=key)

    with pytest.raises(DataError) as caught:
        create(sap, order_payload(), key)
    assert "1 and 2" in caught.value.message
    assert wire.count("POST") == 0


def test_a_value_that_does_not_fit_its_type_is_refused_before_sending(
    sap: SapODataWriter, wire: Recorder
) -> None:
    with pytest.raises(DataError) as caught:
        create(sap, order_payload(RequestedDeliveryDate="next tuesday"))
    assert caught.value.field == "RequestedDeliveryDate"
    assert wire.count("POST") == 0


# ---------------------------------------------------------------------- update


def update(sap: SapODataWriter, remote_id: str, payload: dict[str, Any], owned: list[str]) -> Any:
    return sap.upsert(
        WriteRequest("sales_order", payload, uuid.uuid4().hex, remote_id=remote_id, owned=owned)
    )


def test_update_patches_only_owned_fields_that_differ(
    sap: SapODataWriter, fake: FakeS4, wire: Recorder
) -> None:
    before = fake.sales_orders["1"]
    payload = {
        "SoldToParty": before["SoldToParty"],
        "ShippingCondition": "02",
        "IncotermsClassification": "FOB",  # differs, but the hub does not own it
    }
    result = update(sap, "1", payload, ["SoldToParty", "ShippingCondition"])

    after = fake.sales_orders["1"]
    assert (result.remote_id, result.created) == ("1", False)
    assert result.details is not None and result.details["changed"] == ["ShippingCondition"]
    assert after["ShippingCondition"] == "02"
    assert after["IncotermsClassification"] == before["IncotermsClassification"]
    assert wire.count("PATCH") == 1
    assert result.details["etag"]

    again = update(sap, "1", payload, ["SoldToParty", "ShippingCondition"])
    assert again.details is not None and "changed" not in again.details
    assert wire.count("PATCH") == 1  # the same update twice is one PATCH


def test_update_without_differences_sends_no_patch(
    sap: SapODataWriter, fake: FakeS4, wire: Recorder
) -> None:
    current = fake.sales_orders["1"]
    payload = {
        "SoldToParty": current["SoldToParty"].lstrip("0"),  # SAP pads it: same customer
        "RequestedDeliveryDate": _iso_date(current["RequestedDeliveryDate"]),
        "ShippingCondition": current["ShippingCondition"],
        "CompleteDeliveryIsDefined": "false",  # Edm.Boolean false
        "AccountingExchangeRate": 0,  # Edm.Decimal "0"
        "to_Item": [
            {"SalesOrderItem": i["SalesOrderItem"], "Material": i["Material"],
             "RequestedQuantity": f"{i['RequestedQuantity']}.000"}
            for i in current["to_Item"]
        ],
    }  # fmt: skip
    owned = [*payload]

    result = update(sap, "1", payload, owned)

    assert result.created is False
    assert result.details is not None and "warnings" not in result.details
    assert wire.count("PATCH") == 0
    assert fake.sales_orders["1"]["LastChangeDateTime"] == current["LastChangeDateTime"]


def test_concurrent_change_is_reread_and_only_owned_fields_reapplied(
    sap: SapODataWriter, fake: FakeS4, wire: Recorder
) -> None:
    payload = {"ShippingCondition": "02", "RequestedDeliveryDate": "2031-03-01"}
    owned = ["ShippingCondition", "RequestedDeliveryDate"]
    # An SAP user saves the order between the writer's read and its PATCH: a field
    # the hub does not own, and one it does.
    wire.before["PATCH"] = lambda: fake.touch(
        ORDERS, "1", IncotermsClassification="FOB", ShippingCondition="07"
    )

    result = update(sap, "1", payload, owned)

    after = fake.sales_orders["1"]
    assert wire.count("PATCH") == 2  # 412, then the re-applied change
    assert after["ShippingCondition"] == "02"
    assert after["RequestedDeliveryDate"] == "/Date(1930089600000)/"
    assert after["IncotermsClassification"] == "FOB"  # SAP's change kept
    assert result.details is not None
    assert set(result.details["changed"]) == {"ShippingCondition", "RequestedDeliveryDate"}


def test_update_that_keeps_meeting_changes_gives_up_as_transient(
    sap: SapODataWriter, fake: FakeS4, wire: Recorder
) -> None:
    fake.inject(Fault(method="PATCH", path=ORDERS, status=412, times=5))
    with pytest.raises(TransientError) as caught:
        update(sap, "1", {"ShippingCondition": "02"}, ["ShippingCondition"])
    assert "3 times" in caught.value.message
    assert wire.count("PATCH") == 3


def test_changed_items_are_not_sent_but_warned_about(
    sap: SapODataWriter, fake: FakeS4, wire: Recorder
) -> None:
    current = fake.sales_orders["1"]
    items = [dict(i, RequestedQuantity="999") for i in current["to_Item"]]
    payload = {"ShippingCondition": "02", "to_Item": {"results": items}}

    result = update(sap, "1", payload, ["ShippingCondition", "to_Item"])

    assert result.details is not None and result.details["warnings"] == [ITEMS_WARNING]
    assert fake.sales_orders["1"]["to_Item"] == current["to_Item"]
    assert wire.count("PATCH") == 1


def test_update_of_an_order_deleted_in_sap_is_a_data_error(sap: SapODataWriter) -> None:
    with pytest.raises(DataError) as caught:
        update(sap, "4711", {"ShippingCondition": "02"}, ["ShippingCondition"])
    assert caught.value.code == "not_found"
    assert "4711" in caught.value.message


def test_update_with_a_wrong_service_path_is_a_config_error_not_a_deleted_order(
    server: tuple[FakeS4, str], fake: FakeS4
) -> None:
    config = {
        "base_url": server[1],
        "service_path": "/sap/opu/odata/zz",
        "auth": {"type": "basic", "username": USER, "password": PASSWORD},
        "max_retries": 0,
    }
    with SapODataWriter(config) as wrong, pytest.raises(ConfigError) as caught:
        update(wrong, "1", {"ShippingCondition": "02"}, ["ShippingCondition"])
    assert caught.value.field in ("service_path", "base_url")


def test_update_of_a_field_sap_does_not_let_change_is_a_data_error(
    sap: SapODataWriter,
) -> None:
    with pytest.raises(DataError) as caught:
        update(sap, "1", {"TotalNetAmount": "1.00"}, ["TotalNetAmount"])
    assert "TotalNetAmount" in caught.value.message


def _iso_date(wire_value: str) -> str:
    millis = int(wire_value[6:-2].split("+", maxsplit=1)[0])
    return datetime.fromtimestamp(millis / 1000, UTC).date().isoformat()
