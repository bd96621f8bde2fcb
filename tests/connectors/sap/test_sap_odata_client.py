"""ODataClient against scripted answers (httpx.MockTransport): retries, CSRF, OAuth, paging."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from connectors.sap.odata.client import ODataClient
from connectors.sap.odata.errors import PreconditionFailed
from connectors.sdk.errors import ConfigError, DataError, TransientError

BASE = "https://s4.example.com:44300"
ROOT = f"{BASE}/sap/opu/odata/sap/API_SALES_ORDER_SRV/"
PASSWORD = "s3cret-Pa55"
CLIENT_SECRET = "client-s3cret"

Handler = Callable[[httpx.Request], httpx.Response]


def config(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "base_url": BASE,
        "sap_client": "100",
        "language": "ZH",
        "auth": {"type": "basic", "username": "L2C_COMM", "password": PASSWORD},
        "max_retries": 3,
    }
    base.update(overrides)
    return base


class Recorder:
    """A MockTransport handler that records requests and answers from a script."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def methods(self) -> list[str]:
        return [r.method for r in self.requests]


def make(handler: Handler, **overrides: Any) -> tuple[ODataClient, Recorder, list[float]]:
    recorder = Recorder(handler)
    sleeps: list[float] = []
    client = ODataClient(
        config(**overrides), transport=httpx.MockTransport(recorder), sleep=sleeps.append
    )
    return client, recorder, sleeps


def page(rows: list[dict[str, Any]], next_link: str | None = None) -> httpx.Response:
    d: dict[str, Any] = {"results": rows}
    if next_link:
        d["__next"] = next_link
    return httpx.Response(200, json={"d": d})


# ---------------------------------------------------------------------- reads


def test_every_request_asks_for_json_and_carries_client_and_language() -> None:
    client, recorder, _ = make(lambda r: page([{"SalesOrder": "1"}]))
    with client:
        assert list(client.iter_pages("API_SALES_ORDER_SRV", "A_SalesOrder", {"$top": "5"})) == [
            [{"SalesOrder": "1"}]
        ]
    (request,) = recorder.requests
    assert request.headers["Accept"] == "application/json"
    assert request.url.params["sap-client"] == "100"
    assert request.url.params["sap-language"] == "ZH"
    assert request.url.params["$top"] == "5"
    assert (
        request.headers["Authorization"]
        == "Basic " + base64.b64encode(f"L2C_COMM:{PASSWORD}".encode()).decode()
    )


def test_filter_spaces_are_percent_encoded_not_plus() -> None:
    client, recorder, _ = make(lambda r: page([]))
    with client:
        list(
            client.iter_pages(
                "API_SALES_ORDER_SRV",
                "A_SalesOrder",
                {"$filter": "LastChangeDateTime ge datetimeoffset'2024-05-01T00:00:00+01:00'"},
            )
        )
    raw = recorder.requests[0].url.raw_path.decode()
    assert "$filter=LastChangeDateTime%20ge%20datetimeoffset'2024-05-01T00:00:00%2B01:00'" in raw
    assert recorder.requests[0].url.params["$filter"].endswith("+01:00'")


def test_next_links_are_followed_verbatim_until_absent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("$skiptoken")
        if token is None:
            return page([{"n": 1}], f"{ROOT}A_SalesOrder?$skiptoken=2&sap-client=100")
        if token == "2":
            return page([{"n": 2}], "A_SalesOrder?$skiptoken=3")  # relative: resolved
        return page([{"n": 3}])

    client, recorder, _ = make(handler)
    with client:
        pages = list(client.iter_pages("API_SALES_ORDER_SRV", "A_SalesOrder", {"$top": "9"}))
    assert pages == [[{"n": 1}], [{"n": 2}], [{"n": 3}]]
    assert [r.url.params.get("$skiptoken") for r in recorder.requests] == [None, "2", "3"]
    # The link already names the client: it is not added twice.
    assert recorder.requests[1].url.params.get_list("sap-client") == ["100"]


@pytest.mark.parametrize(
    "next_link",
    [
        "https://evil.example.com/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder?$skiptoken=2",
        "http://s4.example.com:44300/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder",
        "https://s4.example.com:443/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder",
    ],
)
def test_a_next_link_to_another_origin_is_refused(next_link: str) -> None:
    client, recorder, _ = make(lambda r: page([{"n": 1}], next_link))
    with client, pytest.raises(ConfigError) as caught:
        list(client.iter_pages("API_SALES_ORDER_SRV", "A_SalesOrder", {}))
    assert caught.value.field == "base_url"
    assert len(recorder.requests) == 1


def test_429_with_retry_after_is_retried_after_that_many_seconds() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}), page([{"n": 1}])])
    client, recorder, sleeps = make(lambda r: next(answers))
    with client:
        assert list(client.iter_pages("API_SALES_ORDER_SRV", "A_SalesOrder", {})) == [[{"n": 1}]]
    assert len(recorder.requests) == 2
    assert sleeps == [2.0]


def test_503_is_retried_with_backoff_until_max_retries_then_transient() -> None:
    client, recorder, sleeps = make(lambda r: httpx.Response(503))
    with client, pytest.raises(TransientError) as caught:
        client.get("API_SALES_ORDER_SRV", "A_SalesOrder")
    assert len(recorder.requests) == 4  # first try + max_retries=3
    assert len(sleeps) == 3
    assert all(0 <= s <= 30 for s in sleeps)
    assert "503" in str(caught.value)


def test_a_huge_retry_after_is_capped() -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": "86400"}), page([])])
    client, _, sleeps = make(lambda r: next(answers))
    with client:
        client.get("API_SALES_ORDER_SRV", "A_SalesOrder")
    assert sleeps == [300.0]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, DataError),
        (401, ConfigError),
        (403, ConfigError),
        (404, ConfigError),
        (422, DataError),
    ],
)
def test_client_errors_are_not_retried_and_are_mapped(status: int, error: type[Exception]) -> None:
    client, recorder, sleeps = make(lambda r: httpx.Response(status, content=b""))
    with client, pytest.raises(error):
        client.get("API_SALES_ORDER_SRV", "A_SalesOrder")
    assert len(recorder.requests) == 1
    assert sleeps == []


def test_timeouts_on_reads_are_retried_then_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, recorder, _ = make(handler, timeout_seconds=5)
    with client, pytest.raises(TransientError) as caught:
        client.get("API_SALES_ORDER_SRV", "A_SalesOrder")
    assert len(recorder.requests) == 4
    assert "within 5 s" in caught.value.message
    assert caught.value.details["reason"] == "timeout"


def test_a_timeout_then_success_returns_the_data() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"d": {"SalesOrder": "1"}})

    client, _, _ = make(handler)
    with client:
        assert client.get("API_SALES_ORDER_SRV", "A_SalesOrder('1')").data == {"SalesOrder": "1"}


def test_read_entity_returns_entity_and_etag_or_none_on_404() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "'404'" in request.url.path:
            return httpx.Response(
                404,
                json={"error": {"code": "/IWBEP/CM_MGW_RT/020", "message": {"value": "not found"}}},
            )
        if "'2'" in request.url.path:
            return httpx.Response(
                200, json={"d": {"SalesOrder": "2", "__metadata": {"etag": 'W/"meta"'}}}
            )
        return httpx.Response(200, json={"d": {"SalesOrder": "1"}}, headers={"ETag": 'W/"hdr"'})

    client, recorder, _ = make(handler)
    with client:
        assert client.read_entity(
            "API_SALES_ORDER_SRV",
            "A_SalesOrder",
            {"SalesOrder": "1"},
            expand=["to_Item", "to_Partner"],
        ) == ({"SalesOrder": "1"}, 'W/"hdr"')
        entity = client.read_entity("API_SALES_ORDER_SRV", "A_SalesOrder", {"SalesOrder": "2"})
        assert entity is not None
        assert entity[1] == 'W/"meta"'
        assert (
            client.read_entity("API_SALES_ORDER_SRV", "A_SalesOrder", {"SalesOrder": "404"}) is None
        )
    assert recorder.requests[0].url.path.endswith("/A_SalesOrder('1')")
    assert recorder.requests[0].url.params["$expand"] == "to_Item,to_Partner"


def test_find_sends_filter_and_top() -> None:
    client, recorder, _ = make(lambda r: page([{"SalesOrder": "7"}]))
    with client:
        found = client.find(
            "API_SALES_ORDER_SRV", "A_SalesOrder", "PurchaseOrderByCustomer eq 'abc'"
        )
    assert found == [{"SalesOrder": "7"}]
    assert recorder.requests[0].url.params["$filter"] == "PurchaseOrderByCustomer eq 'abc'"
    assert recorder.requests[0].url.params["$top"] == "2"


def test_metadata_asks_for_xml() -> None:
    client, recorder, _ = make(lambda r: httpx.Response(200, content=b"<edmx:Edmx/>"))
    with client:
        assert client.metadata("API_SALES_ORDER_SRV") == b"<edmx:Edmx/>"
    assert recorder.requests[0].url.path.endswith("/API_SALES_ORDER_SRV/$metadata")
    assert recorder.requests[0].headers["Accept"] == "application/xml"


# ---------------------------------------------------------------------- writes


class CsrfServer:
    """A Gateway that wants a CSRF token bound to its session cookie."""

    def __init__(
        self, *, expire_first: bool = False, post_answers: list[Any] | None = None
    ) -> None:
        self.tokens = iter(["tok-1", "tok-2", "tok-3"])
        self.valid: str | None = None
        self.expire_first = expire_first
        self.post_answers = post_answers or []
        self.writes = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("X-CSRF-Token") == "Fetch":
            self.valid = next(self.tokens)
            return httpx.Response(
                200,
                headers={
                    "x-csrf-token": self.valid,
                    "Set-Cookie": "SAP_SESSIONID_S4H_100=abc; Path=/",
                },
            )
        if request.method in ("POST", "PATCH"):
            self.writes += 1
            if "SAP_SESSIONID_S4H_100=abc" not in request.headers.get("cookie", ""):
                return httpx.Response(403, headers={"x-csrf-token": "Required"})
            if self.expire_first and self.writes == 1:
                return httpx.Response(
                    403,
                    headers={"x-csrf-token": "Required"},
                    content=b"CSRF token validation failed",
                )
            if request.headers.get("X-CSRF-Token") != self.valid:
                return httpx.Response(403, headers={"x-csrf-token": "Required"})
            if self.post_answers:
                answer = self.post_answers.pop(0)
                if isinstance(answer, Exception):
                    raise answer
                assert isinstance(answer, httpx.Response)
                return answer
            if request.method == "PATCH":
                return httpx.Response(204)
            body = json.loads(request.content)
            return httpx.Response(
                201,
                json={"d": {**body, "SalesOrder": "4711", "__metadata": {"etag": 'W/"x"'}}},
                headers={
                    "sap-message": json.dumps(
                        {
                            "code": "V1/555",
                            "message": "incomplete",
                            "severity": "warning",
                            "details": [],
                        }
                    )
                },
            )
        return httpx.Response(405)


def test_create_fetches_a_csrf_token_with_head_and_keeps_the_session_cookie() -> None:
    server = CsrfServer()
    client, recorder, _ = make(server)
    with client:
        response = client.create("API_SALES_ORDER_SRV", "A_SalesOrder", {"SalesOrderType": "OR"})
        client.create("API_SALES_ORDER_SRV", "A_SalesOrder", {"SalesOrderType": "OR"})
    assert response.status == 201
    assert response.data is not None
    assert response.data["SalesOrder"] == "4711"
    assert response.etag == 'W/"x"'
    assert response.messages[0].severity == "warning"
    assert recorder.methods() == ["HEAD", "POST", "POST"]  # the token is reused
    assert recorder.requests[0].url == httpx.URL(ROOT + "?sap-client=100&sap-language=ZH")
    assert recorder.requests[1].headers["Content-Type"] == "application/json"


def test_an_expired_csrf_token_is_fetched_again_once() -> None:
    server = CsrfServer(expire_first=True)
    client, recorder, _ = make(server)
    with client:
        assert client.create("API_SALES_ORDER_SRV", "A_SalesOrder", {}).status == 201
    assert recorder.methods() == ["HEAD", "POST", "HEAD", "POST"]


def test_head_not_allowed_falls_back_to_get_for_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(405)
        if request.method == "GET":
            return httpx.Response(200, headers={"x-csrf-token": "tok"})
        assert request.headers["X-CSRF-Token"] == "tok"
        return httpx.Response(201, json={"d": {}})

    client, recorder, _ = make(handler)
    with client:
        client.create("API_SALES_ORDER_SRV", "A_SalesOrder", {})
    assert recorder.methods() == ["HEAD", "GET", "POST"]


def test_a_post_that_timed_out_is_not_retried() -> None:
    request_sent: list[int] = []

    def boom(request: httpx.Request) -> httpx.Response:
        request_sent.append(1)
        raise httpx.ReadTimeout("timed out", request=request)

    server = CsrfServer(post_answers=[])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return boom(request)
        return server(request)

    client, _, sleeps = make(handler)
    with client, pytest.raises(TransientError) as caught:
        client.create("API_SALES_ORDER_SRV", "A_SalesOrder", {})
    assert request_sent == [1]
    assert sleeps == []
    assert caught.value.details["sent"] is True


def test_a_post_whose_connection_never_opened_is_retried() -> None:
    server = CsrfServer(
        post_answers=[
            httpx.ConnectError("refused"),
            httpx.Response(201, json={"d": {"SalesOrder": "1"}}),
        ]
    )
    client, recorder, _ = make(server)
    with client:
        assert client.create("API_SALES_ORDER_SRV", "A_SalesOrder", {}).status == 201
    assert recorder.methods() == ["HEAD", "POST", "POST"]


@pytest.mark.parametrize("status", [429, 503])
def test_a_post_refused_as_busy_is_retried(status: int) -> None:
    server = CsrfServer(
        post_answers=[
            httpx.Response(status, headers={"Retry-After": "1"}),
            httpx.Response(201, json={"d": {}}),
        ]
    )
    client, recorder, sleeps = make(server)
    with client:
        assert client.create("API_SALES_ORDER_SRV", "A_SalesOrder", {}).status == 201
    assert recorder.methods() == ["HEAD", "POST", "POST"]
    assert sleeps == [1.0]


def test_a_post_answered_502_is_not_retried() -> None:
    server = CsrfServer(post_answers=[httpx.Response(502)])
    client, recorder, _ = make(server)
    with client, pytest.raises(TransientError):
        client.create("API_SALES_ORDER_SRV", "A_SalesOrder", {})
    assert recorder.methods() == ["HEAD", "POST"]


def test_patch_sends_if_match_and_412_raises_precondition_failed() -> None:
    server = CsrfServer(post_answers=[httpx.Response(204), httpx.Response(412)])
    client, recorder, _ = make(server)
    with client:
        assert (
            client.patch(
                "API_SALES_ORDER_SRV",
                "A_SalesOrder",
                {"SalesOrder": "1"},
                {"X": "1"},
                if_match='W/"e1"',
            ).status
            == 204
        )
        with pytest.raises(PreconditionFailed):
            client.patch(
                "API_SALES_ORDER_SRV",
                "A_SalesOrder",
                {"SalesOrder": "1"},
                {"X": "2"},
                if_match='W/"old"',
            )
    patch = recorder.requests[1]
    assert patch.method == "PATCH"
    assert patch.headers["If-Match"] == 'W/"e1"'
    assert patch.url.path.endswith("/A_SalesOrder('1')")


# ---------------------------------------------------------------------- OAuth 2.0


TOKEN_URL = "https://auth.example.com/oauth/token"


def oauth_config() -> dict[str, Any]:
    return {
        "auth": {
            "type": "oauth2_client_credentials",
            "token_url": TOKEN_URL,
            "client_id": "l2c-client",
            "client_secret": CLIENT_SECRET,
            "scope": "API_SALES_ORDER_SRV_0001",
        }
    }


def test_oauth_token_is_fetched_once_cached_and_refetched_on_401() -> None:
    issued: list[str] = []
    revoked: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            assert (
                request.headers["Authorization"]
                == "Basic " + base64.b64encode(f"l2c-client:{CLIENT_SECRET}".encode()).decode()
            )
            form = dict(httpx.QueryParams(request.content.decode()))
            assert form == {"grant_type": "client_credentials", "scope": "API_SALES_ORDER_SRV_0001"}
            token = f"tok-{len(issued) + 1}"
            issued.append(token)
            return httpx.Response(
                200, json={"access_token": token, "token_type": "bearer", "expires_in": 3600}
            )
        bearer = request.headers["Authorization"].removeprefix("Bearer ")
        if bearer not in issued or bearer in revoked:
            return httpx.Response(401)
        return page([])

    client, recorder, _ = make(handler, **oauth_config())
    with client:
        client.get("API_SALES_ORDER_SRV", "A_SalesOrder")
        client.get("API_SALES_ORDER_SRV", "A_SalesOrder")
        assert issued == ["tok-1"]
        revoked.add("tok-1")
        client.get("API_SALES_ORDER_SRV", "A_SalesOrder")
    assert issued == ["tok-1", "tok-2"]
    assert recorder.requests[-1].headers["Authorization"] == "Bearer tok-2"


def test_oauth_client_refused_is_a_config_error_on_client_id() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "invalid_client"})

    client, _, _ = make(handler, **oauth_config())
    with client, pytest.raises(ConfigError) as caught:
        client.get("API_SALES_ORDER_SRV", "A_SalesOrder")
    assert caught.value.field == "auth.client_id"
    assert CLIENT_SECRET not in str(caught.value)


# ---------------------------------------------------------------------- secrets


def test_no_secret_reaches_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    answers = iter([httpx.Response(503), httpx.Response(401)])
    client, _, _ = make(lambda r: next(answers))
    with client, pytest.raises(ConfigError) as caught:
        client.get("API_SALES_ORDER_SRV", "A_SalesOrder")
    assert PASSWORD not in caplog.text
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(client.settings)
    assert "SAP request failed (HTTP 503)" in caplog.text
