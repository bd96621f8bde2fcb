"""The client against the fake S/4HANA's injected faults: retries, mapping, timeouts, OAuth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.sap.fake import FakeS4, Fault, serve_fake
from connectors.sap.odata.client import ODataClient
from connectors.sdk.errors import ConfigError, DataError, TransientError

USER, PASSWORD = "L2C_COMM", "s3cret-Pa55"
OAUTH_ID, OAUTH_SECRET = "L2C_OAUTH", "oauth-s3cret"
SO = "API_SALES_ORDER_SRV"


@pytest.fixture(scope="module")
def fake() -> FakeS4:
    return FakeS4(
        business_partners=5,
        products=5,
        sales_orders=5,
        billing_documents=0,
        seed=7,
        username=USER,
        password=PASSWORD,
        oauth_client_id=OAUTH_ID,
        oauth_client_secret=OAUTH_SECRET,
    )


@pytest.fixture(scope="module")
def base_url(fake: FakeS4) -> Iterator[str]:
    with serve_fake(fake) as url:
        yield url


@pytest.fixture(autouse=True)
def _clean(fake: FakeS4) -> Iterator[None]:
    fake.reset()
    yield
    fake.reset()


def client_for(base_url: str, sleeps: list[float] | None = None, **overrides: Any) -> ODataClient:
    config: dict[str, Any] = {
        "base_url": base_url,
        "sap_client": "100",
        "auth": {"type": "basic", "username": USER, "password": PASSWORD},
        "max_retries": 2,
    }
    config.update(overrides)
    return ODataClient(config, sleep=(sleeps.append if sleeps is not None else lambda _s: None))


def orders_read(fake: FakeS4) -> int:
    """Requests the fake answered normally (faulted answers are not counted there)."""
    return int(fake.stats()["requests"].get("GET A_SalesOrder", 0))


def faults_left(fake: FakeS4) -> int:
    """Answers still to be faulted: injected `times` minus the requests that got one."""
    return sum(int(f["times"]) for f in fake.stats()["pending_faults"])


def test_429_with_retry_after_is_retried_and_the_wait_honoured(fake: FakeS4, base_url: str) -> None:
    fake.inject(Fault(method="GET", path="A_SalesOrder$", status=429, retry_after=4))
    sleeps: list[float] = []
    with client_for(base_url, sleeps) as client:
        rows = client.find(SO, "A_SalesOrder", "SalesOrder ne ''", top=5)
    assert len(rows) == 5
    assert (faults_left(fake), orders_read(fake)) == (0, 1)
    assert sleeps == [4.0]


def test_503_twice_then_success_is_three_calls(fake: FakeS4, base_url: str) -> None:
    fake.inject(Fault(method="GET", path="A_SalesOrder$", status=503, times=2))
    with client_for(base_url) as client:
        assert client.find(SO, "A_SalesOrder", "SalesOrder ne ''")
    assert (faults_left(fake), orders_read(fake)) == (0, 1)


def test_503_beyond_max_retries_is_transient(fake: FakeS4, base_url: str) -> None:
    fake.inject(Fault(method="GET", path="A_SalesOrder$", status=503, times=10, retry_after=1))
    with client_for(base_url) as client, pytest.raises(TransientError) as caught:
        client.find(SO, "A_SalesOrder", "SalesOrder ne ''")
    assert faults_left(fake) == 10 - 3  # first try + max_retries=2
    assert caught.value.retry_after == 1.0


@pytest.mark.parametrize(
    ("status", "error", "field"),
    [(400, DataError, None), (403, ConfigError, "auth"), (500, TransientError, None)],
)
def test_errors_other_than_busy_are_not_retried(
    fake: FakeS4, base_url: str, status: int, error: type[Exception], field: str | None
) -> None:
    fake.inject(
        Fault(method="GET", path="A_SalesOrder$", status=status, code="ZX/1", message="no", times=3)
    )
    with client_for(base_url) as client, pytest.raises(error) as caught:
        client.find(SO, "A_SalesOrder", "SalesOrder ne ''")
    assert faults_left(fake) == 2
    assert getattr(caught.value, "field", None) == field


def test_a_bad_filter_is_a_data_error_with_the_gateway_message(base_url: str) -> None:
    with client_for(base_url) as client, pytest.raises(DataError) as caught:
        client.find(SO, "A_SalesOrder", "LastChangeDateTime gt 'yesterday'")
    assert "400" in str(caught.value)


def test_wrong_password_is_401_config_error_not_retried(fake: FakeS4, base_url: str) -> None:
    with (
        client_for(
            base_url, auth={"type": "basic", "username": USER, "password": "wrong-pw"}
        ) as client,
        pytest.raises(ConfigError) as caught,
    ):
        client.find(SO, "A_SalesOrder", "SalesOrder ne ''")
    assert caught.value.field == "auth"
    assert "wrong-pw" not in str(caught.value)


def test_missing_service_is_404_config_error(base_url: str) -> None:
    with (
        client_for(base_url, service_path="/sap/opu/odata/nope") as client,
        pytest.raises(ConfigError) as caught,
    ):
        client.metadata(SO)
    assert caught.value.field == "service_path"


def test_missing_entity_reads_as_none(base_url: str) -> None:
    with client_for(base_url) as client:
        assert client.read_entity(SO, "A_SalesOrder", {"SalesOrder": "999999"}) is None
        found = client.read_entity(SO, "A_SalesOrder", {"SalesOrder": "1"}, expand=["to_Item"])
    assert found is not None
    entity, etag = found
    assert entity["SalesOrder"] == "1"
    assert etag


def test_a_slow_answer_times_out_and_is_transient(fake: FakeS4, base_url: str) -> None:
    fake.inject(Fault(method="GET", path="A_SalesOrder$", delay=1.0, times=2))
    with (
        client_for(base_url, timeout_seconds=0.2, max_retries=1) as client,
        pytest.raises(TransientError) as caught,
    ):
        client.find(SO, "A_SalesOrder", "SalesOrder ne ''")
    assert caught.value.details["reason"] == "timeout"


def test_oauth_client_credentials_against_the_fake(fake: FakeS4, base_url: str) -> None:
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": f"{base_url}/oauth/token",
        "client_id": OAUTH_ID,
        "client_secret": OAUTH_SECRET,
    }
    with client_for(base_url, auth=auth) as client:
        assert client.find(SO, "A_SalesOrder", "SalesOrder ne ''")
        fake.expire_tokens()  # the cached token is now refused: fetched again once
        assert client.find(SO, "A_SalesOrder", "SalesOrder ne ''")


def test_oauth_wrong_secret_is_config_error_on_client_id(base_url: str) -> None:
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": f"{base_url}/oauth/token",
        "client_id": OAUTH_ID,
        "client_secret": "not-the-secret",
    }
    with client_for(base_url, auth=auth) as client, pytest.raises(ConfigError) as caught:
        client.find(SO, "A_SalesOrder", "SalesOrder ne ''")
    assert caught.value.field == "auth.client_id"
    assert "not-the-secret" not in str(caught.value)


def test_create_with_csrf_and_cookies_against_the_fake(fake: FakeS4, base_url: str) -> None:
    with client_for(base_url) as client:
        order = client.read_entity(SO, "A_SalesOrder", {"SalesOrder": "1"}, expand=["to_Item"])
        assert order is not None
        fake.expire_csrf_tokens()
        entity, etag = order
        assert etag is not None
        response = client.patch(
            SO,
            "A_SalesOrder",
            {"SalesOrder": "1"},
            {"PurchaseOrderByCustomer": "PO-PATCHED"},
            if_match=etag,
        )
    assert response.status == 204
    assert fake.sales_orders["1"]["PurchaseOrderByCustomer"] == "PO-PATCHED"
    assert entity["SalesOrder"] == "1"
