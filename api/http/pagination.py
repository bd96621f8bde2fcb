"""Cursor pagination: opaque cursors over a unique, ordered key; pages of 1-200 items.

A cursor is the last key of the previous page, base64url-encoded JSON, so pages stay
stable while rows are inserted (unlike offsets) and cost one index range scan.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel, Field

from core.errors import DataError

T = TypeVar("T")
MAX_LIMIT = 200

Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1-200).", examples=[50])
]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` of the previous page; omit for the first."),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    if cursor is None:
        return None
    try:
        return orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise DataError(
            "the cursor is not one this API issued",
            field="query.cursor",
            code="invalid_cursor",
            hint="pass the next_cursor of the previous page unchanged, or omit it",
        ) from None


def page_of(items: list[T], limit: int, key: Any) -> Page[T]:
    """`items` were fetched with limit + 1: the extra one only says another page exists."""
    if len(items) > limit:
        items = items[:limit]
        return Page[T](items=items, next_cursor=encode_cursor(key(items[-1])))
    return Page[T](items=items, next_cursor=None)
