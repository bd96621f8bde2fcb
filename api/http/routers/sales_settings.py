"""/v1/sales-settings: the tenant's lead-management configuration documents.

`icp`, `behaviour`, `grades`, `routing`, `teams`, `scoring` and `rfm`, each validated
as a whole on the way in (problems name the path inside the document, e.g.
`body.rules.0.target.kind`) and versioned: every PUT adds one, and routing outcomes and
scores cite the version they used. A tenant that never set one reads the default
(version 0). `routing_state` and `rfm_state` are kept by the hub itself: read-only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import AdminSession, ReadSession, tenant_of
from api.http.routers._integration import JsonObject
from api.http.routers.routing import LADDER_EXAMPLE, TEAMS_EXAMPLE
from core.errors import ConflictError, DataError
from core.sales import documents

router = APIRouter(prefix="/sales-settings", tags=["sales-settings"])

READ_ONLY = frozenset({"routing_state", "rfm_state"})
NAMES = sorted(documents.DOCUMENTS)
SettingName = Annotated[
    str,
    Path(
        max_length=32,
        examples=["grades"],
        description="One of the setting names.",
        json_schema_extra={"enum": NAMES},
    ),
]
GRADES_EXAMPLE: dict[str, Any] = {
    "attribute_a": 75,
    "attribute_b": 45,
    "behaviour_1": 50,
    "behaviour_2": 20,
}
SCORING_EXAMPLE: dict[str, Any] = {"min_sample": 200, "min_per_class": 20, "cv_folds": 3}
PUT_EXAMPLES: dict[str, Any] = {
    "grades": {"summary": "A1-C3 grade thresholds", "value": GRADES_EXAMPLE},
    "routing": {"summary": "A routing ladder", "value": LADDER_EXAMPLE},
    "teams": {"summary": "Sales teams", "value": TEAMS_EXAMPLE},
    "scoring": {"summary": "ML score settings", "value": SCORING_EXAMPLE},
}
SETTING_EXAMPLE: dict[str, Any] = {
    "name": "routing",
    "description": documents.DOCUMENTS["routing"].description,
    "version": 3,
    "read_only": False,
    "document": LADDER_EXAMPLE,
}


class SettingOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [SETTING_EXAMPLE]})

    name: str
    description: str
    version: int = Field(description="Grows by one per change; 0 = the built-in default.")
    read_only: bool = Field(description="Kept by the hub (PUT answers 409).")
    document: Any = Field(description="The setting's document (an array for `teams`).")


class SettingsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [SETTING_EXAMPLE]}]})

    items: list[SettingOut]


def _out(name: str, model: Any, version: int) -> SettingOut:
    return SettingOut(
        name=name,
        description=documents.DOCUMENTS[name].description,
        version=version,
        read_only=name in READ_ONLY,
        document=documents.dump(model),
    )


@router.get("", response_model=SettingsOut, summary="List sales settings")
def list_settings(session: ReadSession) -> SettingsOut:
    """Every setting with its current document and version."""
    tenant_id = tenant_of(session)
    return SettingsOut(items=[_out(n, *documents.get(session, tenant_id, n)) for n in NAMES])


@router.get("/{name}", response_model=SettingOut, summary="Get a sales setting")
def get_setting(name: SettingName, session: ReadSession) -> SettingOut:
    """One setting: the tenant's document, or the default (version 0). 404 for an
    unknown name."""
    model, version = documents.get(session, tenant_of(session), name)
    return _out(name, model, version)


@router.put("/{name}", response_model=SettingOut, summary="Replace a sales setting")
def put_setting(
    name: SettingName,
    session: AdminSession,
    document: Annotated[
        JsonObject | list[JsonObject],
        Body(
            description="The whole document (an array of teams for `teams`).",
            openapi_examples=PUT_EXAMPLES,
        ),
    ],
) -> SettingOut:
    """Validate and store the whole document; its version grows by one. 422 naming the
    path of the first problem (`body.rules.0.target`); 409 for the read-only
    `routing_state` and `rfm_state`; 404 for an unknown name."""
    if name in READ_ONLY:
        documents.get(session, tenant_of(session), name)  # 404 first for unknown names
        raise ConflictError(
            f"{name} is kept by the hub and cannot be set",
            hint="change `routing` or `rfm` instead; the hub updates its state itself",
        )
    documents.get(session, tenant_of(session), name)  # 404 for an unknown name
    try:
        model, version = documents.put(session, tenant_of(session), name, document)
    except DataError as error:
        inner = (error.field or name).split(".", 1)[-1]
        error.field = "body" if inner == name else f"body.{inner}"
        raise
    return _out(name, model, version)
