"""/v1/dead-letters: outbound messages whose retries ran out, to inspect and replay."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import AdminSession, ReadSession, tenant_of
from api.http.pagination import Cursor, Limit, Page, decode_cursor, page_of
from core.errors import DataError
from core.store.outbox import DeadLetter, dead_letters, get_dead_letter, replay

router = APIRouter(prefix="/dead-letters", tags=["dead-letters"])

MessageId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The dead letter's id.")]
DEAD_LETTER_EXAMPLE: dict[str, Any] = {
    "id": 42,
    "webhook_id": "msg_42",
    "subscription_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e",
    "attempts": 10,
    "last_status": 503,
    "last_error": "HTTP 503 from the endpoint",
    "created_at": "2024-05-06T06:30:00Z",
    "dead_at": "2024-05-09T09:05:05Z",
    "payload": {
        "type": "account.updated",
        "timestamp": "2024-05-06T06:30:00Z",
        "data": {
            "entity": "account",
            "id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d90",
            "op": "update",
            "changes": {"city": ["上海", "北京"]},
            "seq": 981,
        },
    },
}


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DEAD_LETTER_EXAMPLE]})

    id: int
    webhook_id: str = Field(description="The `webhook-id` it was (and will be) sent under.")
    subscription_id: uuid.UUID
    attempts: int
    last_status: int | None = Field(description="HTTP status of the last attempt, if any.")
    last_error: str | None
    created_at: datetime
    dead_at: datetime
    payload: dict[str, Any] | None = Field(
        description="The event body; null if its change-log row was purged."
    )


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ids": [42, 43]}]})

    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=1000)


class ReplayOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"replayed": 2}]})

    replayed: int


def _out(letter: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        id=letter.id,
        webhook_id=letter.webhook_id,
        subscription_id=letter.subscription_id,
        attempts=letter.attempts,
        last_status=letter.last_status,
        last_error=letter.last_error,
        created_at=letter.created_at,
        dead_at=letter.dead_at,
        payload=letter.payload,
    )


@router.get("", response_model=Page[DeadLetterOut], summary="List dead letters, oldest first")
def list_all(
    session: ReadSession,
    limit: Limit = 50,
    cursor: Cursor = None,
    subscription_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[Any]:
    after = decode_cursor(cursor)
    if after is not None and not isinstance(after, int):
        raise DataError(
            "the cursor is not one this API issued",
            field="query.cursor",
            code="invalid_cursor",
            hint="pass next_cursor unchanged",
        )
    letters = dead_letters(
        session, tenant_of(session), cursor=after, limit=limit + 1, subscription_id=subscription_id
    )
    page = page_of(letters, limit, key=lambda d: d.id)
    return Page[Any](items=[_out(d) for d in page.items], next_cursor=page.next_cursor)


@router.get("/{message_id:int}", response_model=DeadLetterOut, summary="Inspect a dead letter")
def get(message_id: MessageId, session: ReadSession) -> DeadLetterOut:
    return _out(get_dead_letter(session, tenant_of(session), message_id))


@router.post(
    "/{message_id:int}/replay", response_model=ReplayOut, summary="Send one dead letter again"
)
def replay_one(message_id: MessageId, session: AdminSession) -> ReplayOut:
    """Delivery starts over from the first attempt, under the same `webhook-id`, so the
    receiver can still deduplicate."""
    return ReplayOut(replayed=replay(session, tenant_of(session), [message_id]))


@router.post("/replay", response_model=ReplayOut, summary="Send several dead letters again")
def replay_many(body: ReplayIn, session: AdminSession) -> ReplayOut:
    """All or nothing: an unknown id (or another tenant's) answers 404 and replays none."""
    return ReplayOut(replayed=replay(session, tenant_of(session), body.ids))
