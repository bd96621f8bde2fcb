"""The connector test kit on sap_odata, against a fake S/4HANA started for this module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from connectors.sap.fake import FakeS4, serve_fake
from connectors.sap.odata import CONNECTOR
from connectors.sdk.errors import ConfigError
from connectors.sdk.testing import connector_tests

_FAKE = FakeS4(business_partners=12, products=6, sales_orders=8, billing_documents=5, seed=11)
_SERVER = ExitStack()
# The kit builds its test class from an offline config at import time, so the fake
# must already listen; `_stop_fake` below shuts it down after the module's tests.
BASE_URL = _SERVER.enter_context(serve_fake(_FAKE))

SAMPLE_CONFIG = {
    "base_url": BASE_URL,
    "sap_client": "100",
    "auth": {"type": "basic", "username": "L2C_COMM", "password": "s3cret-Pa55"},
    "page_size": 5,
    "events": {"username": "EVENT_MESH", "password": "webhook-s3cret"},
}


@pytest.fixture(scope="module", autouse=True)
def _stop_fake() -> Iterator[None]:
    yield
    _SERVER.close()


TestSapODataConnector = connector_tests(CONNECTOR, SAMPLE_CONFIG)


def test_capabilities_include_incremental_write_and_webhook() -> None:
    assert CONNECTOR.capabilities == {"read", "incremental", "write", "webhook"}
    assert CONNECTOR.fetcher is not None


def test_every_credential_is_a_secret_setting() -> None:
    assert set(CONNECTOR.secret_fields()) == {
        "auth.password",
        "auth.client_secret",
        "events.password",
    }


def test_config_validation_names_the_missing_field() -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.validate_config(
            {"base_url": BASE_URL, "auth": {"type": "oauth2_client_credentials", "client_id": "x"}}
        )
    assert caught.value.field in {"auth.token_url", "auth.client_secret"}
