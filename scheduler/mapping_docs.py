"""Tenants' own mapping documents, and how jobs find their mappings.

A tenant stores mapping documents (YAML text) under a name; a job refers to mappings
by name, and a reference finds the tenant's stored document first, then a built-in
mapping (then, for jobs defined on the hub's own machine by the CLI, a file). Every
stored version is compiled before it is kept, so a job never meets a broken document.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import ConfigError, ConflictError, DataError, NotFoundError
from core.model.tables import MappingDocument, SyncJob
from core.sync.pipeline import check_values
from mappings.catalog import builtin_path, list_builtin, load_mapping, load_stored
from mappings.preview import preview
from mappings.runtime import CompiledMapping

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,62}(/[A-Za-z0-9_\-]{1,64})?")
"""Names of stored mappings: like built-in names (`crm/accounts`), never a file path."""


def stored_sources(session: Session, tenant_id: uuid.UUID, refs: Iterable[str]) -> dict[str, str]:
    """name -> YAML text of the tenant's stored documents among `refs`."""
    names = sorted({ref for ref in refs if NAME.fullmatch(ref)})
    if not names:
        return {}
    rows = session.execute(
        select(MappingDocument.name, MappingDocument.source).where(
            MappingDocument.tenant_id == tenant_id, MappingDocument.name.in_(names)
        )
    )
    return {name: source for name, source in rows}  # noqa: C416 - rows are Row objects


def compile_refs(
    refs: Sequence[str], stored: Mapping[str, str], *, files: bool = True
) -> list[CompiledMapping]:
    """Compile each reference: a stored document first, then a built-in (or a file)."""
    return [
        load_stored(ref, stored[ref]) if ref in stored else load_mapping(ref, files=files)
        for ref in refs
    ]


def load_for_tenant(
    session: Session, tenant_id: uuid.UUID, ref: str, *, files: bool = True
) -> CompiledMapping:
    return compile_refs([ref], stored_sources(session, tenant_id, [ref]), files=files)[0]


# ------------------------------------------------------------------ stored documents


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a valid mapping name",
            hint="use letters, digits, '_' and '-', optionally one '/' (e.g. crm/accounts)",
            field="name",
        )


def _name_taken(name: str) -> ConflictError:
    return ConflictError(
        f"a mapping named {name!r} already exists", hint="pick another name", field="name"
    )


def get_mapping_doc(session: Session, tenant_id: uuid.UUID, doc_id: uuid.UUID) -> MappingDocument:
    doc = session.get(MappingDocument, doc_id)
    if doc is None or doc.tenant_id != tenant_id:
        raise NotFoundError(
            "no such mapping in this tenant", hint="list them with GET /v1/mappings"
        )
    return doc


def create_mapping_doc(
    session: Session, tenant_id: uuid.UUID, *, name: str, source: str
) -> MappingDocument:
    """Compile and store a new document (MappingSpecError listing every problem)."""
    _check_name(name)
    load_stored(name, source)
    if session.scalar(
        select(MappingDocument.id).where(
            MappingDocument.tenant_id == tenant_id, MappingDocument.name == name
        )
    ):
        raise _name_taken(name)
    doc = MappingDocument(tenant_id=tenant_id, name=name, source=source, version=1)
    session.add(doc)
    _flush(session, name)
    return doc


def update_mapping_doc(
    session: Session, doc: MappingDocument, *, name: str | None = None, source: str | None = None
) -> MappingDocument:
    """New text (compiled first) and/or a new name; each change is a new version. A
    document used by jobs keeps its name (the jobs refer to it)."""
    changed = False
    if name is not None and name != doc.name:
        _check_name(name)
        users = jobs_using(session, doc.tenant_id, doc.name)
        if users:
            raise ConflictError(
                f"mapping {doc.name!r} is used by job(s) {', '.join(users)}",
                hint="change those jobs' mappings first, or keep the name",
            )
        if session.scalar(
            select(MappingDocument.id).where(
                MappingDocument.tenant_id == doc.tenant_id, MappingDocument.name == name
            )
        ):
            raise _name_taken(name)
        doc.name, changed = name, True
    if source is not None and source != doc.source:
        load_stored(doc.name, source)
        doc.source, changed = source, True
    elif changed:
        load_stored(doc.name, doc.source)  # the name appears in the compiled mapping
    if changed:
        doc.version += 1
        _flush(session, doc.name)
    return doc


def delete_mapping_doc(session: Session, doc: MappingDocument) -> None:
    users = jobs_using(session, doc.tenant_id, doc.name)
    if users:
        raise ConflictError(
            f"mapping {doc.name!r} is used by job(s) {', '.join(users)}",
            hint="remove it from those jobs first",
        )
    session.delete(doc)
    session.flush()


def _flush(session: Session, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise _name_taken(name) from None


def jobs_using(session: Session, tenant_id: uuid.UUID, name: str) -> list[str]:
    jobs = session.execute(
        select(SyncJob.name, SyncJob.mappings).where(SyncJob.tenant_id == tenant_id)
    )
    return sorted(job for job, refs in jobs if name in (refs or []))


def mapping_docs_query(tenant_id: uuid.UUID) -> Select[MappingDocument]:
    return select(MappingDocument).where(MappingDocument.tenant_id == tenant_id)


def builtin_sources() -> dict[str, str]:
    """name -> YAML text of every built-in mapping."""
    return {name: builtin_path(name).read_text(encoding="utf-8") for name in list_builtin()}


def summary(compiled: CompiledMapping) -> dict[str, str]:
    """What a listing shows of a document: where it reads and what it writes."""
    return {
        "connector": compiled.spec.source.connector,
        "stream": compiled.stream,
        "entity": compiled.entity,
    }


# ------------------------------------------------------------------ preview


@dataclass(frozen=True, slots=True)
class RecordPreview:
    """One sample record's fate: what it becomes (`shown`) and/or what is wrong."""

    shown: dict[str, Any] | None
    problems: list[DataError] = field(default_factory=list)


def preview_records(
    mapping: CompiledMapping, records: Sequence[Mapping[str, Any]]
) -> list[RecordPreview]:
    """What `l2c mapping test` and the API's preview show: the canonical record, or the
    precise errors it would be quarantined with."""
    results: list[RecordPreview] = []
    for record in records:
        try:
            shown = preview(mapping, record)
            mapped = mapping.map(record)
            problems = check_values(mapping.entity, mapped.values) if mapped else []
        except DataError as error:
            results.append(RecordPreview(None, [error]))
            continue
        results.append(RecordPreview(shown, problems))
    return results


def mapping_for_preview(session: Session, tenant_id: uuid.UUID, text: str) -> CompiledMapping:
    """A mapping name (stored or built-in), or a whole YAML document to try out."""
    try:
        if NAME.fullmatch(text):
            return load_for_tenant(session, tenant_id, text, files=False)
        return load_stored("<preview>", text)
    except ConfigError as error:
        error.details.setdefault("field", "mapping")
        raise
