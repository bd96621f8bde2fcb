"""/v1/connectors: the installed connectors, what they can do and what they ask for."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.http.deps import ReadSession
from api.http.pagination import Page
from api.http.routers._integration import page_example
from scheduler.connector_catalog import ConnectorInfo, catalog, connector_info

router = APIRouter(prefix="/connectors", tags=["connectors"])

EXAMPLE: dict[str, Any] = {
    "name": "files",
    "title": "Files (CSV, JSONL, XLSX)",
    "description": "Reads files dropped into a folder.",
    "capabilities": ["incremental", "source"],
    "streams": None,
    "config_schema": {
        "type": "object",
        "required": ["path", "streams"],
        "properties": {"path": {"type": "string"}, "streams": {"type": "array"}},
    },
    "secret_fields": [],
    "error": None,
}


class ConnectorOut(BaseModel):
    """An installed connector."""

    model_config = {"json_schema_extra": {"examples": [EXAMPLE]}}

    name: str = Field(description="What connections name as their `connector`.")
    title: str
    description: str
    capabilities: list[str] = Field(
        description="`source` (syncs into the hub), `incremental` (resumes from state), "
        "`writer` (writes back), `webhook` (receives pushes)."
    )
    streams: list[str] | None = Field(
        description="Stream names when fixed by the connector; null when they depend on "
        "the settings (discover them on a connection)."
    )
    config_schema: dict[str, Any] = Field(
        description="JSON Schema of the settings; secret ones carry `secret: true` / "
        "`writeOnly: true` and are never returned."
    )
    secret_fields: list[str] = Field(description="Paths of the secret settings.")
    error: str | None = Field(
        default=None, description="Why the connector failed to load (it cannot be used)."
    )


def _out(info: ConnectorInfo) -> ConnectorOut:
    return ConnectorOut(
        name=info.name,
        title=info.title,
        description=info.description,
        capabilities=info.capabilities,
        streams=info.streams,
        config_schema=info.config_schema,
        secret_fields=info.secret_fields,
        error=info.error,
    )


@router.get(
    "",
    response_model=Page[ConnectorOut],
    summary="List the installed connectors",
    responses=page_example(EXAMPLE),
)
def list_connectors(_session: ReadSession) -> Page[ConnectorOut]:
    """Every installed connector (a short list: one page, no cursor)."""
    return Page[ConnectorOut](items=[_out(info) for info in catalog()], next_cursor=None)


@router.get("/{name}", response_model=ConnectorOut, summary="Get one connector")
def get_connector(
    _session: ReadSession,
    name: Annotated[str, Path(max_length=64, examples=["files"])],
) -> ConnectorOut:
    """A connector's capabilities and settings schema."""
    return _out(connector_info(name))
