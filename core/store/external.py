"""Upsert of one canonical record by the id it has in an external system: the API mode
for external systems (and anything else that writes as a connection without a run).

It is a one-record sync batch from that connection: it goes through `upsert_batch`, so
external refs, change log, outbox, field ownership, match rules and out-of-order rules
are exactly a sync's. References may also be given by the external id they have under
the same connection (`ByExternalId`), resolved through the external refs.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import DataError, NotFoundError
from core.model.entities import EntitySpec
from core.model.tables import Connection, ExternalRef, table_of
from core.store.direct import check_references, in_schema_order, read_written
from core.store.upsert import Incoming, WriteContext, hash_values, upsert_batch
from core.store.xref import load_links

Outcome = Literal["inserted", "updated", "unchanged"]
FUTURE_SLACK = timedelta(minutes=5)
"""How far a source timestamp may run ahead of our clock (skew), no more: a timestamp
in the future would freeze the record's fields against every real update until then."""

_CONNECTION = table_of(Connection)
_XREF = table_of(ExternalRef)


@dataclass(frozen=True, slots=True)
class ByExternalId:
    """A reference given as the external id of the target under the writing connection
    (any source object); resolved to a canonical id through the external refs."""

    external_id: str


def external_field(reference: str) -> str:
    """The name callers use for a reference given by external id: account_id ->
    account_external_id."""
    return f"{reference.removesuffix('_id')}_external_id"


# ---------------------------------------------------------------------------- upsert
def upsert_external(
    session: Session,
    tenant_id: uuid.UUID,
    spec: EntitySpec,
    *,
    connection_id: uuid.UUID,
    external_id: str,
    values: Mapping[str, Any],
    object_: str | None = None,
    source_ts: datetime | None = None,
    owns: Sequence[str] = (),
    match: Sequence[str] = (),
    now: datetime | None = None,
) -> tuple[dict[str, Any], Outcome]:
    """Upsert one record by the external id it has in the connection's system.

    `values` may be partial (fields left out are kept); fields required to create are
    needed only when the external id is new and no match rule links it. `object_` is
    the source object the id belongs to (default: the entity name), so a system that is
    also synced can address the same refs as its mapping (e.g. `BusinessPartner`).
    `source_ts` is when the source's version was made; without it the write counts as of
    now (arrival order), like an API edit. The content hash covers what the caller sent,
    so repeating a request is `unchanged` and writes nothing.
    """
    now = now or utcnow()
    object_ = object_ or spec.name
    _check_connection(session, tenant_id, connection_id)
    _check_rules(spec, owns, match)
    if source_ts is not None and source_ts > now + FUTURE_SLACK:
        raise DataError(
            f"source_ts {source_ts.isoformat()} is in the future",
            field="source_ts",
            code="future_source_ts",
            hint="send the time the source record was last changed, with its time zone",
        )
    values = in_schema_order(spec, values)
    for name in sorted(spec.required):
        if name in values and values[name] is None:
            raise DataError(
                f"{name}: a {spec.name} cannot be without it",
                field=name,
                code="required",
                hint=f"send a value for {name}, or leave it out to keep the current one",
            )
    digest = hash_values(values, source_ts)
    values = _resolve_external(session, tenant_id, connection_id, spec, values)
    check_references(session, tenant_id, spec, values)
    item = Incoming.of(spec, 0, external_id, values, source_ts or now, digest)
    outcome = upsert_batch(
        session,
        WriteContext(tenant_id, connection_id, None, now),
        spec=spec,
        object_=object_,
        items=[item],
        owns=frozenset(owns),
        match=tuple(match),
    )
    if outcome.rejected:
        error = outcome.rejected[0][1]
        if error.code == "required":
            raise DataError(
                f"{error.field}: required to create a {spec.name} "
                f"(external id {external_id!r} is new)",
                field=error.field,
                code="required",
                hint=f"send {error.field} when an external id is written the first time",
            )
        raise error
    link = load_links(session, connection_id, spec.name, object_, [external_id])[external_id]
    kind: Outcome = (
        "inserted" if outcome.inserted else "updated" if outcome.updated else "unchanged"
    )
    return read_written(session, tenant_id, spec, link.entity_id), kind


def _check_connection(session: Session, tenant_id: uuid.UUID, connection_id: uuid.UUID) -> None:
    found = session.scalar(
        select(_CONNECTION.c.id).where(
            _CONNECTION.c.tenant_id == tenant_id, _CONNECTION.c.id == connection_id
        )
    )
    if found is None:
        raise NotFoundError(
            "no such connection in this tenant",
            hint="use the id of one of your connections (list them with GET /v1/connections)",
        )


def _check_rules(spec: EntitySpec, owns: Sequence[str], match: Sequence[str]) -> None:
    for name in owns:
        if name not in spec.fields:
            raise DataError(
                f"owns: {spec.name} has no field {name!r}",
                field="owns",
                code="unknown_field",
                hint=f"own some of: {', '.join(spec.fields)}",
            )
    for rule in match:
        if rule not in spec.match_rules:
            known = ", ".join(spec.match_rules) or "none"
            raise DataError(
                f"match: {spec.name} has no match rule {rule!r}",
                field="match",
                code="unknown_rule",
                hint=f"use some of: {known}",
            )


@dataclass(frozen=True, slots=True)
class _Wanted:
    target: str
    path: str
    """Where the reference sits: `account_id`, `lines.0.product_id`."""
    field: str
    reference: ByExternalId

    @property
    def shown(self) -> str:
        """The name the caller used: `account_external_id`, `lines.0.product_external_id`."""
        return self.path.removesuffix(self.field) + external_field(self.field)


def _resolve_external(
    session: Session,
    tenant_id: uuid.UUID,
    connection_id: uuid.UUID,
    spec: EntitySpec,
    values: dict[str, Any],
) -> dict[str, Any]:
    """Replace `ByExternalId` references (also in child lines) by canonical ids."""
    wanted = _wanted_references(spec, values)
    if not wanted:
        return values
    found: dict[tuple[str, str], set[uuid.UUID]] = {}
    for target in sorted({w.target for w in wanted}):
        external_ids = sorted({w.reference.external_id for w in wanted if w.target == target})
        rows = session.execute(
            select(_XREF.c.external_id, _XREF.c.entity_id).where(
                _XREF.c.tenant_id == tenant_id,
                _XREF.c.connection_id == connection_id,
                _XREF.c.entity == target,
                _XREF.c.external_id.in_(external_ids),
            )
        )
        for external_id, entity_id in rows:
            found.setdefault((target, external_id), set()).add(entity_id)
    resolved = {
        w.path: _only(w, found.get((w.target, w.reference.external_id), set())) for w in wanted
    }
    out = {k: resolved[k] if isinstance(v, ByExternalId) else v for k, v in values.items()}
    for child_field in spec.children:
        if values.get(child_field):
            out[child_field] = [
                {
                    k: resolved[f"{child_field}.{i}.{k}"] if isinstance(v, ByExternalId) else v
                    for k, v in line.items()
                }
                for i, line in enumerate(values[child_field])
            ]
    return out


def _wanted_references(spec: EntitySpec, values: Mapping[str, Any]) -> list[_Wanted]:
    wanted = [
        _Wanted(_target(spec, name), name, name, value)
        for name, value in values.items()
        if isinstance(value, ByExternalId)
    ]
    for child_field, child in spec.children.items():
        for index, line in enumerate(values.get(child_field) or ()):
            wanted += [
                _Wanted(_target(child, name), f"{child_field}.{index}.{name}", name, value)
                for name, value in line.items()
                if isinstance(value, ByExternalId)
            ]
    return wanted


def _only(wanted: _Wanted, ids: set[uuid.UUID]) -> uuid.UUID:
    external_id = wanted.reference.external_id
    if not ids:
        raise DataError(
            f"{wanted.shown}: no {wanted.target} with external id {external_id!r} "
            "from this connection",
            field=wanted.shown,
            code="unresolved_reference",
            hint=f"write the {wanted.target} first (upsert it by its external id), or send "
            f"{wanted.field} with its canonical id",
        )
    if len(ids) > 1:
        raise DataError(
            f"{wanted.shown}: external id {external_id!r} names several {wanted.target} "
            "records of this connection (under different source objects)",
            field=wanted.shown,
            code="ambiguous_reference",
            hint=f"send {wanted.field} with the canonical id instead",
        )
    return next(iter(ids))


def _target(spec: EntitySpec, name: str) -> str:
    target = spec.references.get(name)
    if target is None:
        raise DataError(
            f"{name} is not a reference of {spec.name}; it cannot be given by external id",
            field=external_field(name),
            code="not_a_reference",
            hint=f"references of {spec.name}: {', '.join(spec.references) or 'none'}",
        )
    return target
