"""Creating and changing canonical records directly (API, CLI), with no connection.

They write the record and its change-log row (connection_id NULL) and stamp what they
change with the time of the write, the same out-of-order rule a sync follows: later sync
data older than an edit does not overwrite it. A field another connection owns is refused
(its owner would overwrite it), never silently dropped. Upserts by external id are in
core.store.external.

Like `upsert_batch`, writers take the tenant lock before reading what they change and
fan their change rows out to the outbox in the same transaction. Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ConflictError, DataError, NotFoundError
from core.ids import new_id
from core.model.entities import EntitySpec
from core.model.tables import Connection, ExternalRef, RecordChange, table_of
from core.store.bulk import bulk_writer
from core.store.outbox import enqueue_since, watermark
from core.store.owners import adopt_owners
from core.store.records import load_children, read_record
from core.store.tables import CHILD_PARENT_COLUMN, RECORD_TABLES, data_columns, table_for
from core.store.upsert import ts_key

_CHANGES = table_of(RecordChange)
_CONNECTION = table_of(Connection)
_XREF = table_of(ExternalRef)
_LABELS = {table.name: name for name, table in RECORD_TABLES.items()} | {"user_account": "user"}


# ---------------------------------------------------------------------------- create
def create_record(
    session: Session,
    tenant_id: uuid.UUID,
    spec: EntitySpec,
    values: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Create a record from validated values; return it as `read_record` shows it.

    The record's `source_ts` is the time of the write: its values are as of now, so sync
    data with an older source timestamp does not overwrite them (empty fields take any).
    """
    now = now or utcnow()
    values = in_schema_order(spec, values)
    missing = [f for f in sorted(spec.required) if values.get(f) is None]
    if missing:
        raise DataError(
            f"{missing[0]}: required to create a {spec.name}",
            field=missing[0],
            code="required",
            hint=f"send {', '.join(missing)}",
        )
    check_references(session, tenant_id, spec, values)
    bulk_writer(session).lock_tenant(str(tenant_id))
    mark = watermark(session, tenant_id)
    record_id = new_id()
    row = {c: values.get(c) for c in data_columns(spec) if c not in spec.derived}
    _derive(spec, row)
    session.execute(
        insert(table_for(spec)).values(
            id=record_id,
            tenant_id=tenant_id,
            **row,
            source_ts=now,
            field_ts=None,
            field_owners=None,
            created_at=now,
            updated_at=now,
        )
    )
    for child_field, child in spec.children.items():
        _insert_children(session, tenant_id, child, record_id, values.get(child_field) or [])
    _log(session, tenant_id, spec, record_id, "insert", {}, now)
    if mark is not None:
        enqueue_since(session, tenant_id, mark, now=now)
    if spec.name == "lead" and row.get("owner_id") is not None:
        adopt_owners(session, tenant_id, [(record_id, row["owner_id"])], None, now)
    return read_written(session, tenant_id, spec, record_id)


# ---------------------------------------------------------------------------- patch
def patch_record(
    session: Session,
    tenant_id: uuid.UUID,
    spec: EntitySpec,
    record_id: uuid.UUID,
    changes: Mapping[str, Any],
    *,
    now: datetime | None = None,
    connection_id: uuid.UUID | None = None,
    via_ownership: bool = False,
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Change some fields of a record; return it and the `{field: [old, new]}` applied.

    Child lists (order lines) are replaced as a whole. Changing nothing writes nothing.
    `connection_id` writes on behalf of a connection (the write-back recording what the
    system answered): it may change the fields it owns, and the change log names it, so
    the change is not sent back to it. A lead's new owner is handed to the ownership
    service (pool, recycle deadline, audit) unless that service is the writer
    (`via_ownership`).
    """
    now = now or utcnow()
    changes = in_schema_order(spec, changes)
    for name in sorted(spec.required):
        if name in changes and changes[name] is None:
            raise DataError(
                f"{name}: a {spec.name} cannot be without it",
                field=name,
                code="required",
                hint=f"send a value for {name}, or leave it out to keep the current one",
            )
    bulk_writer(session).lock_tenant(str(tenant_id))
    mark = watermark(session, tenant_id)
    row = _load_row(session, tenant_id, spec, record_id)
    for name, value in changes.items():
        if value == record_id and spec.references.get(name) == spec.name:
            raise DataError(
                f"{name}: a {spec.name} cannot refer to itself",
                field=name,
                code="self_reference",
                hint="point it at another record, or send null",
            )
    check_references(session, tenant_id, spec, changes)
    diff = _diff(spec, row, changes)
    if not diff:
        return read_written(session, tenant_id, spec, record_id), {}
    _refuse_owned(session, spec, row, diff, connection_id)
    _stamp(spec, row, diff, now)
    table = table_for(spec)
    columns = [c for c in data_columns(spec) if c in diff or c in spec.derived]
    session.execute(
        update(table)
        .where(table.c.tenant_id == tenant_id, table.c.id == record_id)
        .values(
            {c: row[c] for c in columns}
            | {"source_ts": row["source_ts"], "field_ts": row["field_ts"], "updated_at": now}
        )
    )
    for child_field, child in spec.children.items():
        if child_field in diff:
            lines = table_for(child)
            parent = lines.c[CHILD_PARENT_COLUMN[child.name]]
            session.execute(
                lines.delete().where(lines.c.tenant_id == tenant_id, parent == record_id)
            )
            _insert_children(session, tenant_id, child, record_id, row[child_field])
    _log(session, tenant_id, spec, record_id, "update", diff, now, connection_id)
    if mark is not None:
        enqueue_since(session, tenant_id, mark, now=now)
    if spec.name == "lead" and "owner_id" in diff and not via_ownership:
        adopt_owners(session, tenant_id, [(record_id, diff["owner_id"][1])], connection_id, now)
    return read_written(session, tenant_id, spec, record_id), diff


# ---------------------------------------------------------------------------- delete
def delete_record(
    session: Session,
    tenant_id: uuid.UUID,
    spec: EntitySpec,
    record_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> dict[str, list[Any]]:
    """Delete a record, its child lines and the external refs still pointing at it; log a
    `delete` change holding `{field: [old, None]}` for every valued field (the log keeps
    the record's last state, since no current row is left to undo diffs from). Returns
    that diff. Rows of other tables that refer to it follow their foreign keys' rules;
    a later sync of one of its former external ids creates a new record."""
    now = now or utcnow()
    bulk_writer(session).lock_tenant(str(tenant_id))
    mark = watermark(session, tenant_id)
    row = _load_row(session, tenant_id, spec, record_id)
    diff = {name: [row.get(name), None] for name in spec.fields if row.get(name) not in (None, [])}
    for child in spec.children.values():
        lines = table_for(child)
        parent = lines.c[CHILD_PARENT_COLUMN[child.name]]
        session.execute(lines.delete().where(lines.c.tenant_id == tenant_id, parent == record_id))
    session.execute(
        _XREF.delete().where(
            _XREF.c.tenant_id == tenant_id,
            _XREF.c.entity == spec.name,
            _XREF.c.entity_id == record_id,
        )
    )
    table = table_for(spec)
    session.execute(table.delete().where(table.c.tenant_id == tenant_id, table.c.id == record_id))
    _log(session, tenant_id, spec, record_id, "delete", diff, now)
    if mark is not None:
        enqueue_since(session, tenant_id, mark, now=now)
    return diff


def log_event(
    session: Session,
    tenant_id: uuid.UUID,
    spec: EntitySpec,
    record_id: uuid.UUID,
    op: str,
    data: Mapping[str, Any],
    now: datetime,
) -> None:
    """Append a change-log row that is an event about a record, not a change of it (e.g.
    `lead.remind`), and fan it out to subscriptions like any change."""
    bulk_writer(session).lock_tenant(str(tenant_id))
    mark = watermark(session, tenant_id)
    _log(session, tenant_id, spec, record_id, op, data, now)
    if mark is not None:
        enqueue_since(session, tenant_id, mark, now=now)


def _load_row(
    session: Session, tenant_id: uuid.UUID, spec: EntitySpec, record_id: uuid.UUID
) -> dict[str, Any]:
    table = table_for(spec)
    names = (*data_columns(spec), "source_ts", "field_ts", "field_owners")
    found = session.execute(
        select(*(table.c[n] for n in names)).where(
            table.c.tenant_id == tenant_id, table.c.id == record_id
        )
    ).first()
    if found is None:
        raise NotFoundError(
            f"no such {spec.name} in this tenant",
            hint=f"list the {spec.name} records to find its id",
        )
    row = dict(found._mapping)
    for child_field, child in spec.children.items():
        row[child_field] = load_children(session, tenant_id, child, [record_id]).get(record_id, [])
    return row


def _diff(
    spec: EntitySpec, row: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, list[Any]]:
    diff: dict[str, list[Any]] = {}
    for name, value in changes.items():
        child = spec.children.get(name)
        new = _normalise_lines(child, value or []) if child is not None else value
        if row.get(name) != new:
            diff[name] = [row.get(name), new]
    return diff


def _normalise_lines(child: EntitySpec, lines: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Lines as the store holds them: every column, in line order (as upsert compares)."""
    columns = data_columns(child)
    return sorted(
        ({c: line.get(c) for c in columns} for line in lines),
        key=lambda line: line.get("line_no") or 0,
    )


def _refuse_owned(
    session: Session,
    spec: EntitySpec,
    row: Mapping[str, Any],
    diff: Mapping[str, Any],
    writer: uuid.UUID | None = None,
) -> None:
    owners = row["field_owners"] or {}
    owned = {
        name: owners[name]
        for name in diff
        if name in owners and (writer is None or str(owners[name]) != str(writer))
    }
    if not owned:
        return
    name, owner = next(iter(owned.items()))
    label = session.scalar(
        select(_CONNECTION.c.name).where(_CONNECTION.c.id == uuid.UUID(str(owner)))
    )
    raise ConflictError(
        f"{name} of this {spec.name} is owned by connection {label or owner!r}; "
        "its next sync would overwrite an edit here",
        hint=f"change {name} in the system behind that connection, or leave it out",
        field=name,
    )


def _stamp(spec: EntitySpec, row: dict[str, Any], diff: Mapping[str, Any], now: datetime) -> None:
    """Apply the diff and stamp its fields with `now` (upsert's field_ts convention: a
    field holds its own entry, else the row's source_ts; when one write holds every
    valued field, its time becomes the row's source_ts and the entries go)."""
    stamp = ts_key(now)
    overrides = dict(row["field_ts"] or {})
    base = ts_key(row["source_ts"]) if row["source_ts"] else None
    for name, (_old, new) in diff.items():
        row[name] = new
        overrides[name] = stamp
    if base is None or stamp >= base:
        written = [f for f in spec.fields if row.get(f) not in (None, [])]
        if all(overrides.get(f) == stamp for f in written):
            row["source_ts"], base = now, stamp
    row["field_ts"] = {k: v for k, v in overrides.items() if v != base} or None
    _derive(spec, row)


def _derive(spec: EntitySpec, row: dict[str, Any]) -> None:
    for column, (source, function) in spec.derived.items():
        raw = row.get(source)
        row[column] = function(raw) if raw else ""


def _insert_children(
    session: Session,
    tenant_id: uuid.UUID,
    child: EntitySpec,
    parent_id: uuid.UUID,
    lines: Sequence[Mapping[str, Any]],
) -> None:
    if not lines:
        return
    table = table_for(child)
    parent = CHILD_PARENT_COLUMN[child.name]
    columns = data_columns(child)
    session.execute(
        insert(table),
        [
            {"id": new_id(), "tenant_id": tenant_id, parent: parent_id}
            | {c: line.get(c) for c in columns}
            for line in _normalise_lines(child, lines)
        ],
    )


def _log(
    session: Session,
    tenant_id: uuid.UUID,
    spec: EntitySpec,
    record_id: uuid.UUID,
    op: str,
    changes: Mapping[str, Any],
    now: datetime,
    connection_id: uuid.UUID | None = None,
) -> None:
    session.execute(
        insert(_CHANGES).values(
            tenant_id=tenant_id,
            entity=spec.name,
            entity_id=record_id,
            op=op,
            changes=dict(changes),
            connection_id=connection_id,
            run_id=None,
            occurred_at=now,
        )
    )


def read_written(
    session: Session, tenant_id: uuid.UUID, spec: EntitySpec, record_id: uuid.UUID
) -> dict[str, Any]:
    record = read_record(session, tenant_id, spec, record_id)
    assert record is not None, "a record just written is readable in its transaction"
    return record


# ---------------------------------------------------------------------------- checks
def check_references(
    session: Session, tenant_id: uuid.UUID, spec: EntitySpec, values: Mapping[str, Any]
) -> None:
    """Every id a record points at (account_id, owner_id, lines' product_id, ...) must be
    a record of the same tenant: foreign keys alone would accept another tenant's id."""
    wanted: dict[Table, dict[uuid.UUID, str]] = {}
    _collect_ids(table_for(spec), values, "", wanted)
    for child_field, child in spec.children.items():
        for index, line in enumerate(values.get(child_field) or ()):
            _collect_ids(table_for(child), line, f"{child_field}.{index}.", wanted)
    for target, ids in wanted.items():
        present = set(
            session.scalars(
                select(target.c.id).where(target.c.tenant_id == tenant_id, target.c.id.in_(ids))
            )
        )
        for record_id, path in ids.items():
            if record_id not in present:
                label = _LABELS.get(target.name, target.name)
                raise DataError(
                    f"{path}: no {label} {record_id} in this tenant",
                    field=path,
                    code="unknown_reference",
                    hint=f"send the id of an existing {label} of this tenant, or null",
                )


def _collect_ids(
    table: Table, values: Mapping[str, Any], prefix: str, wanted: dict[Table, dict[uuid.UUID, str]]
) -> None:
    for name, value in values.items():
        if not isinstance(value, uuid.UUID) or name not in table.c:
            continue
        for key in table.c[name].foreign_keys:
            wanted.setdefault(key.column.table, {}).setdefault(value, f"{prefix}{name}")


def in_schema_order(spec: EntitySpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Values keyed by schema field, in schema order (hashes depend on it)."""
    unknown = sorted(set(values) - set(spec.fields))
    if unknown:
        raise DataError(
            f"{spec.name} has no field {unknown[0]!r}",
            field=unknown[0],
            code="unknown_field",
            hint=f"fields of {spec.name}: {', '.join(spec.fields)}",
        )
    return {name: values[name] for name in spec.fields if name in values}
