"""/v1/mappings: the tenant's mapping documents (YAML), beside the built-in ones, and a
preview of what sample records become.

A document is compiled before it is stored, so its problems come back at once, each
with line, column and the path in the document. Jobs name mappings; a name finds the
tenant's document first, then a built-in one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import AdminSession, ReadSession, tenant_of
from api.http.pagination import Cursor, Limit, Page, decode_cursor, page_of
from api.http.routers._integration import (
    JsonObject,
    ObjectId,
    Text,
    created,
    naming_fields,
    page_example,
)
from core.errors import DataError
from core.model.tables import MappingDocument
from mappings.catalog import load_stored
from mappings.errors import MappingSpecError
from scheduler.mapping_docs import (
    NAME,
    builtin_sources,
    create_mapping_doc,
    delete_mapping_doc,
    get_mapping_doc,
    mapping_docs_query,
    mapping_for_preview,
    preview_records,
    summary,
    update_mapping_doc,
)

router = APIRouter(prefix="/mappings", tags=["mappings"])

SOURCE_EXAMPLE = """version: 1
source: {connector: files, stream: customers}
target: account
key: customer_code
fields:
  name: {from: company_name, transform: collapse_space}
"""
MAX_SOURCE = 65_536
MAX_OWN = 10_000
"""Documents of a tenant a listing considers."""

MappingName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=f"^{NAME.pattern}$",
        examples=["crm/accounts"],
        description="Letters, digits, '_' and '-', optionally one '/'; jobs use it.",
    ),
]
Source = Annotated[
    Text,
    Field(
        min_length=1,
        max_length=MAX_SOURCE,
        examples=[SOURCE_EXAMPLE],
        description="The mapping document, YAML (see docs/mappings.md).",
    ),
]

MAPPING_EXAMPLE: dict[str, Any] = {
    "id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d8e",
    "name": "crm/accounts",
    "builtin": False,
    "version": 2,
    "source": SOURCE_EXAMPLE,
    "connector": "files",
    "stream": "customers",
    "entity": "account",
    "created_at": "2024-05-06T06:30:00Z",
    "updated_at": "2024-05-07T06:30:00Z",
}


class MappingIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "crm/accounts", "source": SOURCE_EXAMPLE}]},
    )

    name: MappingName
    source: Source


class MappingPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"source": SOURCE_EXAMPLE}]}
    )

    name: MappingName | None = None
    source: Source | None = None


class MappingOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [MAPPING_EXAMPLE]})

    id: uuid.UUID | None = Field(description="null for built-in mappings (read-only).")
    name: str
    builtin: bool
    version: int
    source: str
    connector: str | None = Field(description="What the document reads (null if broken).")
    stream: str | None
    entity: str | None
    created_at: datetime | None
    updated_at: datetime | None


class PreviewIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "mapping": "files/demo_accounts",
                    "sample": {"customer_code": "C1", "company_name": "华为技术有限公司"},
                }
            ]
        },
    )

    mapping: str = Field(
        min_length=1,
        max_length=MAX_SOURCE,
        description="A mapping name (the tenant's or built-in), or a whole YAML document.",
    )
    sample: JsonObject | Annotated[list[JsonObject], Field(min_length=1, max_length=100)] = Field(
        description="One source record, or a list of up to 100."
    )


class RecordProblem(BaseModel):
    field: str | None
    code: str
    message: str
    hint: str | None = None


class RecordResult(BaseModel):
    outcome: Literal["mapped", "skipped", "invalid"] = Field(
        description="`mapped`: it would be stored; `skipped`: the mapping's `when` is "
        "false; `invalid`: it would be quarantined for `errors`."
    )
    external_id: str | None = None
    values: dict[str, Any] | None = None
    source_ts: str | None = None
    reason: str | None = None
    errors: list[RecordProblem] = Field(default_factory=list)


class PreviewOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mapping": "files/demo_accounts",
                    "stream": "customers",
                    "entity": "account",
                    "ok": True,
                    "results": [
                        {
                            "outcome": "mapped",
                            "external_id": "C1",
                            "values": {"name": "华为技术有限公司"},
                            "source_ts": None,
                            "errors": [],
                        }
                    ],
                }
            ]
        }
    )

    mapping: str
    stream: str
    entity: str
    ok: bool = Field(description="true when no record has errors.")
    results: list[RecordResult]


def _out(doc: MappingDocument) -> MappingOut:
    try:
        facts: dict[str, str | None] = dict(summary(load_stored(doc.name, doc.source)))
    except MappingSpecError:
        facts = {"connector": None, "stream": None, "entity": None}
    return MappingOut(
        id=doc.id,
        name=doc.name,
        builtin=False,
        version=doc.version,
        source=doc.source,
        created_at=doc.created_at,
        updated_at=doc.updated_at,
        **facts,
    )


def _builtin(name: str, source: str) -> MappingOut:
    return MappingOut(
        id=None,
        name=name,
        builtin=True,
        version=1,
        source=source,
        created_at=None,
        updated_at=None,
        **summary(load_stored(name, source)),
    )


def _after(cursor: str | None) -> tuple[str, bool] | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], bool)
    ):
        return value[0], value[1]
    raise DataError(
        "the cursor is not one this API issued",
        field="query.cursor",
        code="invalid_cursor",
        hint="pass the next_cursor of the previous page unchanged, or omit it",
    )


@router.get(
    "",
    response_model=Page[MappingOut],
    summary="List mappings",
    responses=page_example(MAPPING_EXAMPLE),
)
def list_mappings(
    session: ReadSession,
    limit: Limit = 50,
    cursor: Cursor = None,
    builtin: Annotated[
        bool | None, Query(examples=[False], description="Only built-in (true) or own.")
    ] = None,
) -> Page[MappingOut]:
    """The tenant's documents and the built-in ones, by name (a tenant's document comes
    before the built-in one it shadows). Ordered in Python, not by the database's
    collation, so pages follow one order on every dialect; a tenant has a few dozen."""
    after = _after(cursor)
    items: list[MappingOut] = []
    if builtin is not True:
        query = mapping_docs_query(tenant_of(session)).limit(MAX_OWN)
        items += [_out(doc) for doc in session.scalars(query)]
    if builtin is not False:
        items += [_builtin(name, text) for name, text in builtin_sources().items()]
    items.sort(key=lambda m: (m.name, m.builtin))
    if after is not None:
        items = [m for m in items if (m.name, m.builtin) > after]
    return page_of(items[: limit + 1], limit, key=lambda m: [m.name, m.builtin])


@router.post("", status_code=201, response_model=MappingOut, summary="Create a mapping")
def create_mapping(body: MappingIn, session: AdminSession, response: Response) -> MappingOut:
    """Compile and store a document; 422 lists every problem with line and column, 409
    when the name is taken."""
    with naming_fields():
        doc = create_mapping_doc(session, tenant_of(session), name=body.name, source=body.source)
    created(response, f"/v1/mappings/{doc.id}")
    return _out(doc)


@router.post("/preview", response_model=PreviewOut, summary="Preview a mapping on samples")
def preview(body: PreviewIn, session: ReadSession) -> PreviewOut:
    """What sample records become — the canonical values, or the precise errors they would
    be quarantined with — like `l2c mapping test`. Nothing is stored."""
    with naming_fields():
        mapping = mapping_for_preview(session, tenant_of(session), body.mapping)
        records = body.sample if isinstance(body.sample, list) else [body.sample]
        results = [_result(r.shown, r.problems) for r in preview_records(mapping, records)]
    return PreviewOut(
        mapping=mapping.name,
        stream=mapping.stream,
        entity=mapping.entity,
        ok=all(not r.errors for r in results),
        results=results,
    )


def _result(shown: dict[str, Any] | None, problems: list[DataError]) -> RecordResult:
    errors = [
        RecordProblem(field=p.field, code=p.code, message=p.message, hint=p.hint) for p in problems
    ]
    if shown is None or errors:
        base = {k: v for k, v in (shown or {}).items() if k in ("external_id", "values")}
        return RecordResult(outcome="invalid", errors=errors, **base)
    if shown.get("skipped"):
        return RecordResult(outcome="skipped", reason=shown.get("reason"))
    return RecordResult(
        outcome="mapped",
        external_id=shown.get("external_id"),
        values=shown.get("values"),
        source_ts=shown.get("source_ts"),
    )


@router.get("/{mapping_id:uuid}", response_model=MappingOut, summary="Get a mapping")
def get_mapping(mapping_id: ObjectId, session: ReadSession) -> MappingOut:
    """One of the tenant's documents."""
    return _out(get_mapping_doc(session, tenant_of(session), mapping_id))


@router.patch("/{mapping_id:uuid}", response_model=MappingOut, summary="Change a mapping")
def patch_mapping(mapping_id: ObjectId, body: MappingPatch, session: AdminSession) -> MappingOut:
    """New text (compiled first) and/or a new name; each change increments `version`.
    Jobs using the mapping use the new text from their next run."""
    doc = get_mapping_doc(session, tenant_of(session), mapping_id)
    with naming_fields():
        update_mapping_doc(session, doc, name=body.name, source=body.source)
    return _out(doc)


@router.delete(
    "/{mapping_id:uuid}", status_code=204, response_class=Response, summary="Delete a mapping"
)
def delete_mapping(mapping_id: ObjectId, session: AdminSession) -> Response:
    """Delete a document; 409 while jobs use it."""
    delete_mapping_doc(session, get_mapping_doc(session, tenant_of(session), mapping_id))
    return Response(status_code=204)
