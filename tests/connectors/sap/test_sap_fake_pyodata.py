"""SAP's own OData client (pyodata) reads and writes the fake S/4HANA like a real system."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal

import pyodata
import pytest
import requests
from pyodata.v2.model import MetadataBuilder

from connectors.sap.fake import FakeS4, serve_fake
from connectors.sap.fake.model import SERVICES, load_service

logging.getLogger("pyodata").setLevel(logging.ERROR)

USER, PASSWORD = "L2C_COMM", "s3cret-Pa55"


@pytest.fixture(scope="module")
def fake() -> FakeS4:
    return FakeS4(
        business_partners=40, products=12, sales_orders=25, billing_documents=10, page_size=7
    )


@pytest.fixture(scope="module")
def base_url(fake: FakeS4) -> Iterator[str]:
    with serve_fake(fake) as url:
        yield url


@pytest.fixture
def session() -> requests.Session:
    s = requests.Session()
    s.auth = (USER, PASSWORD)
    return s


def client(base_url: str, session: requests.Session, service: str) -> pyodata.Client:
    return pyodata.Client(f"{base_url}/sap/opu/odata/sap/{service}/", session)


@pytest.mark.parametrize("service", SERVICES)
def test_metadata_of_every_service_builds_a_strict_pyodata_model(service: str) -> None:
    schema = MetadataBuilder(load_service(service).metadata).build()
    assert schema.entity_sets


def test_pyodata_lists_the_entity_sets_from_served_metadata(
    base_url: str, session: requests.Session
) -> None:
    names = {es.name for es in client(base_url, session, "API_BUSINESS_PARTNER").schema.entity_sets}
    assert {
        "A_BusinessPartner",
        "A_Customer",
        "A_CustomerSalesArea",
        "A_BusinessPartnerAddress",
    } <= names


def test_top_skip_and_inline_count(base_url: str, session: requests.Session) -> None:
    orders = client(base_url, session, "API_SALES_ORDER_SRV").entity_sets.A_SalesOrder
    page = orders.get_entities().count(inline=True).top(5).skip(3).execute()
    assert page.total_count == 25
    assert [o.SalesOrder for o in page] == ["4", "5", "6", "7", "8"]
    assert Decimal(page[0].TotalNetAmount) > 0  # decimals travel as exact strings
    assert page[0].LastChangeDateTime.tzinfo is not None


def test_count_endpoint_respects_the_filter(base_url: str, session: requests.Session) -> None:
    partners = client(base_url, session, "API_BUSINESS_PARTNER").entity_sets.A_BusinessPartner
    assert partners.get_entities().count().execute() == 40
    organisations = partners.get_entities().filter("BusinessPartnerCategory eq '2'")
    people = partners.get_entities().filter("BusinessPartnerCategory eq '1'")
    assert organisations.count().execute() + people.count().execute() == 40


def test_server_paging_is_followed_through_next_links(
    base_url: str, session: requests.Session
) -> None:
    partners = client(base_url, session, "API_BUSINESS_PARTNER").entity_sets.A_BusinessPartner
    page = partners.get_entities().execute()
    seen = [p.BusinessPartner for p in page]
    pages = 1
    while page.next_url:
        page = partners.get_entities().next_url(page.next_url).execute()
        seen += [p.BusinessPartner for p in page]
        pages += 1
    assert pages == 6  # 40 partners, 7 per page
    assert seen == sorted(seen)
    assert len(set(seen)) == 40


def test_filter_on_a_datetimeoffset_is_exact(
    base_url: str, session: requests.Session, fake: FakeS4
) -> None:
    orders = client(base_url, session, "API_SALES_ORDER_SRV").entity_sets.A_SalesOrder
    stamps = sorted(fake.collections["sales_orders"].columns["LastChangeDateTime"])
    middle = stamps[len(stamps) // 2]
    from connectors.sap.fake.wire import ticks_to_iso

    literal = f"LastChangeDateTime ge datetimeoffset'{ticks_to_iso(middle)}Z'"
    newer = orders.get_entities().filter(literal).count().execute()
    assert newer == sum(1 for s in stamps if s >= middle)


def test_entity_by_key_with_expanded_items(
    base_url: str, session: requests.Session, fake: FakeS4
) -> None:
    orders = client(base_url, session, "API_SALES_ORDER_SRV").entity_sets.A_SalesOrder
    order = orders.get_entity("3").expand("to_Item").execute()
    expected = fake.sales_orders["3"]
    assert order.SoldToParty == expected["SoldToParty"]
    assert [i.Material for i in order.to_Item] == [i["Material"] for i in expected["to_Item"]]
    assert order.etag.startswith('W/"datetimeoffset')


def test_composite_key_and_navigation(base_url: str, session: requests.Session) -> None:
    service = client(base_url, session, "API_SALES_ORDER_SRV")
    item = service.entity_sets.A_SalesOrderItem.get_entity(
        SalesOrder="2", SalesOrderItem="10"
    ).execute()
    assert item.SalesOrder == "2"
    order = service.entity_sets.A_SalesOrder.get_entity("2").execute()
    partners = order.nav("to_Partner").get_entities().execute()
    assert {p.PartnerFunction for p in partners} >= {"AG", "WE"}


def test_sales_order_created_through_pyodata_reads_back(base_url: str) -> None:
    session = requests.Session()
    session.auth = (USER, PASSWORD)
    root = f"{base_url}/sap/opu/odata/sap/API_SALES_ORDER_SRV/"
    service = pyodata.Client(root, session)
    token = session.head(root, headers={"x-csrf-token": "Fetch"})
    session.headers["x-csrf-token"] = token.headers["x-csrf-token"]
    request = service.entity_sets.A_SalesOrder.create_entity()
    request.set(
        SalesOrderType="OR",
        SoldToParty="0010100005",
        PurchaseOrderByCustomer="c0ffee00c0ffee00c0ffee00c0ffee00",
        to_Item=[{"Material": "FG1000003", "RequestedQuantity": "4"}],
    )
    created = request.execute()
    assert created.SalesOrder == "26"
    back = (
        service.entity_sets.A_SalesOrder.get_entity(created.SalesOrder).expand("to_Item").execute()
    )
    assert back.PurchaseOrderByCustomer == "c0ffee00c0ffee00c0ffee00c0ffee00"
    assert back.to_Item[0].Material == "FG1000003"
    assert Decimal(back.TotalNetAmount) == Decimal(back.to_Item[0].NetAmount) > 0
