"""Canonical records: accounts, contacts, leads, opportunities, products, orders,
invoices and payments.

Each gets the same five operations, generated from the entity registry:

- `GET /v1/{records}`: filters + cursor pages (by id, oldest first);
- `GET /v1/{records}/{id}`: with order lines and the external refs that point at it;
- `POST /v1/{records}` and `PATCH /v1/{records}/{id}`: edits made here, stamped with the
  time of the edit so older sync data does not overwrite them;
- `PUT /v1/{records}/external/{connection_id}/{external_id}`: upsert by the id the
  record has in an external system, through the same path as a sync of that connection.

This module only translates HTTP to core.store.records (reads), core.store.direct and
core.store.external (writes); the shapes are in record_shapes. No `from __future__ import
annotations`: the endpoints are built in a loop and FastAPI must see their annotations as
objects.
"""

import inspect
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from api.http.deps import ReadSession, WriteSession, tenant_of
from api.http.pagination import Page
from api.http.problems import PROBLEM_JSON, Problem
from api.http.routers.record_resources import RESOURCES, Resource
from api.http.routers.record_shapes import NO_NUL, IsoDatetime, shapes
from core.errors import DataError, NotFoundError
from core.model.entities import EntitySpec
from core.store.direct import create_record, patch_record
from core.store.external import ByExternalId, external_field, upsert_external
from core.store.records import list_records, read_record

router = APIRouter()
_LOCATION = {"Location": {"description": "The URL of the record.", "schema": {"type": "string"}}}
_BAD_JSON: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Body is not JSON"}
}


@contextmanager
def _located(query_fields: frozenset[str] = frozenset()) -> Iterator[None]:
    """Name a core DataError's field as the API sees it (`body.x` / `query.x`)."""
    try:
        yield
    except DataError as error:
        if error.field and not error.field.startswith(("body.", "query.", "path.")):
            place = "query" if error.field in query_fields else "body"
            error.field = f"{place}.{error.field}"
        raise


def _once(request: Request, lists: tuple[str, ...]) -> None:
    """A parameter that takes one value must be given once (the framework would keep the
    last of several silently)."""
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen and name not in lists:
            raise DataError(
                f"query parameter {name} is given more than once",
                field=f"query.{name}",
                code="repeated_parameter",
                hint=f"give {name} once",
            )
        seen.add(name)


def _external_values(spec: EntitySpec, values: dict[str, Any]) -> dict[str, Any]:
    """`account_external_id: "C-1"` -> `account_id: ByExternalId("C-1")` (also in lines)."""
    for reference in spec.references:
        given = values.pop(external_field(reference), None)
        if given is not None:
            values[reference] = ByExternalId(given)
    for child_field, child in spec.children.items():
        for line in values.get(child_field) or ():
            _external_values(child, line)
    return values


def _add_routes(resource: Resource) -> None:
    spec = resource.spec
    shape = shapes(resource)
    title, path = resource.title, resource.path
    tags: list[str | Any] = [path]
    Record = shape.record  # noqa: N806 - a class
    Query_ = shape.query  # noqa: N806
    Create = shape.create  # noqa: N806
    Patch = shape.patch  # noqa: N806
    Upsert = shape.upsert  # noqa: N806
    Upserted = shape.upserted  # noqa: N806
    IdPath = Annotated[uuid.UUID, Path(description=f"The {title}'s id.")]  # noqa: N806
    owns_type: Any = Literal[tuple(spec.fields)]
    match_type: Any = Literal[tuple(spec.match_rules)] if spec.match_rules else None

    def list_(
        request: Request,
        session: ReadSession,
        query: Annotated[Query_, Query()],  # type: ignore[valid-type]
    ) -> Any:
        _once(request, ())
        values = query.model_dump(exclude={"limit", "cursor"}, exclude_none=True)  # type: ignore[attr-defined]
        limit: int = query.limit  # type: ignore[attr-defined]
        cursor: str | None = query.cursor  # type: ignore[attr-defined]
        after = None if cursor is None else uuid.UUID(hex=cursor)
        rows = list_records(session, tenant_of(session), spec, values, after=after, limit=limit + 1)
        more = len(rows) > limit
        return {"items": rows[:limit], "next_cursor": rows[limit - 1]["id"].hex if more else None}

    def get(id: IdPath, session: ReadSession) -> Any:
        record = read_record(session, tenant_of(session), spec, id)
        if record is None:
            raise NotFoundError(
                f"no such {title} in this tenant", hint=f"list /v1/{path} to find its id"
            )
        return record

    def create(body: Create, session: WriteSession, response: Response) -> Any:  # type: ignore[valid-type]
        with _located():
            record = create_record(
                session,
                tenant_of(session),
                spec,
                body.model_dump(exclude_unset=True),  # type: ignore[attr-defined]
            )
        response.headers["Location"] = f"/v1/{path}/{record['id']}"
        return record

    def patch(id: IdPath, body: Patch, session: WriteSession) -> Any:  # type: ignore[valid-type]
        with _located():
            record, _ = patch_record(
                session,
                tenant_of(session),
                spec,
                id,
                body.model_dump(exclude_unset=True),  # type: ignore[attr-defined]
            )
        return record

    def upsert(
        connection_id: Annotated[
            uuid.UUID, Path(description="The connection of the system that sends the record.")
        ],
        external_id: Annotated[
            str,
            Path(
                min_length=1,
                max_length=255,
                pattern=NO_NUL,
                description="The record's id in that system (may contain `/`).",
                examples=["1000042"],
            ),
        ],
        body: Upsert,  # type: ignore[valid-type]
        request: Request,
        session: WriteSession,
        response: Response,
        source_ts: Annotated[
            IsoDatetime | None,
            Query(
                description="When the source's version of the record was made (ISO 8601 "
                "with a zone). Older than what is held: nothing changes (`unchanged`). "
                "Default: now (arrival order).",
                examples=["2025-06-02T09:29:58Z"],
            ),
        ] = None,
        object_: Annotated[
            str | None,
            Query(
                alias="object",
                min_length=1,
                max_length=128,
                pattern=NO_NUL,
                description="The source object the external id belongs to (default: the "
                "entity name). Use the object a sync mapping of this connection uses to "
                "address the same external refs.",
                examples=["BusinessPartner"],
            ),
        ] = None,
        owns: Annotated[
            list[owns_type] | None,
            Query(
                description="Fields this connection owns (as a mapping's `owns`): other "
                "connections never overwrite them.",
            ),
        ] = None,
        match: Annotated[
            list[match_type] | None,
            Query(
                description="Match rules tried when the external id is new (as a mapping's "
                "`match`): link to an existing record instead of creating one.",
            ),
        ] = None,
    ) -> Any:
        _once(request, ("owns", "match"))
        values = _external_values(spec, body.model_dump(exclude_unset=True))  # type: ignore[attr-defined]
        with _located(frozenset({"source_ts", "owns", "match", "object"})):
            record, outcome = upsert_external(
                session,
                tenant_of(session),
                spec,
                connection_id=connection_id,
                external_id=external_id,
                values=values,
                object_=object_,
                source_ts=source_ts,
                owns=owns or (),
                match=match or (),
            )
        if outcome == "inserted":
            response.status_code = 201
            response.headers["Location"] = f"/v1/{path}/{record['id']}"
        return {**record, "outcome": outcome}

    if match_type is None:
        _drop_parameter(upsert, "match")

    router.add_api_route(
        f"/{path}",
        list_,
        methods=["GET"],
        response_model=Page[Record],  # type: ignore[valid-type]
        operation_id=f"list_{path}",
        summary=f"List {path}",
        description=f"The tenant's {path}, oldest first, filtered by any combination of the "
        "query parameters (all must match). Pages hold up to `limit` items; pass "
        "`next_cursor` as `cursor` for the next page.",
        tags=tags,
        responses={
            200: {
                "content": {
                    "application/json": {
                        "example": {
                            "items": [shape.record_example],
                            "next_cursor": "0190f5d28c6e7b3a9d1e2f4a5b6c7d8e",
                        }
                    }
                }
            }
        },
    )
    router.add_api_route(
        f"/{path}/{{id:uuid}}",
        get,
        methods=["GET"],
        response_model=Record,
        operation_id=f"get_{resource.entity}",
        summary=f"Get a {title}",
        description=f"One {title}"
        + (" with its lines" if spec.children else "")
        + ", and the external refs (connection, source object, external id) that point at it.",
        tags=tags,
    )
    router.add_api_route(
        f"/{path}",
        create,
        methods=["POST"],
        status_code=201,
        response_model=Record,
        operation_id=f"create_{resource.entity}",
        summary=f"Create a {title}",
        description=f"Create a {title}; answers 201 with a `Location` header. Its values "
        "count as of now: a sync bringing older data does not overwrite them. References "
        "(e.g. `account_id`) must be ids of this tenant's records.",
        tags=tags,
        responses={201: {"headers": _LOCATION}, **_BAD_JSON},
    )
    router.add_api_route(
        f"/{path}/{{id:uuid}}",
        patch,
        methods=["PATCH"],
        response_model=Record,
        operation_id=f"update_{resource.entity}",
        summary=f"Update a {title}",
        description="Change only the fields sent (null clears one; lines, if sent, replace "
        "all lines). The change is logged and stamped with the time of the edit, so a sync "
        "bringing older data does not overwrite it. A field owned by a connection answers "
        "409: change it in that system.",
        tags=tags,
        responses=_BAD_JSON,
    )
    router.add_api_route(
        f"/{path}/external/{{connection_id}}/{{external_id:path}}",
        upsert,
        methods=["PUT"],
        response_model=Upserted,
        operation_id=f"upsert_{resource.entity}_by_external_id",
        summary=f"Upsert a {title} by external id",
        description=f"The API mode for external systems: write the {title} that the "
        "connection's system knows by `external_id`, exactly as a sync of that connection "
        "would (external refs, change log, field ownership, match rules, out-of-order "
        "rules). 201 when created, 200 when updated or unchanged (repeating a request "
        "changes nothing). References can be canonical ids (`account_id`) or external ids "
        "of the same connection (`account_external_id`).",
        tags=tags,
        responses={
            201: {"model": Upserted, "description": "Created", "headers": _LOCATION},
            **_BAD_JSON,
        },
    )


def _drop_parameter(function: Callable[..., Any], name: str) -> None:
    """Remove a keyword parameter (with a default) from what FastAPI sees."""
    signature = inspect.signature(function)
    function.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name != name]
    )


for _resource in RESOURCES:
    _add_routes(_resource)
