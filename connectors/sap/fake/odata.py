"""OData V2 request handling of the fake: reads, $count, writes, in JSON or Atom."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from . import atom
from .errors import BAD_QUERY, NOT_ALLOWED, NOT_FOUND, GatewayError, error_json, error_xml
from .fake import FakeS4
from .filter import FilterError, compile_filter, parse_filter
from .jsonout import JsonEmitter
from .model import Service
from .query import (
    Renderer,
    non_negative,
    page_window,
    parse_expand,
    parse_orderby,
    parse_select,
    results_body,
    sort_rows,
)
from .resource import Target, parse_resource
from .store import Rows
from .writes import create_sales_order, update_sales_order, update_sales_order_item

JSON = "application/json; charset=utf-8"
ATOM_FEED = "application/atom+xml; type=feed; charset=utf-8"
ATOM_ENTRY = "application/atom+xml; type=entry; charset=utf-8"
XML = "application/xml; charset=utf-8"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ODataRequest:
    method: str
    service: Service
    resource: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    host_url: str  # "http://127.0.0.1:port"
    path: str
    raw_query: list[tuple[str, str]]

    @property
    def root_url(self) -> str:
        return f"{self.host_url}/sap/opu/odata/sap/{self.service.name}/"

    @property
    def wants_json(self) -> bool:
        fmt = self.query.get("$format", "").lower()
        if fmt:
            return fmt == "json"
        return "json" in self.headers.get("accept", "").lower()


def error_reply(
    request: ODataRequest | None, error: GatewayError, service: str, wants_json: bool
) -> Reply:
    if wants_json:
        body, ctype = error_json(error, service), JSON
    else:
        body, ctype = error_xml(error, service), XML
    headers = [("content-type", ctype), *error.headers.items()]
    return Reply(error.status, body, headers)


def _json(data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, orjson.dumps(data), [("content-type", JSON), *(headers or [])])


def handle(fake: FakeS4, request: ODataRequest) -> Reply:
    """One authenticated, CSRF-checked OData request."""
    resource = request.resource
    if resource in ("", "/"):
        if request.wants_json:
            return _json({"d": {"EntitySets": list(request.service.sets)}})
        return Reply(
            200,
            atom.service_document(request.service, request.root_url),
            [("content-type", "application/atomsvc+xml; charset=utf-8")],
        )
    if resource == "$metadata":
        return Reply(200, request.service.metadata, [("content-type", XML)])
    if resource == "$batch":
        raise GatewayError(501, NOT_ALLOWED, "$batch is not supported by the fake S/4HANA")
    target = parse_resource(resource, request.service)
    fake.requests[f"{request.method} {target.set_name}"] = (
        fake.requests.get(f"{request.method} {target.set_name}", 0) + 1
    )
    if request.method in ("GET", "HEAD"):
        reply = _read(fake, request, target)
        if request.method == "HEAD":
            reply.body = b""
        return reply
    return _write(fake, request, target)


def _read(fake: FakeS4, request: ODataRequest, target: Target) -> Reply:
    service = request.service
    etype = service.sets[target.set_name].type
    renderer = Renderer(service, request.root_url)
    if target.key is not None:
        rows, i, entity = fake.lookup(service.name, target.set_name, target.key)
        if target.nav is None:
            expand = parse_expand(request.query.get("$expand", ""), etype, service)
            select = parse_select(request.query.get("$select", ""), etype)
            etag = rows.etag(i, entity)
            headers = [("etag", etag)] if etag else []
            if request.wants_json and select is None:
                emitter = JsonEmitter(service, request.root_url)
                return Reply(
                    200,
                    emitter.single(entity, etype, expand, etag),
                    [("content-type", JSON), *headers],
                )
            rendered = renderer.render(entity, etype, expand, select, etag)
            if request.wants_json:
                return _json({"d": rendered}, headers=headers)
            return Reply(
                200,
                atom.entry(rendered, etype, service, request.root_url),
                [("content-type", ATOM_ENTRY), *headers],
            )
        return _navigation(request, renderer, etype, entity, target)
    rows = fake.rows(service.name, target.set_name)
    return _collection(fake, request, renderer, rows, target)


def _navigation(
    request: ODataRequest, renderer: Renderer, etype: Any, entity: dict[str, Any], target: Target
) -> Reply:
    assert target.nav is not None
    nav = etype.navs[target.nav]
    child_type = request.service.types[nav.target]
    value = entity.get(target.nav)
    expand = parse_expand(request.query.get("$expand", ""), child_type, request.service)
    emitter = JsonEmitter(request.service, request.root_url)
    if nav.many:
        children = list(value or ())
        if target.count:
            return Reply(200, str(len(children)).encode(), [("content-type", "text/plain")])
        count = len(children) if request.query.get("$inlinecount") == "allpages" else None
        if request.wants_json:
            out = emitter.page([(c, None) for c in children], child_type, expand)
            return Reply(
                200, emitter.collection(out, count=count, next_url=None), [("content-type", JSON)]
            )
        results = [renderer.render(c, child_type, expand) for c in children]
        set_name = request.service.set_of_type.get(child_type.name, child_type.name)
        return Reply(
            200,
            atom.feed(
                results,
                child_type,
                request.service,
                request.root_url,
                set_name,
                count=count,
                next_url=None,
            ),
            [("content-type", ATOM_FEED)],
        )
    if value is None:
        raise GatewayError(404, NOT_FOUND, f"Resource not found for segment '{target.nav}'")
    if request.wants_json:
        return Reply(200, emitter.single(value, child_type, expand), [("content-type", JSON)])
    rendered = renderer.render(value, child_type, expand)
    return Reply(
        200,
        atom.entry(rendered, child_type, request.service, request.root_url),
        [("content-type", ATOM_ENTRY)],
    )


def _collection(
    fake: FakeS4, request: ODataRequest, renderer: Renderer, rows: Rows, target: Target
) -> Reply:
    service, q = request.service, request.query
    etype = rows.etype
    filter_text, orderby_text = q.get("$filter", "").strip(), q.get("$orderby", "").strip()
    try:
        predicate = (
            compile_filter(parse_filter(filter_text), etype, rows.getter) if filter_text else None
        )
    except FilterError as exc:
        raise GatewayError(400, BAD_QUERY, str(exc)) from exc
    order = parse_orderby(orderby_text, etype) if orderby_text else []
    expand = parse_expand(q.get("$expand", ""), etype, service)
    select = parse_select(q.get("$select", ""), etype)
    skip, top = non_negative(q.get("$skip"), "$skip"), non_negative(q.get("$top"), "$top")
    token = non_negative(q.get("$skiptoken"), "$skiptoken")

    def ordered() -> list[int] | range:
        return sort_rows(range(len(rows)), rows, order) if order else range(len(rows))

    def compute() -> list[int] | range:
        # Filtering the set in its (cached) order gives what sorting the matches would
        # (the sort is stable), without a sort per query: a client seeking window by
        # window through 200,000 rows asks a new filter each time, the same order.
        indexes = fake.cached((service.name, target.set_name, "", orderby_text), ordered)
        if predicate is not None:
            indexes = [i for i in indexes if predicate(i)]
        return indexes

    with fake.lock:
        matches = fake.cached((service.name, target.set_name, filter_text, orderby_text), compute)
        total = len(matches)
        if target.count:
            shown = max(0, total - (skip or 0))
            shown = shown if top is None else min(shown, top)
            return Reply(200, str(shown).encode(), [("content-type", "text/plain")])
        start, end, more = page_window(
            total, skip=skip, top=top, token=token, page_size=fake.page_size
        )
        fast = request.wants_json and select is None
        emitter = JsonEmitter(service, request.root_url)
        page = [
            (entity, rows.etag(i, entity))
            for i, entity in ((i, rows.entity(i)) for i in matches[start:end])
        ]
        results: list[Any] = (
            emitter.page(page, etype, expand)
            if fast
            else [renderer.render(e, etype, expand, select, t) for e, t in page]
        )
    count = total if q.get("$inlinecount") == "allpages" else None
    next_url = None
    if more:
        params = [(k, v) for k, v in request.raw_query if k != "$skiptoken"]
        params.append(("$skiptoken", str(end - (skip or 0))))
        next_url = f"{request.host_url}{request.path}?" + urlencode(
            params, safe="$/,'():", encoding="utf-8"
        )
    if fast:
        return Reply(
            200,
            emitter.collection(results, count=count, next_url=next_url),
            [("content-type", JSON)],
        )
    if request.wants_json:
        return _json(results_body(results, count=count, next_url=next_url))
    return Reply(
        200,
        atom.feed(
            results,
            etype,
            service,
            request.root_url,
            target.set_name,
            count=count,
            next_url=next_url,
        ),
        [("content-type", ATOM_FEED)],
    )


def _write(fake: FakeS4, request: ODataRequest, target: Target) -> Reply:
    service = request.service
    method = request.method
    writable = (
        service.name == "API_SALES_ORDER_SRV"
        and target.set_name in ("A_SalesOrder", "A_SalesOrderItem")
        and target.nav is None
        and not target.count
    )
    creating = method == "POST" and target.set_name == "A_SalesOrder"
    if not writable or method == "DELETE" or creating != (target.key is None):
        raise GatewayError(
            405,
            NOT_ALLOWED,
            f"Method {method} is not allowed for '{request.resource}' in this system",
        )
    try:
        body = orjson.loads(request.body or b"null")
    except orjson.JSONDecodeError as exc:
        raise GatewayError(
            400, "/IWBEP/CM_MGW_RT/003", "The request body is not valid JSON"
        ) from exc
    etype = service.sets["A_SalesOrder"].type
    if method == "POST":
        created, message = create_sales_order(fake, body)
        rows = fake.collections["sales_orders"]
        i = rows.index_of(created["SalesOrder"])
        assert i is not None
        etag = rows.etag(i, created)
        renderer = Renderer(service, request.root_url)
        rendered = renderer.render(created, etype, {"to_Item": {}, "to_Partner": {}}, None, etag)
        headers = [("location", rendered["__metadata"]["uri"]), ("sap-message", message)]
        if etag:
            headers.append(("etag", etag))
        if request.wants_json:
            return _json({"d": rendered}, 201, headers)
        return Reply(
            201,
            atom.entry(rendered, etype, service, request.root_url),
            [("content-type", ATOM_ENTRY), *headers],
        )
    assert target.key is not None
    if target.set_name == "A_SalesOrderItem":
        update_sales_order_item(fake, target.key, body)
        return Reply(204)
    etag = update_sales_order(fake, target.key["SalesOrder"], body, request.headers.get("if-match"))
    return Reply(204, b"", [("etag", etag)])
