"""Query options of the fake: $filter (incremental watermarks), $orderby, $select, $expand,
paging windows — checked against the fake's own data computed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from connectors.sap.fake import FakeS4, serve_fake
from connectors.sap.fake.filter import FilterError, parse_filter
from connectors.sap.fake.wire import from_wire

USER, PASSWORD = "L2C_COMM", "s3cret-Pa55"
BP = "/sap/opu/odata/sap/API_BUSINESS_PARTNER/"
SO = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeS4, httpx.Client]]:
    fake = FakeS4(
        business_partners=300, products=10, sales_orders=60, billing_documents=30, page_size=50
    )
    with (
        serve_fake(fake) as url,
        httpx.Client(
            base_url=url, auth=(USER, PASSWORD), headers={"Accept": "application/json"}
        ) as client,
    ):
        yield fake, client


def read_all(http: httpx.Client, path: str, params: dict[str, str]) -> list[dict]:
    """Follow __next until it is absent, as a client must."""
    response = http.get(path, params=params).json()["d"]
    results = list(response["results"])
    while "__next" in response:
        response = http.get(response["__next"]).json()["d"]
        results += response["results"]
    return results


def partner_stamps(fake: FakeS4) -> list[tuple[str, int | None, int | None]]:
    root = fake.collections["business_partners"]
    out = []
    for i in range(len(root)):
        bp = root.entity(i)
        out.append(
            (
                bp["BusinessPartner"],
                from_wire(bp.get("LastChangeDate"), "Edm.DateTime"),
                from_wire(bp.get("LastChangeTime"), "Edm.Time"),
            )
        )
    return out


def test_incremental_partner_filter_on_date_and_time(server: tuple[FakeS4, httpx.Client]) -> None:
    fake, http = server
    stamps = partner_stamps(fake)
    changed = sorted(s for s in stamps if s[1] is not None)
    _, day, time = changed[len(changed) // 2]
    iso_day = datetime.fromtimestamp(day // 10_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    seconds = time // 10_000_000
    literal = f"PT{seconds // 3600:02d}H{seconds % 3600 // 60:02d}M{seconds % 60:02d}S"
    flt = (
        f"LastChangeDate gt datetime'{iso_day}' or (LastChangeDate eq datetime'{iso_day}' "
        f"and LastChangeTime ge time'{literal}')"
    )
    got = read_all(
        http,
        BP + "A_BusinessPartner",
        {"$filter": flt, "$orderby": "LastChangeDate,LastChangeTime"},
    )
    expected = {
        bp for bp, d, t in stamps if d is not None and (d > day or (d == day and t >= time))
    }
    assert {r["BusinessPartner"] for r in got} == expected
    keys = [
        (from_wire(r["LastChangeDate"], "Edm.DateTime"), from_wire(r["LastChangeTime"], "Edm.Time"))
        for r in got
    ]
    assert keys == sorted(keys)
    assert 0 < len(expected) < len(stamps)


def test_never_changed_partners_have_null_change_stamps(
    server: tuple[FakeS4, httpx.Client],
) -> None:
    fake, http = server
    never = read_all(
        http,
        BP + "A_BusinessPartner",
        {"$filter": "LastChangeDate eq null", "$select": "BusinessPartner,CreationDate"},
    )
    assert never and all(set(r) == {"__metadata", "BusinessPartner", "CreationDate"} for r in never)
    assert len(never) == sum(1 for s in partner_stamps(fake) if s[1] is None)


def test_orderby_descending_then_key(server: tuple[FakeS4, httpx.Client]) -> None:
    _, http = server
    rows = read_all(
        http,
        SO + "A_SalesOrder",
        {"$orderby": "SoldToParty desc,SalesOrder asc", "$select": "SalesOrder,SoldToParty"},
    )
    pairs = [(r["SoldToParty"], int(r["SalesOrder"])) for r in rows]
    assert pairs == sorted(pairs, key=lambda p: (-int(p[0]), p[1]))


def test_top_and_skip_inside_server_paging(server: tuple[FakeS4, httpx.Client]) -> None:
    _, http = server
    page = http.get(
        BP + "A_BusinessPartner", params={"$top": "120", "$skip": "10", "$inlinecount": "allpages"}
    ).json()["d"]
    assert len(page["results"]) == 50 and page["__count"] == "300"
    assert "$skiptoken=50" in page["__next"]
    everything = read_all(http, BP + "A_BusinessPartner", {"$top": "120", "$skip": "10"})
    assert [r["BusinessPartner"] for r in everything] == [
        f"{10100011 + n:010d}" for n in range(120)
    ]


def test_nested_expand_and_deferred_links(server: tuple[FakeS4, httpx.Client]) -> None:
    _, http = server
    bp = http.get(
        BP + "A_BusinessPartner('0010100007')",
        params={
            "$expand": "to_BusinessPartnerAddress/to_EmailAddress,to_Customer/to_CustomerSalesArea"
        },
    ).json()["d"]
    address = bp["to_BusinessPartnerAddress"]["results"][0]
    assert address["to_EmailAddress"]["results"][0]["EmailAddress"].startswith("sales@")
    assert "__deferred" in address["to_PhoneNumber"]
    assert bp["to_Customer"]["to_CustomerSalesArea"]["results"][0]["Currency"] == "CNY"
    assert bp["to_BusinessPartnerRole"]["__deferred"]["uri"].endswith(
        "A_BusinessPartner('0010100007')/to_BusinessPartnerRole"
    )


def test_filter_literals_and_functions(server: tuple[FakeS4, httpx.Client]) -> None:
    fake, http = server
    order = fake.sales_orders["7"]
    amount = order["TotalNetAmount"]
    exact = read_all(http, SO + "A_SalesOrder", {"$filter": f"TotalNetAmount eq {amount}M"})
    assert "7" in {r["SalesOrder"] for r in exact}
    quoted = read_all(
        http,
        SO + "A_SalesOrder",
        {
            "$filter": "PurchaseOrderByCustomer eq 'O''Brien' or "
            "startswith(PurchaseOrderByCustomer,'PO-') and "
            "not (SalesOrder eq '1')"
        },
    )
    assert len(quoted) == 59
    assert (
        read_all(
            http, SO + "A_SalesOrder", {"$filter": "substringof('-00007',PurchaseOrderByCustomer)"}
        )[0]["SalesOrder"]
        == "7"
    )


def test_child_sets_and_their_count(server: tuple[FakeS4, httpx.Client]) -> None:
    fake, http = server
    items = read_all(http, SO + "A_SalesOrderItem", {"$filter": "SalesOrder eq '5'"})
    assert [i["Material"] for i in items] == [
        i["Material"] for i in fake.sales_orders["5"]["to_Item"]
    ]
    total = sum(len(fake.sales_orders[k]["to_Item"]) for k in fake.sales_orders)
    assert http.get(SO + "A_SalesOrderItem/$count").text == str(total)
    assert http.get(SO + "A_SalesOrder('5')/to_Item/$count").text == str(len(items))


@pytest.mark.parametrize(
    "text", ["A eq", "(A eq 'x'", "A eq 'x' zz", "A eq datetime'nope'", "A eq 'unterminated"]
)
def test_filter_syntax_errors(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)
