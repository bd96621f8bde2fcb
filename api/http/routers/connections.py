"""/v1/connections: configured instances of connectors.

Settings are validated against the connector's schema (problems name the setting, e.g.
`body.config.streams[0].format`); secret settings are write-only — stored encrypted,
shown as `********`, kept when a PATCH omits them or sends the mask back. URLs in the
settings pass the SSRF guard.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from api.http.deps import AdminSession, ReadSession, hub, tenant_of
from api.http.pagination import Cursor, Limit, Page
from api.http.routers._integration import (
    AdminPrincipal,
    JsonObject,
    Name,
    ObjectId,
    created,
    naming_fields,
    page_example,
    paginate,
    tenant_row,
)
from connectors.sdk.registry import load_connectors
from core.model.tables import Connection
from core.store.scoping import scope_to_tenant
from scheduler.connections import (
    add_connection,
    connections_query,
    delete_connection,
    get_connection_by_id,
    run_check,
    secret_settings,
    shown_config,
    update_connection,
)
from scheduler.discovery import StreamInfo, discover

router = APIRouter(prefix="/connections", tags=["connections"])

INSTALLED: list[JsonValue] = []
"""Connector names when the app starts (installing one needs a restart anyway)."""
INSTALLED.extend(sorted(load_connectors()))

CONFIG_EXAMPLE: dict[str, Any] = {
    "path": "/srv/drops/erp",
    "streams": [{"name": "customers", "pattern": "customers*.csv", "key_properties": ["id"]}],
}

CONNECTION_EXAMPLE: dict[str, Any] = {
    "id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e",
    "name": "erp-files",
    "connector": "files",
    "config": CONFIG_EXAMPLE,
    "secrets_set": [],
    "status": "unchecked",
    "created_at": "2024-05-06T06:30:00Z",
    "updated_at": "2024-05-06T06:30:00Z",
}


class ConnectionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "erp-files", "connector": "files", "config": CONFIG_EXAMPLE}]
        },
    )

    name: Name
    connector: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z][a-z0-9_]*$",
        examples=["files"],
        description="A connector name from GET /v1/connectors.",
        json_schema_extra={"enum": INSTALLED},
    )
    config: JsonObject = Field(
        default_factory=dict, description="Settings, as the connector's config_schema says."
    )


class ConnectionPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"config": {"streams": CONFIG_EXAMPLE["streams"]}}]},
    )

    name: Name | None = None
    config: JsonObject | None = Field(
        default=None,
        description="A JSON merge patch of the settings (RFC 7396): keys given replace, "
        "null removes, omitted keys — secrets included — are kept.",
    )


class ConnectionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CONNECTION_EXAMPLE]})

    id: uuid.UUID
    name: str
    connector: str
    config: dict[str, Any] = Field(description="The settings, secret values as `********`.")
    secrets_set: list[str] = Field(description="Settings that hold a stored secret.")
    status: str = Field(
        description="`unchecked` (new or changed), `ok` or `needs_attention` (last check)."
    )
    created_at: datetime
    updated_at: datetime


class CheckOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": False,
                    "status": "needs_attention",
                    "message": "folder /srv/drops/erp does not exist",
                    "details": [],
                    "field": "config.path",
                    "hint": "create it or correct the path",
                }
            ]
        }
    )

    ok: bool
    status: str
    message: str
    details: list[str]
    field: str | None = Field(default=None, description="The setting to fix, when one is.")
    hint: str | None = None


class StreamOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(examples=["customers"])
    key_properties: list[str] = Field(examples=[["customer_code"]])
    replication_key: str | None = None
    json_schema: dict[str, Any] = Field(
        alias="schema", description="JSON Schema of the stream's records."
    )


class DiscoverOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "streams": [
                        {
                            "name": "customers",
                            "key_properties": ["customer_code"],
                            "replication_key": None,
                            "schema": {"type": "object", "properties": {}},
                        }
                    ]
                }
            ]
        }
    )

    streams: list[StreamOut]


def _out(connection: Connection) -> ConnectionOut:
    return ConnectionOut(
        id=connection.id,
        name=connection.name,
        connector=connection.connector,
        config=shown_config(connection),
        secrets_set=secret_settings(connection),
        status=connection.status,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


def _stream(info: StreamInfo) -> StreamOut:
    return StreamOut(
        name=info.name,
        key_properties=info.key_properties,
        replication_key=info.replication_key,
        json_schema=info.schema,
    )


@router.post("", status_code=201, response_model=ConnectionOut, summary="Create a connection")
def create_connection(
    body: ConnectionIn, session: AdminSession, response: Response
) -> ConnectionOut:
    """Validate the settings against the connector's schema, vet their URLs, store the
    secrets encrypted. 409 when the name is taken."""
    tenant = tenant_row(session, tenant_of(session))
    with naming_fields():
        connection = add_connection(
            session,
            tenant,
            name=body.name,
            connector=body.connector,
            config=body.config,
            remote=True,
        )
    created(response, f"/v1/connections/{connection.id}")
    return _out(connection)


@router.get(
    "",
    response_model=Page[ConnectionOut],
    summary="List connections",
    responses=page_example(CONNECTION_EXAMPLE),
)
def list_connections(
    session: ReadSession,
    limit: Limit = 50,
    cursor: Cursor = None,
    connector: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=r"^[a-z][a-z0-9_]*$",
            examples=["files"],
            description="Only these.",
        ),
    ] = None,
) -> Page[ConnectionOut]:
    """The tenant's connections, oldest first."""
    query = connections_query(tenant_of(session), connector=connector)
    return paginate(session, query, Connection.id, limit=limit, cursor=cursor, convert=_out)


@router.get("/{connection_id}", response_model=ConnectionOut, summary="Get a connection")
def get_connection(connection_id: ObjectId, session: ReadSession) -> ConnectionOut:
    """One connection, secrets masked."""
    return _out(get_connection_by_id(session, tenant_of(session), connection_id))


@router.patch("/{connection_id}", response_model=ConnectionOut, summary="Change a connection")
def patch_connection(
    connection_id: ObjectId, body: ConnectionPatch, session: AdminSession
) -> ConnectionOut:
    """Rename it and/or merge-patch its settings; the merged settings are validated as a
    whole and the status goes back to `unchecked`."""
    connection = get_connection_by_id(session, tenant_of(session), connection_id)
    tenant = tenant_row(session, connection.tenant_id)
    with naming_fields():
        update_connection(
            session, connection, name=body.name, config=body.config, remote_tenant=tenant.slug
        )
    return _out(connection)


@router.delete(
    "/{connection_id}", status_code=204, response_class=Response, summary="Delete a connection"
)
def remove_connection(connection_id: ObjectId, session: AdminSession) -> Response:
    """Delete it with its jobs, runs, state, xrefs and quarantine (canonical records
    stay). 409 while one of its jobs runs."""
    delete_connection(session, get_connection_by_id(session, tenant_of(session), connection_id))
    return Response(status_code=204)


@router.post("/{connection_id}/check", response_model=CheckOut, summary="Test a connection")
def check(connection_id: ObjectId, principal: AdminPrincipal, request: Request) -> CheckOut:
    """Run the connector's test with the stored settings and store the outcome as the
    connection's status. A failed test is a 200 with `ok: false` naming what to fix."""
    outcome = run_check(hub(request).sessions, principal.tenant_id, connection_id)
    return CheckOut(
        ok=outcome.ok,
        status="ok" if outcome.ok else "needs_attention",
        message=outcome.message,
        details=list(outcome.details),
        field=outcome.field,
        hint=outcome.hint,
    )


@router.post("/{connection_id}/discover", response_model=DiscoverOut, summary="Discover streams")
def discover_streams(
    connection_id: ObjectId, principal: AdminPrincipal, request: Request
) -> DiscoverOut:
    """The streams the connection offers now, with key properties and schemas (the files
    connector looks at the files present)."""
    with hub(request).sessions.begin() as session:
        scope_to_tenant(session, principal.tenant_id)
        connection = get_connection_by_id(session, principal.tenant_id, connection_id)
        session.expunge(connection)
    with naming_fields(prefix=""):
        streams = discover(connection)
    return DiscoverOut(streams=[_stream(s) for s in streams])
