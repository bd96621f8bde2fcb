"""The ASGI application: logon, CSRF, faults, OAuth token endpoint and test controls.

Routes: `/sap/opu/odata/sap/<SERVICE>/…` (OData), `POST /oauth/token`, and `/_fake/…`
(stats, faults, reset, touch, expire-csrf, expire-tokens) for tests that run the fake in
another process. Everything else is 404.
"""

from __future__ import annotations

import asyncio
import logging
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import orjson

from .errors import NO_SERVICE, GatewayError
from .fake import FakeS4
from .faults import Fault
from .odata import JSON, WRITE_METHODS, ODataRequest, Reply, error_reply, handle
from .security import basic_credentials

ODATA_PREFIX = "/sap/opu/odata/sap/"
_log = logging.getLogger(__name__)
_STATUS_TEXT = {429: "Too Many Requests", 503: "Service Unavailable"}

Scope = dict[str, Any]


class FakeApp:
    """ASGI callable serving one `FakeS4`."""

    def __init__(self, fake: FakeS4) -> None:
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reply, lost = await self.respond(scope, body)
        if lost == "drop":  # headers and part of the body, then the connection dies
            await send(
                {
                    "type": "http.response.start",
                    "status": reply.status,
                    "headers": _raw_headers(reply, len(reply.body) + 1024),
                }
            )
            await send({"type": "http.response.body", "body": reply.body[:10], "more_body": True})
            return  # uvicorn closes a connection whose response was never completed
        if lost == "504":
            reply = Reply(504, b"", [("content-type", "text/plain")])
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": _raw_headers(reply, len(reply.body)),
            }
        )
        await send({"type": "http.response.body", "body": reply.body})

    async def respond(self, scope: Scope, body: bytes) -> tuple[Reply, str | None]:
        path: str = scope["path"]
        method: str = scope["method"].upper()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        raw_query = parse_qsl(
            scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
        )
        if path.startswith("/_fake/"):
            return self.control(method, path, body), None
        fault = self.fake.faults.take(method, path) if not path.startswith("/_fake") else None
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.expire_csrf:
                self.fake.expire_csrf_tokens()
            if fault.status is not None:
                return self.fault_reply(fault, headers, raw_query), None
        if path == "/oauth/token":
            return self.token(method, headers, body), None
        if not path.startswith(ODATA_PREFIX):
            return Reply(404, b"Not found", [("content-type", "text/plain")]), None
        with self.fake.lock:
            reply = self.odata(scope, method, path, headers, raw_query, body)
        return reply, fault.lost_response if fault else None

    def odata(
        self,
        scope: Scope,
        method: str,
        path: str,
        headers: dict[str, str],
        raw_query: list[tuple[str, str]],
        body: bytes,
    ) -> Reply:
        fake, auth = self.fake, self.fake.auth
        query = dict(raw_query)
        if method == "POST" and headers.get("x-http-method", "").upper() in (
            "MERGE",
            "PATCH",
            "PUT",
            "DELETE",
        ):
            method = headers["x-http-method"].upper()
        client = query.get("sap-client")
        if client is not None and client != auth.client:
            return _logon_failed(
                auth.system_id, auth.client, f"Client {client} is not available in this system"
            )
        principal = auth.authenticate(headers.get("authorization"))
        if principal is None:
            return _logon_failed(auth.system_id, auth.client, "Logon failed")
        rest = path[len(ODATA_PREFIX) :]
        service_name, _, resource = rest.partition("/")
        service_name = service_name.split(";", 1)[0]
        wants_json = "json" in (query.get("$format", "") + headers.get("accept", "")).lower()
        service = fake.services.get(service_name.upper())
        if service is None:
            error = GatewayError(
                404,
                NO_SERVICE,
                f"No service found for namespace '/SAP/', name '{service_name}', version '0001'",
            )
            return error_reply(None, error, service_name, wants_json)
        cookies = SimpleCookie()
        cookies.load(headers.get("cookie", ""))
        session = cookies[auth.session_cookie].value if auth.session_cookie in cookies else None
        extra: list[tuple[str, str]] = []
        if method in WRITE_METHODS:
            if not auth.csrf_ok(session, headers.get("x-csrf-token")):
                return Reply(
                    403,
                    b"CSRF token validation failed",
                    [("content-type", "text/plain; charset=utf-8"), ("x-csrf-token", "Required")],
                )
        elif headers.get("x-csrf-token", "").lower() == "fetch":
            session, token = auth.fetch_csrf(session)
            extra = [
                ("x-csrf-token", token),
                ("set-cookie", f"{auth.session_cookie}={session}; path=/; HttpOnly"),
                ("set-cookie", f"sap-usercontext=sap-client={auth.client}; path=/"),
            ]
        request = ODataRequest(
            method,
            service,
            resource,
            query,
            headers,
            body,
            _host_url(scope, headers),
            path,
            raw_query,
        )
        try:
            reply = handle(fake, request)
        except GatewayError as error:
            reply = error_reply(request, error, service.name, request.wants_json)
        except Exception as exc:  # a bug in the fake: answer like a dumping backend would
            _log.exception("fake S/4HANA failed on %s %s", method, path)
            internal = GatewayError(
                500, "/IWBEP/CM_MGW_RT/000", f"Internal error in the fake: {type(exc).__name__}"
            )
            reply = error_reply(request, internal, service.name, request.wants_json)
        reply.headers.extend(extra)
        reply.headers.append(("dataserviceversion", "2.0"))
        return reply

    def fault_reply(
        self, fault: Fault, headers: dict[str, str], raw_query: list[tuple[str, str]]
    ) -> Reply:
        status = fault.status or 500
        message = fault.message or _STATUS_TEXT.get(status, "Injected fault")
        error = GatewayError(status, fault.code or "/IWFND/CM_BEC/026", message)
        if fault.retry_after is not None:
            error.headers["retry-after"] = str(fault.retry_after)
        wants_json = (
            "json" in (dict(raw_query).get("$format", "") + headers.get("accept", "")).lower()
        )
        return error_reply(None, error, "", wants_json)

    def token(self, method: str, headers: dict[str, str], body: bytes) -> Reply:
        if method != "POST":
            return Reply(405, b"", [("allow", "POST")])
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return _json_reply(
                400,
                {"error": "unsupported_grant_type", "error_description": "only client_credentials"},
            )
        client_id, secret = basic_credentials(headers.get("authorization"))
        if client_id is None:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        with self.fake.lock:
            token = self.fake.auth.issue_token(client_id, secret)
            ttl = int(self.fake.auth.token_ttl)
        if token is None:
            reply = _json_reply(
                401, {"error": "invalid_client", "error_description": "Bad credentials"}
            )
            reply.headers.append(("www-authenticate", 'Basic realm="oauth"'))
            return reply
        return _json_reply(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": ttl,
                "scope": form.get("scope", ""),
            },
        )

    def control(self, method: str, path: str, body: bytes) -> Reply:
        fake = self.fake
        try:
            data = orjson.loads(body) if body else None
            if (method, path) == ("GET", "/_fake/stats"):
                return _json_reply(200, fake.stats())
            if (method, path) == ("POST", "/_fake/faults"):
                items: list[Any] = data if isinstance(data, list) else [data]
                faults = [Fault.from_json(item) for item in items]
                for fault in faults:
                    fake.inject(fault)
                return _json_reply(200, {"pending": fake.faults.pending()})
            if (method, path) == ("POST", "/_fake/reset"):
                fake.reset()
                return Reply(204)
            if (method, path) == ("POST", "/_fake/expire-csrf"):
                fake.expire_csrf_tokens()
                return Reply(204)
            if (method, path) == ("POST", "/_fake/expire-tokens"):
                fake.expire_tokens()
                return Reply(204)
            if (method, path) == ("POST", "/_fake/touch") and isinstance(data, dict):
                entity = fake.touch(data["entity_set"], data["key"], **data.get("changes", {}))
                return _json_reply(200, entity)
        except (ValueError, KeyError, TypeError) as exc:
            return _json_reply(400, {"error": f"{type(exc).__name__}: {exc}"})
        return _json_reply(404, {"error": f"no control endpoint {method} {path}"})


def _json_reply(status: int, data: Any) -> Reply:
    return Reply(status, orjson.dumps(data), [("content-type", JSON)])


def _logon_failed(system_id: str, client: str, text: str) -> Reply:
    body = (
        f"<html><head><title>Logon Error Message</title></head><body><p>{text}</p></body></html>"
    ).encode()
    return Reply(
        401,
        body,
        [
            ("content-type", "text/html; charset=utf-8"),
            (
                "www-authenticate",
                f'Basic realm="SAP NetWeaver Application Server [{system_id}/{client}]"',
            ),
        ],
    )


def _host_url(scope: Scope, headers: dict[str, str]) -> str:
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


def _raw_headers(reply: Reply, length: int) -> list[tuple[bytes, bytes]]:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    raw.append((b"content-length", str(length).encode()))
    return raw
