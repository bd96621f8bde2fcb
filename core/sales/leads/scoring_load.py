"""Leads and their events as columns and arrays, the input of a scoring pass.

A SQLAlchemy row costs microseconds; a million leads with five million events made loading
the largest part of a rescore. On PostgreSQL one statement aggregates each lead column into
one text (values joined by U+001F, plus a text of null flags) and the events into one bytea
per event type of fixed-size records (lead id, timestamp), read with `np.frombuffer`; events
find their lead by its id (searchsorted), so the server joins nothing. A column that is not
text, or whose values contain the separator, falls back to the Core select. SQLite keeps
the plain Core selects. Both give the same values: timestamps are whole microseconds on
both sides.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Float,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from core.model.tables import Lead, LeadOwnershipEvent, Touchpoint, table_of
from core.sales import batch

LEADS, TOUCH, EVENTS = table_of(Lead), table_of(Touchpoint), table_of(LeadOwnershipEvent)
Ints = npt.NDArray[np.int64]
LeadFilter = Callable[[Any], ColumnElement[bool]]
"""Given an events table's lead-id column: a condition keeping (at least) the chunk's leads."""

MAX_IDS = 5_000  # listed lead ids per chunk: bind parameters stay far below the limits
_MICROSECOND = timedelta(microseconds=1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # timestamptz_send counts µs from here
_SEP = "\x1f"
_EVENT = np.dtype([("hi", ">u8"), ("lo", ">u8"), ("at", ">i8")])
_ID = np.dtype([("hi", ">u8"), ("lo", ">u8")])


@dataclass(frozen=True)
class Chunk:
    """n leads (`ids`: UUIDs, or their text on PostgreSQL) and their events."""

    ids: Sequence[uuid.UUID | str]
    columns: dict[str, list[Any]]
    event_lead: Ints
    event_code: Ints  # index into `type_names`
    type_names: list[str]
    event_age_us: Ints
    touch_counts: dict[str, Ints]
    returns: Ints

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def event_type(self) -> list[str]:
        names = self.type_names
        return [names[c] for c in self.event_code.tolist()]


def load_chunk(
    session: Session,
    tenant_id: uuid.UUID,
    where: Any,
    names: Sequence[str],
    as_of: datetime,
    *,
    events_of: LeadFilter | None = None,
    ordered: bool = True,
) -> Chunk:
    """Leads matching `where` with their touchpoints and returns to a pool (as of `as_of`).

    `events_of` narrows the event reads (a range of lead ids, say); by default they read
    the events of leads matching `where`. Leads are in id order unless not `ordered` (a
    rescore: each lead's score is its own; training samples and splits by position).
    """
    events_of = events_of or leads_of(where)
    reads = pg_reads(session, tenant_id, where, names, events_of)
    if reads is None:
        return _core_chunk(session, tenant_id, where, names, as_of)
    fetched = reads.fetch(session.connection().connection.driver_connection)
    return pg_chunk(session, fetched, where, names, as_of, ordered=ordered)


def chunk_windows(
    session: Session, tenant_id: uuid.UUID, lead_ids: Sequence[uuid.UUID] | None, size: int
) -> Iterator[tuple[Any, LeadFilter]]:
    """The chunks of a rescore: (lead condition, the matching condition on event lead ids).

    `lead_ids` go in id order, at most `MAX_IDS` per chunk (bind parameter limits). All of a
    tenant's leads: on PostgreSQL id ranges of `size` leads cut in one sorted pass (no
    index walk per chunk), elsewhere keyset pages."""
    base = LEADS.c.tenant_id == tenant_id
    if lead_ids is not None:
        ordered = sorted(set(lead_ids))
        step = min(size, MAX_IDS)
        for start in range(0, len(ordered), step):
            part = ordered[start : start + step]
            yield and_(base, LEADS.c.id.in_(part)), _among(part)
        return
    if session.get_bind().dialect.name == "postgresql":
        # id bounds of equal chunks in one sorted pass, not one index walk per chunk
        count = session.execute(select(func.count()).where(base)).scalar_one()
        cuts = [i / count for i in range(size, count, size)]
        bounds: list[Any] = [None]
        if cuts:
            fraction = func.percentile_disc(literal(cuts, ARRAY(Float)))
            picked = select(fraction.within_group(LEADS.c.id)).where(base)
            bounds += sorted(set(session.execute(picked).scalar_one()))
        bounds.append(None)
        for low, high in itertools.pairwise(bounds):
            yield _range(base, low, high)
        return
    after: uuid.UUID | None = None
    while True:
        window = select(LEADS.c.id).where(base)
        if after is not None:
            window = window.where(LEADS.c.id > after)
        top = window.order_by(LEADS.c.id).limit(size).subquery()
        last = session.execute(select(top.c.id).order_by(top.c.id.desc()).limit(1)).scalar()
        if last is None:
            return
        yield _range(base, after, last)
        after = last


def _among(ids: Sequence[uuid.UUID]) -> LeadFilter:
    def among(column: Any) -> Any:
        return column.in_(ids)

    return among


def _range(base: Any, low: Any, high: Any) -> tuple[Any, LeadFilter]:
    """Leads with low < id <= high (None: open), and the same bounds for event reads."""

    def within(column: Any) -> Any:
        parts = [column.is_not(None)]
        if low is not None:
            parts.append(column > low)
        if high is not None:
            parts.append(column <= high)
        return and_(*parts)

    return and_(base, within(LEADS.c.id)), within


def leads_of(where: Any) -> LeadFilter:
    """Events of the leads matching `where` (a subquery)."""

    def leads(column: Any) -> ColumnElement[bool]:
        matching: ColumnElement[bool] = column.in_(select(LEADS.c.id).where(where))
        return matching

    return leads


def _finish(
    ids: Sequence[uuid.UUID | str],
    columns: dict[str, list[Any]],
    lead_ix: Ints,
    codes: Ints,
    type_names: list[str],
    ages: Ints,
) -> Chunk:
    """Per-type touch counts and returns per lead (types starting "returned" are returns)."""
    n = len(ids)
    returned = np.array([t.startswith("returned") for t in type_names], dtype=np.bool_)
    is_return = returned[codes] if len(type_names) else np.zeros(0, dtype=np.bool_)
    return_counts = np.bincount(lead_ix[is_return], minlength=n).astype(np.int64)
    counts: dict[str, Ints] = {}
    for code, kind in enumerate(type_names):
        if not returned[code]:
            counts[kind] = np.bincount(lead_ix[codes == code], minlength=n).astype(np.int64)
    return Chunk(ids, columns, lead_ix, codes, type_names, ages, counts, return_counts)


# ----------------------------------------------------------------------------- Core (SQLite)
def _epoch_us(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", column) * 1_000_000, BigInteger)
    return column


def _core_chunk(
    session: Session, tenant_id: uuid.UUID, where: Any, names: Sequence[str], as_of: datetime
) -> Chunk:
    rows = session.execute(
        select(LEADS.c.id, *(LEADS.c[c] for c in names)).where(where).order_by(LEADS.c.id)
    ).all()
    transposed = list(zip(*rows, strict=True)) if rows else [()] * (len(names) + 1)
    ids = list(transposed[0])
    columns = {name: list(transposed[i + 1]) for i, name in enumerate(names)}
    numbered = (
        select(LEADS.c.id, (func.row_number().over(order_by=LEADS.c.id) - 1).label("i"))
        .where(where)
        .subquery()
    )
    touches: Select[Any] = (
        select(numbered.c.i, TOUCH.c.type, _epoch_us(session, TOUCH.c.occurred_at))
        .join(TOUCH, TOUCH.c.lead_id == numbered.c.id)
        .where(TOUCH.c.tenant_id == tenant_id)
    )
    reason = func.coalesce(EVENTS.c.reason_code, "")
    returns: Select[Any] = (
        select(numbered.c.i, literal("returned.") + reason, _epoch_us(session, EVENTS.c.at))
        .join(EVENTS, EVENTS.c.lead_id == numbered.c.id)
        .where(EVENTS.c.tenant_id == tenant_id, EVENTS.c.action == "return")
    )
    events = session.execute(union_all(touches, returns)).all()
    lead_ix = np.fromiter((e[0] for e in events), np.int64, len(events))
    types = [e[1] if e[1] != "returned." else "returned" for e in events]
    if events and isinstance(events[0][2], datetime):
        ages = np.fromiter(((as_of - e[2]) // _MICROSECOND for e in events), np.int64, len(events))
    else:
        as_of_us = int(as_of.timestamp()) * 1_000_000 + as_of.microsecond
        ages = as_of_us - np.fromiter((e[2] for e in events), np.int64, len(events))
    codes, distinct = batch.factorize(types)
    return _finish(ids, columns, lead_ix, codes, distinct, ages)


# ----------------------------------------------------------------------------- PostgreSQL
def _compiled(session: Session, statement: Any) -> tuple[str, Any]:
    compiled = statement.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    return str(compiled), compiled.params


def _run(connection: Any, query: tuple[str, Any]) -> list[Any]:
    """All rows of a compiled query, fetched binary (bytea arrives as bytes, not hex)."""
    with connection.cursor(binary=True) as cursor:
        cursor.execute(*query)
        rows: list[Any] = cursor.fetchall()
        return rows


@dataclass(frozen=True)
class PgReads:
    """A chunk's two statements, compiled: `fetch` needs only the psycopg connection, so a
    worker thread can read the next chunk while the caller's thread scores this one."""

    leads: tuple[str, Any]
    events: tuple[str, Any]

    def fetch(self, connection: Any) -> tuple[Any, list[Any]]:
        return _run(connection, self.leads)[0], _run(connection, self.events)


def pg_reads(
    session: Session,
    tenant_id: uuid.UUID,
    where: Any,
    names: Sequence[str],
    events_of: LeadFilter,
) -> PgReads | None:
    """The PostgreSQL reads of a chunk, or None when this needs the Core path (SQLite, or a
    lead column that is not text)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    if not all(isinstance(LEADS.c[name].type, String) for name in names):
        return None
    parts: list[Any] = [
        func.string_agg(func.uuid_send(LEADS.c.id), literal(b"")),
        func.string_agg(cast(LEADS.c.id, String), literal(",")),
    ]
    for name in names:
        column = LEADS.c[name]
        parts.append(func.string_agg(func.coalesce(column, ""), literal(_SEP)))
        flag = case((column.is_(None), "1"), else_="0")
        parts.append(func.string_agg(flag, literal("")))

    def record(lead_id: Any, at: Any) -> Any:
        return func.string_agg(func.uuid_send(lead_id).op("||")(func.timestamptz_send(at)), b"")

    touches = (
        select(TOUCH.c.type, record(TOUCH.c.lead_id, TOUCH.c.occurred_at))
        .where(TOUCH.c.tenant_id == tenant_id, events_of(TOUCH.c.lead_id))
        .group_by(TOUCH.c.type)
    )
    reason = EVENTS.c.reason_code
    kind = case(
        (func.coalesce(reason, "") == "", literal("returned")), else_=literal("returned.") + reason
    )
    returns = (
        select(kind, record(EVENTS.c.lead_id, EVENTS.c.at))
        .where(
            EVENTS.c.tenant_id == tenant_id,
            EVENTS.c.action == "return",
            events_of(EVENTS.c.lead_id),
        )
        .group_by(kind)
    )
    return PgReads(
        _compiled(session, select(*parts).where(where)),
        _compiled(session, union_all(touches, returns)),
    )


def _pg_columns(
    session: Session, row: Any, where: Any, names: Sequence[str]
) -> tuple[bytes, list[str], dict[str, list[Any]]]:
    raw = row[0] or b""
    n = len(raw) // 16
    ids = row[1].split(",") if n else []
    columns: dict[str, list[Any]] = {}
    for k, name in enumerate(names):
        values: list[Any] = row[2 + 2 * k].split(_SEP) if n else []
        if len(values) != n:  # a value holds the separator: read this column as rows
            query = _compiled(session, select(cast(LEADS.c.id, String), LEADS.c[name]).where(where))
            by_id = dict(_run(session.connection().connection.driver_connection, query))
            values = [by_id.get(i) for i in ids]
        elif n:
            nulls = np.frombuffer(row[3 + 2 * k].encode(), np.uint8) == ord("1")
            for i in np.flatnonzero(nulls).tolist():
                values[i] = None
        columns[name] = values
    return raw, ids, columns


def _lead_index(ids: bytes, events: npt.NDArray[Any]) -> Ints:
    """Position of each event's lead among `ids` (16-byte UUIDs), -1 when not among them."""
    leads = np.frombuffer(ids, _ID)
    hi, lo = leads["hi"].astype(np.uint64), leads["lo"].astype(np.uint64)
    order = np.argsort(hi, kind="stable")
    ordered = hi[order]
    if len(ordered) > 1 and bool((ordered[1:] == ordered[:-1]).any()):
        index = {ids[i * 16 : i * 16 + 16]: i for i in range(len(leads))}
        pairs = np.empty(len(events), _ID)
        pairs["hi"], pairs["lo"] = events["hi"], events["lo"]
        keys = pairs.tobytes()
        found = [index.get(keys[i * 16 : i * 16 + 16], -1) for i in range(len(events))]
        return np.asarray(found, dtype=np.int64)
    if not len(ordered):
        return np.full(len(events), -1, dtype=np.int64)
    ev_hi, ev_lo = events["hi"].astype(np.uint64), events["lo"].astype(np.uint64)
    at = np.minimum(np.searchsorted(ordered, ev_hi), len(ordered) - 1)
    position = order[at].astype(np.int64)
    match = (hi[position] == ev_hi) & (lo[position] == ev_lo)
    return np.where(match, position, -1)


def pg_chunk(
    session: Session,
    fetched: tuple[Any, list[Any]],
    where: Any,
    names: Sequence[str],
    as_of: datetime,
    *,
    ordered: bool,
) -> Chunk:
    """The chunk `PgReads.fetch` read (the session is used only if a column falls back)."""
    lead_row, groups = fetched
    raw_ids, ids, columns = _pg_columns(session, lead_row, where, names)
    if ordered and len(ids) > 1:  # UUIDs order as their bytes, as PostgreSQL orders them
        keys = np.frombuffer(raw_ids, _ID)
        order = np.lexsort((keys["lo"], keys["hi"]))
        raw_ids = keys[order].tobytes()
        picks = order.tolist()
        ids = [ids[i] for i in picks]
        columns = {name: [values[i] for i in picks] for name, values in columns.items()}
    type_names: list[str] = []
    code_of: dict[str, int] = {}
    parts: list[npt.NDArray[Any]] = []
    codes: list[Ints] = []
    for name, data in groups:
        records = np.frombuffer(data, _EVENT)
        parts.append(records)
        codes.append(np.full(len(records), code_of.setdefault(name, len(code_of)), np.int64))
        if len(code_of) > len(type_names):
            type_names.append(name)
    events = np.concatenate(parts) if parts else np.zeros(0, _EVENT)
    code = np.concatenate(codes) if codes else np.zeros(0, np.int64)
    lead_ix = _lead_index(raw_ids, events)
    keep = lead_ix >= 0  # an event of a lead added after the leads were read
    as_of_us = (as_of - _PG_EPOCH) // _MICROSECOND
    ages = as_of_us - events["at"][keep].astype(np.int64)
    return _finish(ids, columns, lead_ix[keep], code[keep], type_names, ages)
