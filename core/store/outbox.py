"""The outbox: changes to send to webhook subscriptions, written with the change itself.

A writer takes the tenant lock, notes the change log's `watermark`, appends its changes
and calls `enqueue_since`: one INSERT ... SELECT fans the new change rows out to the
tenant's enabled subscriptions in the same transaction, so a change and its messages
commit or vanish together. A tenant without subscriptions pays one cheap query per batch.

The dispatcher claims due messages in a short transaction (pushing their next attempt
forward by a lease, so a crashed dispatcher's messages come back), delivers them with
no transaction open, and records the results in another short transaction. Messages that
exhaust their retries stay `dead` (dead letters) until replayed; the webhook-id is derived
from the row id, so it is the same on every retry and replay.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ConflictError, NotFoundError
from core.model.tables import OutboxMessage, RecordChange, Subscription, table_of
from core.model.tables.base import UtcDateTime

_OUT = table_of(OutboxMessage)
_CHANGES = table_of(RecordChange)
_SUBS = table_of(Subscription)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
LEASE = timedelta(minutes=5)
"""How long a claimed message is hidden from other dispatchers while it is delivered."""
EVENT_TYPES = {"insert": "created", "update": "updated", "delete": "deleted"}


# ---------------------------------------------------------------------------- enqueue
def watermark(session: Session, tenant_id: uuid.UUID) -> int | None:
    """None when the tenant has no enabled subscription, else the change log's newest seq.

    Call it after taking the tenant lock and before appending changes: the tenant's rows
    above it are then this transaction's own (writers of a tenant serialise on the lock;
    on SQLite the whole database is locked). One query; max(seq) reads the primary key's
    last entry.
    """
    wanted = exists().where(_SUBS.c.tenant_id == tenant_id, _SUBS.c.enabled == true())
    newest = select(func.coalesce(func.max(_CHANGES.c.seq), 0)).scalar_subquery()
    value = session.execute(select(case((wanted, newest), else_=None))).scalar()
    return None if value is None else int(value)


def enqueue_since(
    session: Session, tenant_id: uuid.UUID, since: int, *, now: datetime | None = None
) -> int:
    """Fan the tenant's changes after `since` out to its enabled subscriptions; return the
    number of messages written.

    A subscription gets a change when it wants the change's entity (no list: all), and
    never when the change came from the subscription's own connection (loop prevention).
    The entity and connection conditions are built per subscription (a tenant has few),
    so one portable INSERT ... SELECT does the whole batch.
    """
    subscriptions = session.execute(
        select(_SUBS.c.id, _SUBS.c.entities, _SUBS.c.connection_id).where(
            _SUBS.c.tenant_id == tenant_id, _SUBS.c.enabled == true()
        )
    ).all()
    if not subscriptions:
        return 0
    change, sub = _CHANGES, _SUBS
    wants: list[ColumnElement[bool]] = []
    for sub_id, entities, connection_id in subscriptions:
        conditions: list[ColumnElement[bool]] = [sub.c.id == sub_id]
        if entities is not None:
            conditions.append(change.c.entity.in_(list(entities)))
        if connection_id is not None:
            conditions.append(
                or_(change.c.connection_id.is_(None), change.c.connection_id != connection_id)
            )
        wants.append(and_(*conditions))
    at = literal(now or utcnow(), UtcDateTime())
    rows = (
        select(
            change.c.tenant_id,
            sub.c.id,
            change.c.seq,
            literal(PENDING),
            literal(0),
            at,
            at,
        )
        .select_from(change.join(sub, sub.c.tenant_id == change.c.tenant_id))
        .where(
            change.c.tenant_id == tenant_id,
            change.c.seq > since,
            sub.c.enabled == true(),
            or_(*wants),
        )
        .order_by(change.c.seq, sub.c.id)
    )
    columns = [
        "tenant_id",
        "subscription_id",
        "change_seq",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    statement = insert(_OUT).from_select(columns, rows)
    result = session.execute(statement.execution_options(preserve_rowcount=True))
    return int(cast(CursorResult[Any], result).rowcount)


# ---------------------------------------------------------------------------- payloads
@dataclass(frozen=True, slots=True)
class Change:
    """The change-log row a message announces."""

    seq: int
    entity: str
    entity_id: uuid.UUID
    op: str
    changes: dict[str, Any]
    connection_id: uuid.UUID | None
    occurred_at: datetime


def webhook_id(message_id: int) -> str:
    """Standard Webhooks `webhook-id`: stable across retries and replays, no '.'."""
    return f"msg_{message_id}"


def event_payload(change: Change) -> dict[str, Any]:
    """The Standard Webhooks event: a thin payload (the receiver fetches the record)."""
    kind = EVENT_TYPES.get(change.op, change.op)
    return {
        "type": f"{change.entity}.{kind}",
        "timestamp": _iso(change.occurred_at),
        "data": {
            "entity": change.entity,
            "id": str(change.entity_id),
            "op": change.op,
            "changes": change.changes,
            "seq": change.seq,
            "connection_id": None if change.connection_id is None else str(change.connection_id),
        },
    }


def event_body(change: Change) -> bytes:
    return orjson.dumps(event_payload(change), default=str)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------- dispatch
@dataclass(frozen=True, slots=True)
class Due:
    """A claimed message with everything its delivery needs."""

    id: int
    tenant_id: uuid.UUID
    subscription_id: uuid.UUID
    attempts: int
    """Attempts made before this one."""
    url: str
    secret: bytes
    """The subscription's encrypted signing secret."""
    change: Change | None
    """None when the change-log row is gone (the message cannot be built)."""

    @property
    def webhook_id(self) -> str:
        return webhook_id(self.id)


@dataclass(frozen=True, slots=True)
class Failure:
    id: int
    error: str
    status: int | None = None
    retry_at: datetime | None = None
    """When to try again; None makes the message a dead letter."""


def _change_columns() -> list[Any]:
    c = _CHANGES.c
    return [c.seq, c.entity, c.entity_id, c.op, c.changes, c.connection_id, c.occurred_at]


def _change_of(row: Sequence[Any]) -> Change | None:
    seq, entity, entity_id, op, changes, connection_id, occurred_at = row
    if seq is None:
        return None
    return Change(seq, entity, entity_id, op, changes or {}, connection_id, occurred_at)


def claim_due(
    session: Session, *, now: datetime, limit: int, lease: timedelta = LEASE
) -> list[Due]:
    """Take up to `limit` due messages of enabled subscriptions, oldest due first, and hide
    them for `lease`. All tenants: this is the dispatcher's global view.

    PostgreSQL skips rows another dispatcher has locked; SQLite's transaction already
    holds the database lock. Commit right after, before any delivery.
    """
    o, sub = _OUT, _SUBS
    query = (
        select(o.c.id, o.c.tenant_id, o.c.subscription_id, o.c.attempts, sub.c.url, sub.c.secret)
        .add_columns(*_change_columns())
        .select_from(
            o.join(sub, sub.c.id == o.c.subscription_id).outerjoin(
                _CHANGES, _CHANGES.c.seq == o.c.change_seq
            )
        )
        .where(o.c.status == PENDING, o.c.next_attempt_at <= now, sub.c.enabled == true())
        .order_by(o.c.next_attempt_at, o.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=o)
    claimed = [
        Due(row[0], row[1], row[2], row[3], row[4], row[5], _change_of(row[6:]))
        for row in session.execute(query)
    ]
    if claimed:
        session.execute(
            update(o).where(o.c.id.in_([d.id for d in claimed])).values(next_attempt_at=now + lease)
        )
    return claimed


def mark_delivered(
    session: Session, delivered: Sequence[tuple[int, int]], *, now: datetime
) -> None:
    """Record successful attempts: (message id, HTTP status) pairs."""
    if not delivered:
        return
    statement = (
        update(_OUT)
        .where(_OUT.c.id == bindparam("m_id"))
        .values(
            status=DELIVERED,
            attempts=_OUT.c.attempts + 1,
            last_status=bindparam("m_status"),
            last_error=None,
            delivered_at=now,
            next_attempt_at=now,
        )
    )
    session.connection().execute(
        statement, [{"m_id": mid, "m_status": status} for mid, status in delivered]
    )


def mark_failed(session: Session, failures: Sequence[Failure], *, now: datetime) -> None:
    """Record failed attempts: retry at `retry_at`, or dead-letter (then `next_attempt_at`
    keeps the time the message died). A message another dispatcher delivered meanwhile
    (after this one's lease ran out) stays delivered."""
    if not failures:
        return
    statement = (
        update(_OUT)
        .where(_OUT.c.id == bindparam("m_id"), _OUT.c.status == PENDING)
        .values(
            status=bindparam("m_state"),
            attempts=_OUT.c.attempts + 1,
            last_status=bindparam("m_status"),
            last_error=bindparam("m_error"),
            next_attempt_at=bindparam("m_next", type_=UtcDateTime()),
        )
    )
    session.connection().execute(
        statement,
        [
            {
                "m_id": f.id,
                "m_state": PENDING if f.retry_at is not None else DEAD,
                "m_status": f.status,
                "m_error": f.error[:2000],
                "m_next": f.retry_at or now,
            }
            for f in failures
        ],
    )


def release(session: Session, ids: Sequence[int], *, at: datetime) -> None:
    """Give claimed messages back unattempted (no attempt counted), due at `at`."""
    if ids:
        session.execute(
            update(_OUT)
            .where(_OUT.c.id.in_(list(ids)), _OUT.c.status == PENDING)
            .values(next_attempt_at=at)
        )


def defer_subscription(session: Session, subscription_id: uuid.UUID, *, until: datetime) -> None:
    """Throttle: no pending message of the subscription is due before `until`."""
    session.execute(
        update(_OUT)
        .where(
            _OUT.c.subscription_id == subscription_id,
            _OUT.c.status == PENDING,
            _OUT.c.next_attempt_at < until,
        )
        .values(next_attempt_at=until)
    )


def disable_subscription(
    session: Session, subscription_id: uuid.UUID, *, reason: str, now: datetime
) -> int:
    """Stop deliveries to an endpoint that is gone or failing for too long; its pending
    messages become dead letters (replayable once it is enabled again). Returns how many."""
    session.execute(
        update(_SUBS)
        .where(_SUBS.c.id == subscription_id)
        .values(enabled=False, disabled_reason=reason[:255], updated_at=now)
    )
    result = session.execute(
        update(_OUT)
        .where(_OUT.c.subscription_id == subscription_id, _OUT.c.status == PENDING)
        .values(status=DEAD, last_error=f"subscription disabled: {reason}", next_attempt_at=now)
    )
    return int(cast(CursorResult[Any], result).rowcount)


def note_health(
    session: Session,
    *,
    healthy: Iterable[uuid.UUID],
    failing: Iterable[uuid.UUID],
    now: datetime,
) -> dict[uuid.UUID, datetime]:
    """A success clears a subscription's `failing_since`; a failure sets it if unset.
    Returns the failing subscriptions with the instant their failures began."""
    ok = sorted(set(healthy))
    bad = sorted(set(failing) - set(ok))
    if ok:
        session.execute(
            update(_SUBS)
            .where(_SUBS.c.id.in_(ok), _SUBS.c.failing_since.is_not(None))
            .values(failing_since=None)
        )
    if not bad:
        return {}
    session.execute(
        update(_SUBS)
        .where(_SUBS.c.id.in_(bad), _SUBS.c.failing_since.is_(None))
        .values(failing_since=now)
    )
    rows = session.execute(select(_SUBS.c.id, _SUBS.c.failing_since).where(_SUBS.c.id.in_(bad)))
    return {sub_id: since for sub_id, since in rows if since is not None}


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    dead: int
    oldest_due_at: datetime | None
    """The earliest `next_attempt_at` of a pending message (lag = now - this)."""


def backlog(session: Session) -> Backlog:
    """Outbox size for metrics: pending and dead messages, and the oldest pending one."""
    counts: dict[str, int] = dict(
        session.execute(
            select(_OUT.c.status, func.count())
            .where(_OUT.c.status.in_([PENDING, DEAD]))
            .group_by(_OUT.c.status)
        ).all()
    )
    oldest = session.scalar(
        select(func.min(_OUT.c.next_attempt_at)).where(_OUT.c.status == PENDING)
    )
    return Backlog(int(counts.get(PENDING, 0)), int(counts.get(DEAD, 0)), oldest)


# ---------------------------------------------------------------------------- dead letters
@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    subscription_id: uuid.UUID
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    dead_at: datetime
    change: Change | None

    @property
    def webhook_id(self) -> str:
        return webhook_id(self.id)

    @property
    def payload(self) -> dict[str, Any] | None:
        return None if self.change is None else event_payload(self.change)


def _dead_letter_query(tenant_id: uuid.UUID) -> Select[Any]:
    o = _OUT
    return (
        select(
            o.c.id,
            o.c.subscription_id,
            o.c.attempts,
            o.c.last_status,
            o.c.last_error,
            o.c.created_at,
            o.c.next_attempt_at,
        )
        .add_columns(*_change_columns())
        .select_from(o.outerjoin(_CHANGES, _CHANGES.c.seq == o.c.change_seq))
        .where(o.c.tenant_id == tenant_id, o.c.status == DEAD)
    )


def _dead_letter(row: Sequence[Any]) -> DeadLetter:
    mid, sub_id, attempts, last_status, last_error, created_at, dead_at = row[:7]
    return DeadLetter(
        mid, sub_id, attempts, last_status, last_error, created_at, dead_at, _change_of(row[7:])
    )


def dead_letters(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    cursor: int | None = None,
    limit: int = 50,
    subscription_id: uuid.UUID | None = None,
) -> list[DeadLetter]:
    """The tenant's dead letters, oldest first; pass the last id seen as `cursor`."""
    query = _dead_letter_query(tenant_id).order_by(_OUT.c.id).limit(limit)
    if cursor is not None:
        query = query.where(_OUT.c.id > cursor)
    if subscription_id is not None:
        query = query.where(_OUT.c.subscription_id == subscription_id)
    return [_dead_letter(row) for row in session.execute(query)]


def get_dead_letter(session: Session, tenant_id: uuid.UUID, message_id: int) -> DeadLetter:
    row = session.execute(_dead_letter_query(tenant_id).where(_OUT.c.id == message_id)).first()
    if row is None:
        raise NotFoundError(
            f"dead letter {message_id} not found",
            hint="list the dead letters to see their ids",
        )
    return _dead_letter(row)


def replay(
    session: Session, tenant_id: uuid.UUID, ids: Sequence[int], *, now: datetime | None = None
) -> int:
    """Send dead letters again from the first attempt, under the same webhook-id.

    All or nothing: an id that is not a dead letter of this tenant is NotFound, one whose
    subscription is disabled is a Conflict.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return 0
    rows = session.execute(
        select(_OUT.c.id, _SUBS.c.enabled, _SUBS.c.name)
        .select_from(_OUT.join(_SUBS, _SUBS.c.id == _OUT.c.subscription_id))
        .where(_OUT.c.tenant_id == tenant_id, _OUT.c.status == DEAD, _OUT.c.id.in_(wanted))
    ).all()
    missing = sorted(set(wanted) - {row[0] for row in rows})
    if missing:
        shown = ", ".join(map(str, missing[:10]))
        raise NotFoundError(
            f"dead letter(s) {shown} not found", hint="list the dead letters to see their ids"
        )
    disabled = sorted({row[2] for row in rows if not row[1]})
    if disabled:
        raise ConflictError(
            f"subscription(s) {', '.join(disabled)} are disabled",
            hint="enable the subscription, then replay its dead letters",
        )
    session.execute(
        update(_OUT)
        .where(_OUT.c.tenant_id == tenant_id, _OUT.c.id.in_(wanted))
        .values(
            status=PENDING,
            attempts=0,
            next_attempt_at=now or utcnow(),
            last_error=None,
            last_status=None,
            delivered_at=None,
        )
    )
    return len(wanted)
