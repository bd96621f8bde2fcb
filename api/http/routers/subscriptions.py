"""/v1/subscriptions: outbound webhook endpoints that receive the store's changes,
signed with Standard Webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import AdminSession, ReadSession, hub, tenant_of
from api.http.pagination import Cursor, Limit, Page, decode_cursor, page_of
from scheduler.subscriptions import (
    UNSET,
    create_subscription,
    delete_subscription,
    get_subscription,
    list_subscriptions,
    shown,
    update_subscription,
)

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])

Url = Annotated[
    str, Field(min_length=8, max_length=2048, examples=["https://crm.example.com/hooks/l2c"])
]
Entities = Annotated[
    list[Annotated[str, Field(max_length=32)]] | None,
    Field(
        max_length=20,
        description="Canonical entities to send (account, contact, …); null sends all.",
        examples=[["account", "order"]],
    ),
]

SUBSCRIPTION_EXAMPLE: dict[str, Any] = {
    "id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e",
    "name": "crm-sync",
    "url": "https://crm.example.com/hooks/l2c",
    "entities": ["account", "order"],
    "connection_id": None,
    "enabled": True,
    "disabled_reason": None,
    "failing_since": None,
    "secret_hint": "whsec_…Xy7Q",
    "previous_secret_valid_until": None,
    "created_at": "2024-05-06T06:30:00Z",
    "updated_at": "2024-05-06T06:30:00Z",
}


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "crm-sync",
                    "url": "https://crm.example.com/hooks/l2c",
                    "entities": ["account", "order"],
                }
            ]
        },
    )

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][\w.-]*$")]
    url: Url
    entities: Entities = None
    connection_id: uuid.UUID | None = Field(
        default=None,
        description="The connected system behind this endpoint: its own changes are never "
        "sent back to it (loop prevention).",
    )


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"enabled": True, "rotate_secret": True}]}
    )

    name: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][\w.-]*$")] | None
    ) = None
    url: Url | None = None
    entities: Entities = None
    connection_id: uuid.UUID | None = None
    enabled: bool | None = None
    rotate_secret: bool = Field(
        default=False,
        description="Issue a new signing secret (returned once); the old one keeps "
        "signing alongside for 24 h.",
    )


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [SUBSCRIPTION_EXAMPLE]})

    id: uuid.UUID
    name: str
    url: str
    entities: list[str] | None
    connection_id: uuid.UUID | None
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    secret_hint: str = Field(description="The last characters of the signing secret.")
    previous_secret_valid_until: str | None
    created_at: datetime
    updated_at: datetime


class SubscriptionWithSecret(SubscriptionOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {**SUBSCRIPTION_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
            ]
        }
    )

    secret: str | None = Field(
        description="The `whsec_` signing secret: shown only in the response that creates "
        "or rotates it. Verify deliveries with any Standard Webhooks library."
    )


def _out(sub: Any, secret: str | None = None) -> SubscriptionWithSecret:
    return SubscriptionWithSecret(**shown(sub), secret=secret)


@router.get("", response_model=Page[SubscriptionOut], summary="List subscriptions")
def list_all(session: ReadSession, limit: Limit = 50, cursor: Cursor = None) -> Page[Any]:
    after = decode_cursor(cursor)
    subs = list_subscriptions(
        session, tenant_of(session), cursor=uuid.UUID(after) if after else None, limit=limit + 1
    )
    page = page_of(subs, limit, key=lambda s: str(s.id))
    return Page[Any](
        items=[SubscriptionOut(**shown(s)) for s in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "",
    status_code=201,
    response_model=SubscriptionWithSecret,
    summary="Create a subscription (returns its signing secret once)",
)
def create(
    body: SubscriptionIn, session: AdminSession, request: Request, response: Response
) -> SubscriptionWithSecret:
    """The URL must pass the SSRF guard (no private, loopback or metadata addresses
    unless `L2C_URL_ALLOWLIST` admits them); it is checked again at every delivery."""
    sub, secret = create_subscription(
        session,
        tenant_of(session),
        name=body.name,
        url=body.url,
        entities=body.entities,
        connection_id=body.connection_id,
        allowlist=hub(request).settings.url_allowlist,
    )
    response.headers["Location"] = f"/v1/subscriptions/{sub.id}"
    response.headers["Cache-Control"] = "no-store"  # it shows the secret
    return _out(sub, secret)


@router.get("/{subscription_id:uuid}", response_model=SubscriptionOut, summary="Get a subscription")
def get(subscription_id: uuid.UUID, session: ReadSession) -> SubscriptionOut:
    return SubscriptionOut(**shown(get_subscription(session, tenant_of(session), subscription_id)))


@router.patch(
    "/{subscription_id:uuid}",
    response_model=SubscriptionWithSecret,
    summary="Change, enable/disable or rotate the secret of a subscription",
)
def patch(
    subscription_id: uuid.UUID,
    body: SubscriptionPatch,
    session: AdminSession,
    request: Request,
    response: Response,
) -> SubscriptionWithSecret:
    given = body.model_fields_set
    sub, secret = update_subscription(
        session,
        tenant_of(session),
        subscription_id,
        name=body.name if "name" in given and body.name is not None else UNSET,
        url=body.url if "url" in given and body.url is not None else UNSET,
        entities=body.entities if "entities" in given else UNSET,
        connection_id=body.connection_id if "connection_id" in given else UNSET,
        enabled=body.enabled if body.enabled is not None else UNSET,
        rotate_secret=body.rotate_secret,
        allowlist=hub(request).settings.url_allowlist,
    )
    if secret is not None:
        response.headers["Cache-Control"] = "no-store"
    return _out(sub, secret)


@router.delete(
    "/{subscription_id:uuid}",
    status_code=204,
    response_class=Response,
    summary="Delete a subscription and its undelivered messages",
)
def remove(subscription_id: uuid.UUID, session: AdminSession) -> Response:
    delete_subscription(session, tenant_of(session), subscription_id)
    return Response(status_code=204)
