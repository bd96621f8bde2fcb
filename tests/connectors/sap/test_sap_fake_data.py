"""The generated data: deterministic, realistic for China, wire values exactly as SAP sends."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from connectors.sap.fake import FakeS4
from connectors.sap.fake.cn import CITIES, is_valid_uscc, uscc
from connectors.sap.fake.store import full_tree

DATE = re.compile(r"^/Date\(-?\d+\)/$")
DATE_OFFSET = re.compile(r"^/Date\(-?\d+\+0000\)/$")
TIME = re.compile(r"^PT\d{2}H\d{2}M\d{2}S$")
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


@pytest.fixture(scope="module")
def fake() -> FakeS4:
    return FakeS4(business_partners=200, products=16, sales_orders=40, billing_documents=25)


def every_entity(fake: FakeS4):  # type: ignore[no-untyped-def]
    for stream, root in fake.collections.items():
        service = fake.services[
            {
                "business_partners": "API_BUSINESS_PARTNER",
                "products": "API_PRODUCT_SRV",
                "sales_orders": "API_SALES_ORDER_SRV",
                "billing_documents": "API_BILLING_DOCUMENT_SRV",
            }[stream]
        ]
        for i in range(len(root)):
            yield from _walk(full_tree(root.entity(i), root.etype, service), root.etype, service)


def _walk(entity, etype, service):  # type: ignore[no-untyped-def]
    yield etype, entity
    for name, nav in etype.navs.items():
        value = entity.get(name)
        children = [value] if isinstance(value, dict) else value or []
        for child in children:
            yield from _walk(child, service.types[nav.target], service)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = (FakeS4(business_partners=20, seed=s) for s in (7, 7, 8))
    assert a.sales_orders["3"] == b.sales_orders["3"]
    assert a.collections["business_partners"].entity(5) == b.collections[
        "business_partners"
    ].entity(5)
    assert a.collections["business_partners"].entity(5) != c.collections[
        "business_partners"
    ].entity(5)


def test_wire_values_match_their_edm_types(fake: FakeS4) -> None:
    checked = 0
    for etype, entity in every_entity(fake):
        for prop in etype.props.values():
            value = entity[prop.name]
            if value is None:
                continue
            checked += 1
            pattern = {
                "Edm.DateTime": DATE,
                "Edm.DateTimeOffset": DATE_OFFSET,
                "Edm.Time": TIME,
                "Edm.Decimal": DECIMAL,
            }.get(prop.edm_type)
            if pattern is not None:
                assert pattern.match(value), (etype.name, prop.name, value)
            elif prop.edm_type == "Edm.Boolean":
                assert isinstance(value, bool)
            elif prop.edm_type == "Edm.String":
                assert isinstance(value, str)
                assert prop.max_length is None or len(value) <= prop.max_length, prop.name
    assert checked > 10_000


def test_partners_look_like_chinese_customers(fake: FakeS4) -> None:
    service = fake.services["API_BUSINESS_PARTNER"]
    root = fake.collections["business_partners"]
    regions = {c.region for c in CITIES}
    organisations = 0
    for i in range(len(root)):
        bp = full_tree(root.entity(i), root.etype, service)
        assert {r["BusinessPartnerRole"] for r in bp["to_BusinessPartnerRole"]} == {
            "FLCU00",
            "FLCU01",
        }
        address = bp["to_BusinessPartnerAddress"][0]
        assert address["Country"] == "CN" and address["Region"] in regions
        assert address["to_EmailAddress"][0]["EmailAddress"].count("@") == 1
        assert address["to_PhoneNumber"][0]["InternationalPhoneNumber"].startswith("+86")
        area = bp["to_Customer"]["to_CustomerSalesArea"][0]
        assert (area["SalesOrganization"], area["Currency"]) == ("1010", "CNY")
        if bp["BusinessPartnerCategory"] == "2":
            organisations += 1
            assert bp["OrganizationBPName1"].endswith("公司")
            (tax,) = bp["to_BusinessPartnerTax"]
            assert tax["BPTaxType"] == "CN5" and is_valid_uscc(tax["BPTaxNumber"])
        else:
            assert bp["FirstName"] and bp["LastName"] and not bp["to_BusinessPartnerTax"]
    assert 150 < organisations < 200


def test_uscc_check_character_follows_gb_32100() -> None:
    assert is_valid_uscc("91350100M000100Y43")  # published example of a valid code
    assert not is_valid_uscc("91350100M000100Y44")
    code = uscc("310115", 12345678)
    assert len(code) == 18 and code.startswith("91310115") and is_valid_uscc(code)


def test_documents_reference_existing_master_data(fake: FakeS4) -> None:
    partners = fake.collections["business_partners"]
    products = fake.collections["products"]
    for key, order in fake.sales_orders.items():
        assert partners.index_of(order["SoldToParty"]) is not None
        assert all(products.index_of(i["Material"]) is not None for i in order["to_Item"])
        total = sum(float(i["NetAmount"]) for i in order["to_Item"])
        assert abs(total - float(order["TotalNetAmount"])) < 0.01, key
    billing = fake.collections["billing_documents"]
    for i in range(len(billing)):
        document = billing.entity(i)
        order = fake.sales_orders[document["to_Item"][0]["SalesDocument"]]
        assert document["SoldToParty"] == order["SoldToParty"]


def test_change_stamps_spread_over_years(fake: FakeS4) -> None:
    years = {fake.sales_orders[k]["LastChangeDate"] for k in fake.sales_orders}
    assert len(years) > 30
    partners = fake.collections["business_partners"].columns["LastChangeDate"]
    assert len(set(partners)) > 100


def test_command_line_server_announces_its_url(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connectors.sap.fake",
            "--port",
            "0",
            "--business-partners",
            "30",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.read_text().strip() == url
        stats = httpx.get(url + "/_fake/stats").json()
        assert stats["counts"]["A_BusinessPartner"] == 30
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def test_readme_example_runs() -> None:
    readme = Path(__file__).parents[3] / "connectors" / "sap" / "fake" / "README.md"
    example = readme.read_text(encoding="utf-8").split("```python\n")[1].split("```")[0]
    namespace: dict[str, object] = {}
    exec(compile(example, str(readme), "exec"), namespace)  # our own documentation
    fake = namespace["fake"]
    assert isinstance(fake, FakeS4)
    assert fake.sales_orders["3"]["PurchaseOrderByCustomer"] == "changed in SAP"
