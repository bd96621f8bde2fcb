"""Batch upsert of canonical records by external id — the store's hot path.

For one batch of validated records from one source (connection + entity + object):

1. keep the newest version of each external id (source timestamp, else arrival order);
2. one query loads the batch's external refs: an equal content hash, or an older source
   timestamp than the one already applied, means nothing to do — no write at all;
3. first sight: match rules (USCC, normalised name, e-mail, ...) may link the record to
   an existing canonical record instead of creating one, also within the batch;
4. updates are merged field by field: a field owned by another connection is never
   overwritten, and an older source timestamp never overwrites a newer value;
5. multi-row writes: new records fan out from one staged copy into the record table,
   the external refs and the change log; updates, their refs and their change rows
   follow. The caller commits them together with the stream state.

Writers of one tenant serialise on a lock held until commit, so the change log's `seq`
follows commit order and two runs never race on the same external id.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
from sqlalchemy import LargeBinary, Table, Text, select
from sqlalchemy.orm import Session

from core.errors import DataError
from core.ids import new_id
from core.model.entities import EntitySpec
from core.model.tables import ExternalRef, RecordChange, table_of
from core.store.bulk import Const, FanOut, Row, StageColumn, bulk_writer, fan_out
from core.store.outbox import enqueue_since, watermark
from core.store.owners import adopt_owners
from core.store.tables import CHILD_PARENT_COLUMN, META_COLUMNS, data_columns, table_for
from core.store.xref import Link, batches, load_links, member_of

_XREF = table_of(ExternalRef)
_CHANGES = table_of(RecordChange)
_XREF_KEY = ("connection_id", "entity", "object", "external_id")
_XREF_UPDATE = ("content_hash", "source_ts", "updated_at")
_XREF_INSERT = (
    "tenant_id",
    "connection_id",
    "entity",
    "object",
    "external_id",
    "entity_id",
    "content_hash",
    "source_ts",
    "created_at",
    "updated_at",
)
_CHANGE_COLUMNS = (
    "tenant_id",
    "entity",
    "entity_id",
    "op",
    "changes",
    "connection_id",
    "run_id",
    "occurred_at",
)


@dataclass(slots=True)
class Incoming:
    """One validated record from a source.

    `position` is its index in the caller's batch (rejections point back to the raw
    payload); `derived` holds computed columns such as the name match key.
    """

    position: int
    external_id: str
    values: dict[str, Any]
    source_ts: datetime | None
    content_hash: bytes
    derived: dict[str, Any]
    spec_columns: tuple[str, ...]

    @classmethod
    def of(
        cls,
        spec: EntitySpec,
        position: int,
        external_id: str,
        values: dict[str, Any],
        source_ts: datetime | None = None,
        content_hash: bytes | None = None,
    ) -> Incoming:
        """Compute derived columns (e.g. the name match key) and, unless the caller
        hashed the source record itself, the hash of the values."""
        digest = content_hash or hash_values(values, source_ts)
        derived = {}
        for column, (source, function) in spec.derived.items():
            raw = values.get(source)
            derived[column] = function(raw) if raw else ""
        return cls(position, external_id, values, source_ts, digest, derived, data_columns(spec))


@dataclass(frozen=True, slots=True)
class WriteContext:
    tenant_id: uuid.UUID
    connection_id: uuid.UUID
    run_id: uuid.UUID | None
    now: datetime


@dataclass(slots=True)
class UpsertOutcome:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, DataError]] = field(default_factory=list)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(value: Any) -> bytes:
    """The store's JSON: Decimals as exact strings, UUIDs, dates, datetimes as ISO text."""
    return orjson.dumps(value, default=_json_default)


def record_hash(fingerprint: bytes, record: Mapping[str, Any]) -> bytes:
    """16-byte digest of a raw source record as one mapping reads it.

    Taken before mapping, so an unchanged record is recognised without mapping or
    validating it; the mapping's fingerprint is part of it, so editing the mapping makes
    every record count as changed once.
    """
    return hashlib.blake2b(fingerprint + to_json(record), digest_size=16).digest()


def hash_values(values: Mapping[str, Any], source_ts: datetime | None) -> bytes:
    """16-byte digest of what a source said about a record, and when.

    Validated values come in schema order, so the same content always gives the same
    bytes without sorting keys. References hash as what the source said (their object
    and external id), which does not change when they are resolved.
    """
    digest = hashlib.blake2b(to_json(values), digest_size=16)
    if source_ts is not None:
        digest.update(source_ts.isoformat().encode())
    return digest.digest()


def ts_key(value: datetime) -> str:
    """Fixed-width UTC text: compares like the instants it encodes."""
    return value.isoformat(timespec="microseconds")


@dataclass(slots=True)
class _Pending:
    """A record this batch will insert; later records of the batch may merge into it.

    Its full row is only built when something merges into it: most inserts go straight
    from the incoming values to the staged copy.
    """

    id: uuid.UUID
    item: Incoming
    owners: dict[str, str] | None
    _row: dict[str, Any] | None = None

    @property
    def merged(self) -> bool:
        return self._row is not None

    @property
    def row(self) -> dict[str, Any]:
        if self._row is None:
            row = _row_template(self.item.spec_columns).copy()
            row.update(self.item.values)
            row.update(self.item.derived)
            row["source_ts"] = self.item.source_ts
            row["field_ts"] = None
            row["field_owners"] = self.owners
            self._row = row
        return self._row


@dataclass(slots=True)
class _Batch:
    """Everything one upsert call will write."""

    inserts: list[_Pending] = field(default_factory=list)
    extra_links: list[Row] = field(default_factory=list)
    changed_links: list[Row] = field(default_factory=list)
    updated_rows: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    update_changes: dict[uuid.UUID, dict[str, list[Any]]] = field(default_factory=dict)
    changed_items: int = 0
    unchanged_items: int = 0

    def count(self, changes: Mapping[str, Any]) -> None:
        if changes:
            self.changed_items += 1
        else:
            self.unchanged_items += 1


def upsert_batch(
    session: Session,
    ctx: WriteContext,
    *,
    spec: EntitySpec,
    object_: str,
    items: Sequence[Incoming],
    owns: frozenset[str] = frozenset(),
    match: Sequence[str] = (),
) -> UpsertOutcome:
    """Apply one batch of resolved records; see the module docstring for the rules."""
    outcome = UpsertOutcome()
    if not items:
        return outcome
    writer = bulk_writer(session)
    writer.lock_tenant(str(ctx.tenant_id))
    mark = watermark(session, ctx.tenant_id)
    table = table_for(spec)
    latest = _newest_per_external_id(items)
    outcome.unchanged += len(items) - len(latest)

    links = load_links(session, ctx.connection_id, spec.name, object_, list(latest))
    batch = _Batch()
    known: list[tuple[uuid.UUID, Incoming]] = []
    fresh: list[Incoming] = []
    for external_id, item in latest.items():
        link = links.get(external_id)
        if link is None:
            fresh.append(item)
        elif link.content_hash == item.content_hash or _is_older(item.source_ts, link.source_ts):
            outcome.unchanged += 1
        else:
            known.append((link.entity_id, item))
            batch.changed_links.append(_changed_link(ctx, spec, object_, item, link))

    _place_fresh(session, ctx, spec, table, object_, fresh, owns, match, batch, outcome)
    _merge_known(session, ctx, spec, table, known, owns, batch, outcome)
    _write(session, ctx, spec, table, object_, batch)
    if spec.name == "lead":
        adopt_owners(session, ctx.tenant_id, _lead_owners(batch), ctx.connection_id, ctx.now)
    if mark is not None:
        enqueue_since(session, ctx.tenant_id, mark, now=ctx.now)
    outcome.inserted += len(batch.inserts)
    outcome.updated += batch.changed_items
    outcome.unchanged += batch.unchanged_items
    return outcome


# ---------------------------------------------------------------------------- first sight
def _lead_owners(batch: _Batch) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
    """Leads this batch created with an owner or whose owner it changed."""
    owners = [
        (p.id, owner)
        for p in batch.inserts
        if (owner := (p.row if p.merged else p.item.values).get("owner_id")) is not None
    ]
    owners += [
        (rid, ch["owner_id"][1]) for rid, ch in batch.update_changes.items() if "owner_id" in ch
    ]
    return owners


def _newest_per_external_id(items: Sequence[Incoming]) -> dict[str, Incoming]:
    """Duplicates within a batch: the newest source version wins; without timestamps the
    last one does (arrival order)."""
    latest: dict[str, Incoming] = {}
    for item in items:
        held = latest.get(item.external_id)
        if held is None or not _is_older(item.source_ts, held.source_ts):
            latest[item.external_id] = item
    return latest


def _is_older(candidate: datetime | None, held: datetime | None) -> bool:
    return candidate is not None and held is not None and candidate < held


def _place_fresh(
    session: Session,
    ctx: WriteContext,
    spec: EntitySpec,
    table: Table,
    object_: str,
    fresh: Sequence[Incoming],
    owns: frozenset[str],
    match: Sequence[str],
    batch: _Batch,
    outcome: UpsertOutcome,
) -> None:
    """Records seen for the first time: link to a match, merge into a record created
    earlier in this batch, or create."""
    matched = _match_existing(session, ctx, spec, table, fresh, match) if match else {}
    pending_by_rule: dict[tuple[str, Any], _Pending] = {}
    me = str(ctx.connection_id)
    for item in fresh:
        target = matched.get(item.position)
        if target is not None:
            batch.extra_links.append(_new_link(ctx, spec, object_, item, target))
            continue
        pending = _pending_match(spec, item, match, pending_by_rule) if match else None
        if pending is not None:
            batch.count(_merge(pending.row, item, owns, ctx, spec))
            batch.extra_links.append(_new_link(ctx, spec, object_, item, pending.id))
            continue
        missing = _missing_required(spec, item)
        if missing:
            outcome.rejected.append((item.position, missing))
            continue
        pending = _new_pending(me, item, owns)
        batch.inserts.append(pending)
        for rule in match:
            value = _rule_value(spec, rule, item)
            if value is not None:
                pending_by_rule.setdefault((rule, value), pending)
    if matched:
        by_position = {item.position: item for item in fresh}
        _merge_known(
            session,
            ctx,
            spec,
            table,
            [(target, by_position[position]) for position, target in matched.items()],
            owns,
            batch,
            outcome,
        )


def _missing_required(spec: EntitySpec, item: Incoming) -> DataError | None:
    missing = [f for f in sorted(spec.required) if item.values.get(f) is None]
    if not missing:
        return None
    names = ", ".join(missing)
    return DataError(
        f"cannot create {spec.name} {item.external_id!r}: {names} missing",
        field=missing[0],
        code="required",
        hint=f"map {names} in the mapping, or fix the source record",
    )


def _rule_value(spec: EntitySpec, rule: str, item: Incoming) -> Any:
    column = spec.match_rules[rule]
    if column in spec.derived:
        return item.derived.get(column) or None
    return item.values.get(column)


def _match_existing(
    session: Session,
    ctx: WriteContext,
    spec: EntitySpec,
    table: Table,
    fresh: Sequence[Incoming],
    rules: Sequence[str],
) -> dict[int, uuid.UUID]:
    """Batch position -> id of an existing record that the match rules point at.

    Rules are tried in order; when several records share a value, the oldest wins
    (ids are time-ordered), so a rerun links the same way.
    """
    matched: dict[int, uuid.UUID] = {}
    for rule in rules:
        column = table.c[spec.match_rules[rule]]
        wanted: dict[Any, list[int]] = {}
        for item in fresh:
            if item.position not in matched:
                value = _rule_value(spec, rule, item)
                if value is not None:
                    wanted.setdefault(value, []).append(item.position)
        found: dict[Any, uuid.UUID] = {}
        for chunk in batches(session, list(wanted)):
            rows = session.execute(
                select(column, table.c.id)
                .where(table.c.tenant_id == ctx.tenant_id)
                .where(member_of(session, column, chunk))
                .order_by(table.c.id)
            )
            for value, record_id in rows:
                found.setdefault(value, record_id)
        for value, positions in wanted.items():
            if value in found:
                for position in positions:
                    matched[position] = found[value]
    return matched


def _pending_match(
    spec: EntitySpec,
    item: Incoming,
    rules: Sequence[str],
    pending_by_rule: Mapping[tuple[str, Any], _Pending],
) -> _Pending | None:
    for rule in rules:
        value = _rule_value(spec, rule, item)
        if value is not None and (rule, value) in pending_by_rule:
            return pending_by_rule[(rule, value)]
    return None


@cache
def _row_template(columns: tuple[str, ...]) -> dict[str, Any]:
    return dict.fromkeys(columns)


def _new_pending(me: str, item: Incoming, owns: frozenset[str]) -> _Pending:
    owned = {f: me for f in owns if item.values.get(f) is not None} if owns else None
    return _Pending(new_id(), item, owned or None)


def _new_link(
    ctx: WriteContext, spec: EntitySpec, object_: str, item: Incoming, entity_id: uuid.UUID
) -> Row:
    return (
        ctx.tenant_id,
        ctx.connection_id,
        spec.name,
        object_,
        item.external_id,
        entity_id,
        item.content_hash,
        item.source_ts,
        ctx.now,
        ctx.now,
    )


def _changed_link(
    ctx: WriteContext, spec: EntitySpec, object_: str, item: Incoming, link: Link
) -> Row:
    source_ts = item.source_ts or link.source_ts
    return (
        ctx.connection_id,
        spec.name,
        object_,
        item.external_id,
        item.content_hash,
        source_ts,
        ctx.now,
    )


# ---------------------------------------------------------------------------- merging
def _merge_known(
    session: Session,
    ctx: WriteContext,
    spec: EntitySpec,
    table: Table,
    known: Sequence[tuple[uuid.UUID, Incoming]],
    owns: frozenset[str],
    batch: _Batch,
    outcome: UpsertOutcome,
) -> None:
    if not known:
        return
    wanted = [record_id for record_id, _ in known if record_id not in batch.updated_rows]
    current = {
        **_load_rows(session, spec, table, list(dict.fromkeys(wanted))),
        **batch.updated_rows,
    }
    for record_id, item in known:
        row = current.get(record_id)
        if row is None:
            outcome.rejected.append((item.position, _dangling(spec, item, record_id)))
            continue
        before = (row["source_ts"], row["field_ts"], row["field_owners"])
        changes = _merge(row, item, owns, ctx, spec)
        batch.count(changes)
        if changes or (row["source_ts"], row["field_ts"], row["field_owners"]) != before:
            batch.updated_rows[record_id] = row
        merged = batch.update_changes.setdefault(record_id, {})
        for name, (old, new) in changes.items():
            merged[name] = [merged[name][0] if name in merged else old, new]


def _dangling(spec: EntitySpec, item: Incoming, record_id: uuid.UUID) -> DataError:
    return DataError(
        f"{spec.name} {record_id} linked to external id {item.external_id!r} no longer exists",
        code="dangling_ref",
        hint="delete the external ref (or restore the record), then replay",
    )


def _load_rows(
    session: Session, spec: EntitySpec, table: Table, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    names = (*data_columns(spec), "source_ts", "field_ts", "field_owners")
    columns = [table.c.id, *(table.c[c] for c in names)]
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    for chunk in batches(session, ids):
        for row in session.execute(select(*columns).where(member_of(session, table.c.id, chunk))):
            values = dict(row._mapping)
            rows[values.pop("id")] = values
    for child_field, child in spec.children.items():
        for values in rows.values():
            values[child_field] = []
        for parent_id, lines in _load_children(session, child, list(rows)).items():
            rows[parent_id][child_field] = lines
    return rows


def _load_children(
    session: Session, child: EntitySpec, parent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    table = table_for(child)
    parent_column = table.c[CHILD_PARENT_COLUMN[child.name]]
    columns = [parent_column, *(table.c[c] for c in data_columns(child))]
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for chunk in batches(session, parent_ids):
        query = select(*columns).where(member_of(session, parent_column, chunk))
        query = query.order_by(table.c.line_no)
        for row in session.execute(query):
            values = dict(row._mapping)
            found.setdefault(values.pop(parent_column.name), []).append(values)
    return found


def _normalise_children(
    child: EntitySpec, lines: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    columns = data_columns(child)
    full = [{c: line.get(c) for c in columns} for line in lines]
    return sorted(full, key=lambda line: line.get("line_no") or 0)


def _merge(
    row: dict[str, Any],
    item: Incoming,
    owns: frozenset[str],
    ctx: WriteContext,
    spec: EntitySpec,
) -> dict[str, list[Any]]:
    """Apply one incoming version to a current row in place; return {field: [old, new]}.

    A field is skipped when another connection owns it, or when the timestamp it holds
    is newer than the incoming one. A field holds its own entry in `field_ts`, else the
    row's `source_ts` if it has a value; an empty field without an entry was never
    written by a timed source and takes any value. When one version has written every
    field that has a value, its timestamp becomes the row's `source_ts` again and the
    per-field entries go (the common single-source case stays a plain column).
    """
    me = str(ctx.connection_id)
    overrides = dict(row["field_ts"] or {})
    owners = dict(row["field_owners"] or {})
    base = ts_key(row["source_ts"]) if row["source_ts"] else None
    stamp = ts_key(item.source_ts) if item.source_ts else None
    changes: dict[str, list[Any]] = {}
    for name, incoming in item.values.items():
        owner = owners.get(name)
        if owner is not None and owner != me:
            continue
        if stamp is not None:
            held = overrides.get(name) or (base if row.get(name) not in (None, []) else None)
            if held is not None and stamp < held:
                continue
            overrides[name] = stamp
        if name in owns and owner is None and incoming is not None:
            owners[name] = me
        new = incoming
        child = spec.children.get(name)
        if child is not None:
            if new is None:
                continue
            new = _normalise_children(child, new)
        old = row.get(name)
        if old != new:
            changes[name] = [old, new]
            row[name] = new
    if stamp is not None and (base is None or stamp >= base):
        written = [f for f in spec.fields if row.get(f) not in (None, [])]
        if all(overrides.get(f) == stamp for f in written):
            row["source_ts"], base = item.source_ts, stamp
    row["field_ts"] = {k: v for k, v in overrides.items() if v != base} or None
    row["field_owners"] = owners or None
    for column, (source, function) in spec.derived.items():
        if source in changes:
            raw = row.get(source)
            row[column] = function(raw) if raw else ""
    return changes


# ---------------------------------------------------------------------------- writing
def _stage_columns(spec: EntitySpec, table: Table) -> list[StageColumn]:
    columns = [(c, table.c[c].type) for c in ("id", "tenant_id", *data_columns(spec))]
    return [
        *columns,
        ("source_ts", table.c.source_ts.type),
        ("field_owners", Text()),
        ("external_id", _XREF.c.external_id.type),
        ("content_hash", LargeBinary()),
    ]


def _insert_targets(
    ctx: WriteContext, spec: EntitySpec, table: Table, object_: str
) -> list[FanOut]:
    record_columns: dict[str, str | Const] = {
        c: c for c in ("id", "tenant_id", *data_columns(spec), "source_ts", "field_owners")
    }
    now, connection = Const(ctx.now), Const(ctx.connection_id)
    return [
        FanOut(table, {**record_columns, "created_at": now, "updated_at": now}),
        FanOut(
            _XREF,
            {
                "tenant_id": "tenant_id",
                "connection_id": connection,
                "entity": Const(spec.name),
                "object": Const(object_),
                "external_id": "external_id",
                "entity_id": "id",
                "content_hash": "content_hash",
                "source_ts": "source_ts",
                "created_at": now,
                "updated_at": now,
            },
        ),
        FanOut(
            _CHANGES,
            {
                "tenant_id": "tenant_id",
                "entity": Const(spec.name),
                "entity_id": "id",
                "op": Const("insert"),
                "changes": Const({}),
                "connection_id": connection,
                "run_id": Const(ctx.run_id),
                "occurred_at": now,
            },
        ),
    ]


def _stage_row(ctx: WriteContext, spec: EntitySpec, pending: _Pending, owners: _JsonCache) -> Row:
    """The staged copy of a new record: its row and its link."""
    item = pending.item
    if pending.merged:
        row = pending.row
        values: tuple[Any, ...] = tuple(map(row.get, data_columns(spec)))
        owned = row["field_owners"]
    else:
        values = (*map(item.values.get, _value_columns(spec)), *item.derived.values())
        owned = pending.owners
    return (
        pending.id,
        ctx.tenant_id,
        *values,
        item.source_ts,
        owners(owned),
        item.external_id,
        item.content_hash,
    )


@cache
def _value_columns(spec: EntitySpec) -> tuple[str, ...]:
    """The data columns holding schema fields, in order (derived columns follow them)."""
    return tuple(c for c in data_columns(spec) if c not in spec.derived)


class _JsonCache:
    """field_owners are alike for all rows of a batch: serialise each distinct one once."""

    def __init__(self) -> None:
        self._seen: dict[tuple[tuple[str, str], ...], str] = {}

    def __call__(self, owners: dict[str, str] | None) -> str | None:
        if owners is None:
            return None
        key = tuple(owners.items())
        text = self._seen.get(key)
        if text is None:
            text = self._seen[key] = to_json(owners).decode()
        return text


def _write(
    session: Session,
    ctx: WriteContext,
    spec: EntitySpec,
    table: Table,
    object_: str,
    batch: _Batch,
) -> None:
    columns = data_columns(spec)
    writer = bulk_writer(session)
    if batch.inserts:
        owners = _JsonCache()
        fan_out(
            session,
            _stage_columns(spec, table),
            [_stage_row(ctx, spec, p, owners) for p in batch.inserts],
            _insert_targets(ctx, spec, table, object_),
        )
    if batch.updated_rows:
        writer.update(
            table,
            ("id",),
            (*columns, *META_COLUMNS),
            [
                (
                    record_id,
                    *(row[c] for c in columns),
                    row["source_ts"],
                    row["field_ts"],
                    row["field_owners"],
                    ctx.now,
                )
                for record_id, row in batch.updated_rows.items()
            ],
        )
    _write_children(writer, ctx, spec, batch)
    writer.insert(_XREF, _XREF_INSERT, batch.extra_links)
    writer.update(_XREF, _XREF_KEY, _XREF_UPDATE, batch.changed_links)
    writer.insert(
        _CHANGES,
        _CHANGE_COLUMNS,
        [
            (
                ctx.tenant_id,
                spec.name,
                record_id,
                "update",
                changes,
                ctx.connection_id,
                ctx.run_id,
                ctx.now,
            )
            for record_id, changes in batch.update_changes.items()
            if changes
        ],
    )


def _write_children(writer: Any, ctx: WriteContext, spec: EntitySpec, batch: _Batch) -> None:
    for child_field, child in spec.children.items():
        table = table_for(child)
        parent_column = CHILD_PARENT_COLUMN[child.name]
        columns = data_columns(child)
        replaced = [rid for rid, changes in batch.update_changes.items() if child_field in changes]
        writer.delete(table, parent_column, replaced)
        parents = [(p.id, p.row.get(child_field) or []) for p in batch.inserts]
        parents += [(rid, batch.updated_rows[rid][child_field]) for rid in replaced]
        rows: list[Row] = [
            (new_id(), ctx.tenant_id, parent_id, *(line.get(c) for c in columns))
            for parent_id, lines in parents
            for line in lines
        ]
        writer.insert(table, ("id", "tenant_id", parent_column, *columns), rows)
