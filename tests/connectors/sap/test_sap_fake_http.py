"""Wire behaviour of the fake S/4HANA over plain HTTP: logon, CSRF, ETags, errors, Atom."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from lxml import etree

from connectors.sap.fake import FakeS4, serve_fake

USER, PASSWORD = "L2C_COMM", "s3cret-Pa55"
SO = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/"
BP = "/sap/opu/odata/sap/API_BUSINESS_PARTNER/"
JSON = {"Accept": "application/json"}
ORDER = {
    "SalesOrderType": "OR",
    "SoldToParty": "0010100002",
    "PurchaseOrderByCustomer": "0123456789abcdef0123456789abcdef",
    "to_Item": {"results": [{"Material": "FG1000001", "RequestedQuantity": "2"}]},
}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeS4, str]]:
    fake = FakeS4(business_partners=10, products=5, sales_orders=4, billing_documents=2)
    with serve_fake(fake) as url:
        yield fake, url


@pytest.fixture
def fake(server: tuple[FakeS4, str]) -> FakeS4:
    server[0].reset()
    return server[0]


@pytest.fixture
def base_url(server: tuple[FakeS4, str], fake: FakeS4) -> str:
    return server[1]


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, auth=(USER, PASSWORD), headers=JSON) as client:
        yield client


def fetch_token(http: httpx.Client) -> str:
    response = http.head(SO, headers={"X-CSRF-Token": "Fetch"})
    assert response.status_code == 200
    return response.headers["x-csrf-token"]


def error_of(response: httpx.Response) -> dict:
    body = response.json()["error"]
    assert set(body) >= {"code", "message", "innererror"}
    assert set(body["message"]) == {"lang", "value"}
    assert {"transactionid", "timestamp", "errordetails"} <= set(body["innererror"])
    return body


# ---------------------------------------------------------------- logon
def test_wrong_password_is_401_with_basic_challenge(base_url: str) -> None:
    response = httpx.get(base_url + SO + "A_SalesOrder", auth=(USER, "wrong"), headers=JSON)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Basic realm="SAP NetWeaver')


def test_unknown_sap_client_is_refused_at_logon(http: httpx.Client) -> None:
    assert http.get(SO + "A_SalesOrder", params={"sap-client": "999"}).status_code == 401
    assert (
        http.get(
            SO + "A_SalesOrder", params={"sap-client": "100", "sap-language": "ZH"}
        ).status_code
        == 200
    )


def test_oauth_client_credentials_token_is_accepted_until_it_expires(
    base_url: str, fake: FakeS4
) -> None:
    token = httpx.post(
        base_url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("L2C_OAUTH", "oauth-s3cret"),
    )
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    bearer = {"Authorization": f"Bearer {body['access_token']}", **JSON}
    assert httpx.get(base_url + SO + "A_SalesOrder", headers=bearer).status_code == 200
    fake.expire_tokens()
    expired = httpx.get(base_url + SO + "A_SalesOrder", headers=bearer)
    assert expired.status_code == 401
    assert "www-authenticate" in expired.headers


def test_oauth_credentials_in_the_form_and_wrong_secret(base_url: str) -> None:
    ok = httpx.post(
        base_url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "L2C_OAUTH",
            "client_secret": "oauth-s3cret",
        },
    )
    assert ok.status_code == 200
    bad = httpx.post(
        base_url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("L2C_OAUTH", "nope"),
    )
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    assert "nope" not in bad.text


# ---------------------------------------------------------------- CSRF
def test_post_without_token_is_403_csrf_required(http: httpx.Client) -> None:
    response = http.post(SO + "A_SalesOrder", json=ORDER)
    assert response.status_code == 403
    assert response.headers["x-csrf-token"] == "Required"
    assert response.text == "CSRF token validation failed"


def test_token_is_bound_to_the_session_cookie(http: httpx.Client, base_url: str) -> None:
    token = fetch_token(http)
    assert any(c.startswith("SAP_SESSIONID_S4H_100") for c in http.cookies)
    assert "sap-usercontext" in http.cookies
    stranger = httpx.post(
        base_url + SO + "A_SalesOrder",
        json=ORDER,
        auth=(USER, PASSWORD),
        headers={"X-CSRF-Token": token, **JSON},
    )
    assert stranger.status_code == 403
    assert (
        http.post(SO + "A_SalesOrder", json=ORDER, headers={"X-CSRF-Token": token}).status_code
        == 201
    )


def test_expired_tokens_need_one_refetch(http: httpx.Client, fake: FakeS4) -> None:
    token = fetch_token(http)
    fake.expire_csrf_tokens()
    refused = http.post(SO + "A_SalesOrder", json=ORDER, headers={"X-CSRF-Token": token})
    assert refused.status_code == 403 and refused.headers["x-csrf-token"] == "Required"
    fresh = fetch_token(http)
    assert fresh != token
    assert (
        http.post(SO + "A_SalesOrder", json=ORDER, headers={"X-CSRF-Token": fresh}).status_code
        == 201
    )


# ---------------------------------------------------------------- create and update
def test_create_answers_201_with_location_etag_and_sap_message(
    http: httpx.Client, fake: FakeS4
) -> None:
    response = http.post(
        SO + "A_SalesOrder", json=ORDER, headers={"X-CSRF-Token": fetch_token(http)}
    )
    assert response.status_code == 201
    created = response.json()["d"]
    assert created["SalesOrder"] == "5"
    assert response.headers["location"].endswith("A_SalesOrder('5')")
    assert response.headers["etag"] == created["__metadata"]["etag"]
    assert created["to_Item"]["results"][0]["SalesOrderItem"] == "10"
    message = orjson.loads(response.headers["sap-message"])
    assert message["severity"] in ("info", "warning") and "5" in message["message"]
    assert fake.orders_by_po()[ORDER["PurchaseOrderByCustomer"]] == ["5"]


def test_second_order_with_the_same_po_gets_a_warning(http: httpx.Client) -> None:
    token = fetch_token(http)
    http.post(SO + "A_SalesOrder", json=ORDER, headers={"X-CSRF-Token": token})
    again = http.post(SO + "A_SalesOrder", json=ORDER, headers={"X-CSRF-Token": token})
    details = orjson.loads(again.headers["sap-message"])["details"]
    assert details and details[0]["severity"] == "warning"


@pytest.mark.parametrize(
    ("change", "target"),
    [
        ({"SoldToParty": "0099999999"}, "SoldToParty"),
        ({"SalesOrderType": ""}, "SalesOrderType"),
        ({"PurchaseOrderByCustomer": "x" * 36}, "PurchaseOrderByCustomer"),
        ({"to_Item": {"results": [{"Material": "NOPE", "RequestedQuantity": "1"}]}}, "Material"),
        ({"to_Item": {"results": [{"Material": "FG1000001"}]}}, "RequestedQuantity"),
    ],
)
def test_invalid_orders_are_400_with_error_details(
    http: httpx.Client, change: dict, target: str, fake: FakeS4
) -> None:
    response = http.post(
        SO + "A_SalesOrder", json={**ORDER, **change}, headers={"X-CSRF-Token": fetch_token(http)}
    )
    assert response.status_code == 400
    error = error_of(response)
    first = error["innererror"]["errordetails"][0]
    assert first["severity"] == "error" and first["target"] == target
    assert len(fake.sales_orders) == 4


def test_patch_needs_a_matching_etag(http: httpx.Client, fake: FakeS4) -> None:
    token = {"X-CSRF-Token": fetch_token(http)}
    read = http.get(SO + "A_SalesOrder('2')")
    etag = read.headers["etag"]
    missing = http.patch(
        SO + "A_SalesOrder('2')", json={"PurchaseOrderByCustomer": "A"}, headers=token
    )
    assert missing.status_code == 428
    ok = http.patch(
        SO + "A_SalesOrder('2')",
        json={"PurchaseOrderByCustomer": "A"},
        headers={**token, "If-Match": etag},
    )
    assert ok.status_code == 204
    assert ok.headers["etag"] != etag
    stale = http.patch(
        SO + "A_SalesOrder('2')",
        json={"PurchaseOrderByCustomer": "B"},
        headers={**token, "If-Match": etag},
    )
    assert stale.status_code == 412
    assert error_of(stale)["code"] == "/IWBEP/CM_MGW_RT/190"
    star = http.request(
        "MERGE",
        SO + "A_SalesOrder('2')",
        json={"PurchaseOrderByCustomer": "C"},
        headers={**token, "If-Match": "*"},
    )
    assert star.status_code == 204
    assert fake.sales_orders["2"]["PurchaseOrderByCustomer"] == "C"


def test_touch_makes_a_held_etag_stale(http: httpx.Client, fake: FakeS4) -> None:
    etag = http.get(SO + "A_SalesOrder('1')").headers["etag"]
    fake.touch("A_SalesOrder", "1", PurchaseOrderByCustomer="changed in SAP")
    response = http.patch(
        SO + "A_SalesOrder('1')",
        json={"PurchaseOrderByCustomer": "ours"},
        headers={"X-CSRF-Token": fetch_token(http), "If-Match": etag},
    )
    assert response.status_code == 412


def test_non_updatable_property_is_400(http: httpx.Client) -> None:
    etag = http.get(SO + "A_SalesOrder('1')").headers["etag"]
    response = http.patch(
        SO + "A_SalesOrder('1')",
        json={"TotalNetAmount": "1.00"},
        headers={"X-CSRF-Token": fetch_token(http), "If-Match": etag},
    )
    assert response.status_code == 400
    assert "TotalNetAmount" in error_of(response)["message"]["value"]


def test_other_services_are_read_only(http: httpx.Client) -> None:
    token = {"X-CSRF-Token": fetch_token(http)}
    assert http.post(BP + "A_BusinessPartner", json={}, headers=token).status_code == 405
    assert http.delete(SO + "A_SalesOrder('1')", headers=token).status_code == 405


# ---------------------------------------------------------------- errors and formats
def test_unknown_entity_set_is_404_gateway_error(http: httpx.Client) -> None:
    response = http.get(SO + "A_Nonsense")
    assert response.status_code == 404
    assert "A_Nonsense" in error_of(response)["message"]["value"]


def test_unknown_service_is_404(http: httpx.Client) -> None:
    response = http.get("/sap/opu/odata/sap/API_NOPE/A_X")
    assert response.status_code == 404
    assert error_of(response)["code"] == "/IWFND/MED/170"


@pytest.mark.parametrize(
    "params",
    [
        {"$filter": "Nope eq 'x'"},
        {"$filter": "SalesOrder eq"},
        {"$filter": "CreationDate gt '2020-01-01'"},
        {"$orderby": "Nope desc"},
        {"$expand": "to_Nope"},
        {"$select": "Nope"},
        {"$top": "-1"},
    ],
)
def test_bad_query_options_are_400(http: httpx.Client, params: dict) -> None:
    response = http.get(SO + "A_SalesOrder", params=params)
    assert response.status_code == 400
    error_of(response)


def test_missing_entity_is_404(http: httpx.Client) -> None:
    assert http.get(SO + "A_SalesOrder('999')").status_code == 404
    assert http.get(BP + "A_BusinessPartner('0000000001')").status_code == 404


def test_atom_is_the_default_format(base_url: str) -> None:
    response = httpx.get(
        base_url + SO + "A_SalesOrder",
        auth=(USER, PASSWORD),
        params={"$top": "2", "$inlinecount": "allpages"},
    )
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = etree.fromstring(response.content)
    atom = "{http://www.w3.org/2005/Atom}"
    assert root.tag == atom + "feed"
    assert len(root.findall(atom + "entry")) == 2
    assert (
        root.findtext("{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}count")
        == "4"
    )
    error = httpx.get(base_url + SO + "A_Nonsense", auth=(USER, PASSWORD))
    assert etree.fromstring(error.content).tag.endswith("error")


def test_format_json_parameter_and_count_as_text(base_url: str) -> None:
    response = httpx.get(
        base_url + SO + "A_SalesOrder",
        auth=(USER, PASSWORD),
        params={"$format": "json", "$inlinecount": "allpages"},
    )
    assert response.json()["d"]["__count"] == "4"
    count = httpx.get(base_url + SO + "A_SalesOrder/$count", auth=(USER, PASSWORD))
    assert count.headers["content-type"].startswith("text/plain") and count.text == "4"


def test_metadata_is_the_edmx(http: httpx.Client) -> None:
    response = http.get(SO + "$metadata")
    assert response.headers["content-type"].startswith("application/xml")
    assert b"A_SalesOrderType" in response.content


@pytest.mark.parametrize(
    "service",
    ["API_BUSINESS_PARTNER", "API_PRODUCT_SRV", "API_SALES_ORDER_SRV", "API_BILLING_DOCUMENT_SRV"],
)
def test_served_metadata_is_the_fixture_byte_for_byte(http: httpx.Client, service: str) -> None:
    fixture = Path(__file__).parents[2] / "fixtures" / "sap" / "edmx" / f"{service}.edmx"
    assert http.get(f"/sap/opu/odata/sap/{service}/$metadata").content == fixture.read_bytes()


def test_item_patch_reprices_the_order_and_bumps_its_etag(http: httpx.Client, fake: FakeS4) -> None:
    before = http.get(SO + "A_SalesOrder('3')").headers["etag"]
    item = fake.sales_orders["3"]["to_Item"][0]
    response = http.patch(
        SO + f"A_SalesOrderItem(SalesOrder='3',SalesOrderItem='{item['SalesOrderItem']}')",
        json={"RequestedQuantity": "2"},
        headers={"X-CSRF-Token": fetch_token(http)},
    )
    assert response.status_code == 204
    order = fake.sales_orders["3"]
    changed = order["to_Item"][0]
    unit_price = float(item["NetAmount"]) / float(item["RequestedQuantity"])
    assert float(changed["NetAmount"]) == pytest.approx(2 * unit_price)
    assert float(order["TotalNetAmount"]) == pytest.approx(
        sum(float(i["NetAmount"]) for i in order["to_Item"])
    )
    assert http.get(SO + "A_SalesOrder('3')").headers["etag"] != before
