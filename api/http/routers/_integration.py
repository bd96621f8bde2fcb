"""What the integration routers (connections, mappings, sync jobs, runs, quarantine)
share: input types that the store can always hold, errors that name the request field,
keyset pagination over UUIDv7 ids, and a principal for work done outside the request's
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, Field
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.http.deps import scoped_principal
from api.http.pagination import Page, decode_cursor, page_of
from core.errors import ConfigError, DataError
from core.model.tables import Tenant
from core.security.apikeys import Principal
from mappings.errors import MappingSpecError

T = TypeVar("T")
Row = TypeVar("Row")

INT64 = (-(2**63), 2**63 - 1)


def _storable(value: Any, path: str = "") -> None:
    """Refuse what a JSON column cannot hold: NUL characters (PostgreSQL rejects them)
    and integers beyond 64 bits (the JSON encoder does)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path or 'value'}: text must not contain NUL (\\u0000)")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise ValueError(f"{path or 'value'}: integers must fit in 64 bits")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key, path)
            _storable(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _storable(item, f"{path}[{index}]")


def _checked(value: T) -> T:
    _storable(value)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_checked)]
"""A JSON object the store can keep as it is."""

Text = Annotated[str, AfterValidator(_checked)]

Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        examples=["sap-prod"],
        description="Unique in the tenant; 1-64 printable characters.",
    ),
]


EXAMPLE_ID = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e"
ObjectId = Annotated[uuid.UUID, Path(examples=[EXAMPLE_ID], description="The object's id.")]
"""A path parameter naming one of the tenant's objects (404 for another tenant's)."""


def page_example(item: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The documented 200 of a list operation: a page holding `item`."""
    page = {"items": [item], "next_cursor": None}
    return {200: {"content": {"application/json": {"example": page}}}}


def tenant_row(session: Session, tenant_id: uuid.UUID) -> Tenant:
    return session.get_one(Tenant, tenant_id)


def created(response: Response, location: str) -> None:
    response.headers["Location"] = location


@contextmanager
def naming_fields(prefix: str = "body.") -> Iterator[None]:
    """Errors of the services name their setting in `details["field"]` relative to the
    resource (`config.streams[0].format`); answer them as problems naming the request
    field, every problem of a mapping document with its line and column."""
    try:
        yield
    except MappingSpecError as error:
        loc = ("body", str(error.details.get("field") or "source"))
        raise RequestValidationError(
            [
                {"loc": loc, "msg": problem.render(), "type": "mapping_invalid"}
                for problem in error.problems
            ]
        ) from None
    except ConfigError as error:
        named = error.details.get("field")
        if not named:
            raise
        raise DataError(
            error.message, field=f"{prefix}{named}", code="invalid_config", hint=error.hint
        ) from None


AdminPrincipal = Annotated[Principal, Depends(scoped_principal("admin"))]


def _after(cursor: str | None) -> uuid.UUID | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise DataError(
            "the cursor is not one this API issued",
            field="query.cursor",
            code="invalid_cursor",
            hint="pass the next_cursor of the previous page unchanged, or omit it",
        ) from None


def paginate(
    session: Session,
    query: Select[Row],
    key: InstrumentedAttribute[uuid.UUID],
    *,
    limit: int,
    cursor: str | None,
    newest_first: bool = False,
    convert: Callable[[Row], T],
) -> Page[T]:
    """One page of `query` ordered by `key` (a UUIDv7 id: time-ordered and unique)."""
    after = _after(cursor)
    if after is not None:
        query = query.where(key < after if newest_first else key > after)
    query = query.order_by(key.desc() if newest_first else key.asc()).limit(limit + 1)
    rows: Sequence[Row] = session.scalars(query).all()
    page = page_of(list(rows), limit, key=lambda row: str(getattr(row, key.key)))
    return Page[T](items=[convert(row) for row in page.items], next_cursor=page.next_cursor)
