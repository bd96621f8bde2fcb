"""Merging a duplicate lead into a survivor, keeping the merged lead's provenance.

What a merge does, in the caller's transaction:

1. the survivor takes the merged lead's values for the fields it has empty; `prefer`
   decides per field instead (`merged`: take the merged value when it has one;
   `survivor`: keep the survivor's, even empty). Empty fields owned by a connection are
   not filled by default (its next sync decides them); an explicit `merged` for one is
   refused by the store like any edit of an owned field;
2. the merged lead's touchpoints move to the survivor (behaviour scoring, attribution);
3. its external refs point at the survivor, so a later sync of either external id
   updates the survivor instead of re-creating the duplicate;
4. a `lead_merge` row keeps the merged lead whole (record with its external refs, pool
   assignment, score, ownership history, the touchpoints moved), the fields taken and
   the match score with its reasons;
5. its ownership ends (`merge` in the audit), then the row is deleted with a `delete`
   change (core.store.direct.delete_record).

Merging a lead into itself, or a converted lead either way, is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ConflictError, DataError, NotFoundError
from core.ids import new_id
from core.model.entities import entity
from core.model.tables import Lead, LeadMerge, LeadScore, Touchpoint, table_of
from core.sales.dedup import DedupRecord, MatchReason, match_score
from core.sales.leads import ownership
from core.sales.leads.ownership import Actor
from core.store.bulk import bulk_writer
from core.store.direct import delete_record, patch_record
from core.store.records import read_records
from core.store.xref import repoint

Side = Literal["survivor", "merged"]
LEAD = table_of(Lead)
MERGE = table_of(LeadMerge)
SCORE = table_of(LeadScore)
TOUCHPOINT = table_of(Touchpoint)
_SIDES = ("survivor", "merged")
NO_PREFERENCE: Mapping[str, Side] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What a merge did. `survivor` is the survivor as `read_record` shows it afterwards;
    `fields_taken` maps each field the survivor took to the value it took."""

    merge_id: uuid.UUID
    survivor: dict[str, Any]
    merged_id: uuid.UUID
    fields_taken: dict[str, Any]
    touchpoints_moved: int
    external_refs_moved: int
    score: int
    reasons: tuple[MatchReason, ...]
    merged_at: datetime


def merge_leads(
    session: Session,
    tenant_id: uuid.UUID,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    actor: Actor,
    *,
    prefer: Mapping[str, Side] = NO_PREFERENCE,
    now: datetime | None = None,
) -> MergeResult:
    """Merge lead `merged_id` into lead `survivor_id` (steps in the module docstring)."""
    now = now or utcnow()
    spec = entity("lead")
    _check_prefer(spec.fields, prefer)
    if survivor_id == merged_id:
        raise ConflictError(
            "a lead cannot be merged into itself",
            hint="pick the duplicate to merge away as merged_id, and another lead as survivor",
            field="merged_id",
        )
    bulk_writer(session).lock_tenant(str(tenant_id))
    found = read_records(session, tenant_id, spec, [survivor_id, merged_id])
    for role, lead_id in (("survivor_id", survivor_id), ("merged_id", merged_id)):
        if lead_id not in found:
            raise NotFoundError(
                f"{role}: no lead {lead_id} in this tenant",
                hint="both leads must belong to your tenant; list leads: GET /v1/leads",
                field=role,
            )
        if found[lead_id]["status"] == "converted":
            raise ConflictError(
                f"{role}: lead {lead_id} is converted; a converted lead is not merged",
                hint="merge duplicates before converting; the conversion keeps the lead",
                field=role,
            )
    survivor, merged = found[survivor_id], found[merged_id]
    score, reasons = match_score(_dedup(survivor), _dedup(merged))
    owned = set(
        session.scalar(
            select(LEAD.c.field_owners).where(
                LEAD.c.tenant_id == tenant_id, LEAD.c.id == survivor_id
            )
        )
        or {}
    )
    taken = _fields_to_take(spec.fields, survivor, merged, prefer, owned)
    snapshot = _snapshot(session, tenant_id, merged)
    if taken:
        patch_record(session, tenant_id, spec, survivor_id, taken, now=now)
    moved = _move_touchpoints(session, tenant_id, merged_id, survivor_id)
    snapshot["touchpoint_ids"] = [str(i) for i in moved]
    refs = repoint(session, tenant_id, "lead", merged_id, survivor_id, now)
    ownership.close(
        session,
        tenant_id,
        merged_id,
        actor,
        action="merge",
        note=f"merged into {survivor_id}",
        now=now,
    )
    snapshot["ownership_history"] = [
        event.model_dump(mode="json")
        for event in ownership.history(session, tenant_id, merged_id, limit=10_000)
    ]
    merge_id = new_id()
    session.execute(
        insert(MERGE).values(
            id=merge_id,
            tenant_id=tenant_id,
            survivor_id=survivor_id,
            merged_id=merged_id,
            snapshot=snapshot,
            fields_taken=taken,
            score=score,
            reasons=[_reason(r) for r in reasons],
            merged_by=actor.id,
            merged_at=now,
        )
    )
    delete_record(session, tenant_id, spec, merged_id, now=now)
    survivor = read_records(session, tenant_id, spec, [survivor_id])[survivor_id]
    return MergeResult(merge_id, survivor, merged_id, taken, len(moved), refs, score, reasons, now)


def _check_prefer(fields: tuple[str, ...], prefer: Mapping[str, Any]) -> None:
    for name, side in prefer.items():
        if name not in fields:
            raise DataError(
                f"prefer.{name}: a lead has no field {name!r}",
                field=f"prefer.{name}",
                code="unknown_field",
                hint=f"fields of lead: {', '.join(fields)}",
            )
        if side not in _SIDES:
            raise DataError(
                f"prefer.{name}: {side!r} is neither 'survivor' nor 'merged'",
                field=f"prefer.{name}",
                code="invalid",
                hint="say which lead's value to keep: 'survivor' or 'merged'",
            )


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _fields_to_take(
    fields: tuple[str, ...],
    survivor: Mapping[str, Any],
    merged: Mapping[str, Any],
    prefer: Mapping[str, Side],
    owned: set[str],
) -> dict[str, Any]:
    taken: dict[str, Any] = {}
    for name in fields:
        theirs = merged.get(name)
        if _empty(theirs) or theirs == survivor.get(name):
            continue
        side = prefer.get(name)
        if side == "merged" or (side is None and _empty(survivor.get(name)) and name not in owned):
            taken[name] = theirs
    return taken


def _dedup(record: Mapping[str, Any]) -> DedupRecord:
    emails = tuple(v for v in (record.get("email"),) if v)
    phones = tuple(v for v in (record.get("phone"), record.get("mobile")) if v)
    return DedupRecord(
        str(record["id"]), "lead", record.get("company"), record.get("uscc"), emails, phones
    )


def _reason(reason: MatchReason) -> dict[str, Any]:
    return {"signal": reason.signal, "value": reason.value, "points": reason.points}


def _snapshot(session: Session, tenant_id: uuid.UUID, merged: Mapping[str, Any]) -> dict[str, Any]:
    """The merged lead as it was: the record with its external refs, its pool assignment
    and its latest score (the ownership history is added after the merge event)."""
    assignment = ownership.get_assignment(session, tenant_id, merged["id"])
    score = session.execute(
        select(SCORE).where(SCORE.c.tenant_id == tenant_id, SCORE.c.lead_id == merged["id"])
    ).first()
    return {
        "record": dict(merged),
        "assignment": assignment.model_dump(mode="json"),
        "score": dict(score._mapping) if score is not None else None,
    }


def _move_touchpoints(
    session: Session, tenant_id: uuid.UUID, from_lead: uuid.UUID, to_lead: uuid.UUID
) -> list[uuid.UUID]:
    where = (TOUCHPOINT.c.tenant_id == tenant_id, TOUCHPOINT.c.lead_id == from_lead)
    ids = list(session.scalars(select(TOUCHPOINT.c.id).where(*where).order_by(TOUCHPOINT.c.id)))
    if ids:
        session.execute(update(TOUCHPOINT).where(*where).values(lead_id=to_lead))
    return ids
