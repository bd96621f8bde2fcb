"""Gateway answers → connector errors (connectors/sap/odata/errors.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from connectors.sap.odata.errors import (
    PreconditionFailed,
    gateway_error,
    parse_retry_after,
    parse_sap_messages,
    raise_for_response,
)
from connectors.sdk.errors import ConfigError, DataError, TransientError

ROOT = "https://s4.example.com/sap/opu/odata/sap/API_SALES_ORDER_SRV/"

# The shape of a real Gateway error (SAP Cloud SDK test resource, see protocols.md §1.8).
GATEWAY_ERROR = {
    "error": {
        "code": "V1/391",
        "message": {"lang": "en", "value": "Enter a valid sold-to party"},
        "innererror": {
            "transactionid": "23F2932D54040110E005FD84A23B406E",
            "errordetails": [
                {"code": "V1/391", "message": "Enter a valid sold-to party", "severity": "error"},
                {
                    "code": "VP/112",
                    "message": "Customer 17100099 does not exist",
                    "severity": "error",
                    "target": "SoldToParty",
                },
                {
                    "code": "/IWBEP/CX_MGW_BUSI_EXCEPTION",
                    "message": "Enter a valid sold-to party",
                    "severity": "error",
                },
            ],
        },
    }
}

XML_ERROR = b"""<?xml version="1.0" encoding="utf-8"?>
<error xmlns="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">
  <code>/IWBEP/CM_MGW_RT/020</code>
  <message xml:lang="en">Resource not found for segment 'A_SalesOrderType'</message>
  <innererror>
    <errordetails>
      <errordetail>
        <code>X/1</code><message>only a warning</message><severity>warning</severity>
      </errordetail>
      <errordetail>
        <code>X/2</code><message>Sales order 99 does not exist</message>
        <severity>error</severity>
      </errordetail>
    </errordetails>
  </innererror>
</error>"""


def answer(
    status: int,
    body: bytes | dict[str, Any] | None = None,
    path: str = "A_SalesOrder",
    **headers: str,
) -> httpx.Response:
    content = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
    return httpx.Response(
        status, content=content, headers=headers, request=httpx.Request("GET", ROOT + path)
    )


def test_json_error_gives_headline_plus_first_useful_error_detail() -> None:
    with pytest.raises(DataError) as caught:
        raise_for_response(answer(400, GATEWAY_ERROR), service="API_SALES_ORDER_SRV")
    text = str(caught.value)
    assert "Enter a valid sold-to party: Customer 17100099 does not exist [V1/391]" in text
    assert "/IWBEP/CX_MGW_BUSI_EXCEPTION" not in text
    assert caught.value.code == "V1/391"
    assert caught.value.field == "SoldToParty"  # the first error detail with a target


def test_xml_error_body_is_read_like_json() -> None:
    error = gateway_error(answer(404, XML_ERROR))
    assert error.code == "/IWBEP/CM_MGW_RT/020"
    assert error.text() == (
        "Resource not found for segment 'A_SalesOrderType': Sales order 99 does not exist "
        "[/IWBEP/CM_MGW_RT/020]"
    )


def test_xml_error_with_a_doctype_is_not_parsed() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]><error><message>&x;</message></error>'
    assert gateway_error(answer(400, evil)).message == ""


def test_a_body_that_is_not_json_still_gives_a_clean_message_with_the_status() -> None:
    with pytest.raises(TransientError) as caught:
        raise_for_response(answer(500, b"<html><body>ICM error</body></html>"))
    assert "500" in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_422_is_a_data_error() -> None:
    with pytest.raises(DataError, match="422"):
        raise_for_response(answer(422, GATEWAY_ERROR))


def test_entity_404_with_an_odata_error_is_a_data_error() -> None:
    with pytest.raises(DataError):
        raise_for_response(answer(404, XML_ERROR, path="A_SalesOrder('99')"))


def test_service_404_is_a_config_error_on_service_path() -> None:
    body = {
        "error": {
            "code": "/IWFND/MED/170",
            "message": {"value": "No service found for namespace /SAP/, name API_X"},
        }
    }
    with pytest.raises(ConfigError) as caught:
        raise_for_response(answer(404, body, path="$metadata"), service="API_SALES_ORDER_SRV")
    assert caught.value.field == "service_path"


def test_plain_404_on_the_service_root_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        raise_for_response(answer(404, b"Not Found", path=""))
    assert caught.value.field == "service_path"


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_config_errors_on_auth(status: int) -> None:
    with pytest.raises(ConfigError) as caught:
        raise_for_response(answer(status, b""))
    assert caught.value.field == "auth"
    assert caught.value.details["status"] == status


def test_403_hint_names_roles_and_the_communication_arrangement() -> None:
    with pytest.raises(ConfigError) as caught:
        raise_for_response(answer(403, b""))
    assert "communication arrangement" in (caught.value.hint or "")


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_busy_answers_are_transient_with_retry_after(status: int) -> None:
    with pytest.raises(TransientError) as caught:
        raise_for_response(answer(status, b"", **{"Retry-After": "7"}))
    assert caught.value.retry_after == 7.0


def test_412_is_precondition_failed_which_is_transient() -> None:
    with pytest.raises(PreconditionFailed) as caught:
        raise_for_response(answer(412, b""))
    assert isinstance(caught.value, TransientError)


def test_428_is_a_data_error_asking_for_if_match() -> None:
    with pytest.raises(DataError) as caught:
        raise_for_response(answer(428, b""))
    assert caught.value.code == "precondition_required"


def test_redirect_is_refused_as_config_error() -> None:
    with pytest.raises(ConfigError):
        raise_for_response(answer(302, b"", Location="https://login.example.com/"))


def test_2xx_does_not_raise() -> None:
    raise_for_response(answer(204))


def test_retry_after_seconds_http_date_and_cap() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("100000") == 300.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    waited = parse_retry_after(later)
    assert waited is not None
    assert 100 < waited <= 120
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=60), usegmt=True)
    assert parse_retry_after(past) == 0.0


def test_sap_message_header_is_parsed_with_details() -> None:
    header = json.dumps(
        {
            "code": "V1/555",
            "message": "The sales document is not yet complete",
            "severity": "warning",
            "target": "",
            "details": [{"code": "V1/556", "message": "Edit data", "severity": "info"}],
        }
    )
    (message,) = parse_sap_messages(header)
    assert message.code == "V1/555"
    assert message.severity == "warning"
    assert message.details[0].message == "Edit data"
    assert parse_sap_messages(None) == []
    assert parse_sap_messages("not json")[0].message == "not json"
