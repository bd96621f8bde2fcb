"""Routing over the store: new leads through the tenant's ladder, once each.

`route` evaluates leads that have no routing verdict yet (the `lead_routing` row is the
audit and makes re-runs idempotent: a lead is routed once unless someone asks again with
`reroute`), places them through the ownership service and saves the round-robin
positions. `simulate` runs the same pure code on the same inputs and writes nothing, so
"what would the next run do" is what the next run does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import ConfigError
from core.model.tables import LeadRouting, table_of
from core.sales import documents, routing
from core.sales.leads import ownership, pools
from core.sales.leads.claim_rules import still_open
from core.store.bulk import bulk_writer

ROUTING = table_of(LeadRouting)
ASSIGNMENT = pools.ASSIGNMENT
LEAD = ownership.LEAD
ATTRIBUTES = (
    "company",
    "title",
    "industry",
    "source",
    "status",
    "country",
    "province",
    "city",
    "email",
    "mobile",
    "phone",
    "uscc",
)


@dataclass(frozen=True, slots=True)
class RoutingReport:
    ladder_version: int
    outcomes: tuple[routing.RoutingOutcome, ...]
    catch_all: int
    by_rule: dict[str, int] = field(default_factory=dict)


def _pending(
    session: Session, tenant_id: uuid.UUID, lead_ids: Sequence[uuid.UUID] | None, limit: int
) -> list[routing.LeadFacts]:
    query = (
        select(LEAD.c.id, *(LEAD.c[a] for a in ATTRIBUTES))
        .outerjoin(ROUTING, ROUTING.c.lead_id == LEAD.c.id)
        .where(
            LEAD.c.tenant_id == tenant_id,
            ROUTING.c.lead_id.is_(None),
            still_open(),
        )
        .order_by(LEAD.c.created_at, LEAD.c.id)
        .limit(limit)
    )
    if lead_ids is not None:
        query = query.where(LEAD.c.id.in_(lead_ids))
    else:  # leads someone placed already (deposit, claim, an owner from sync) keep their place
        placed = select(ASSIGNMENT.c.lead_id).where(ASSIGNMENT.c.tenant_id == tenant_id)
        query = query.where(LEAD.c.id.not_in(placed))
    return [
        routing.LeadFacts(str(r.id), {a: getattr(r, a) for a in ATTRIBUTES})
        for r in session.execute(query)
    ]


def _state(session: Session, tenant_id: uuid.UUID) -> routing.RoutingState:
    saved, _v = documents.get(session, tenant_id, "routing_state")
    held = session.execute(
        select(pools.ASSIGNMENT.c.owner_id, func.count())
        .where(pools.ASSIGNMENT.c.tenant_id == tenant_id, pools.ASSIGNMENT.c.owner_id.is_not(None))
        .group_by(pools.ASSIGNMENT.c.owner_id)
    )
    return routing.RoutingState(
        last_assigned=saved.last_assigned, open_leads={str(u): n for u, n in held}
    )


def _run(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    lead_ids: Sequence[uuid.UUID] | None,
    limit: int,
    now: datetime,
    ladder: routing.RoutingLadder | None,
    teams: Sequence[routing.Team] | None,
) -> tuple[routing.RoutingRun, int]:
    version = -1
    if ladder is None:
        ladder, version = documents.get(session, tenant_id, "routing")
    if teams is None:
        teams = documents.get(session, tenant_id, "teams")[0].root
    facts = _pending(session, tenant_id, lead_ids, limit)
    teams = _with_user_status(session, tenant_id, teams)
    run = routing.simulate(ladder, facts, _state(session, tenant_id), teams=teams, on=now.date())
    return run, version


def _with_user_status(
    session: Session, tenant_id: uuid.UUID, teams: Sequence[routing.Team]
) -> list[routing.Team]:
    """Teams whose members are inactive when their user is (deactivating a user in the
    hub stops routing to them without editing every team), or unknown to the tenant."""
    ids = {m.user_id for t in teams for m in t.members}
    known = {
        str(u): active
        for u, active in session.execute(
            select(pools.USER.c.id, pools.USER.c.active).where(
                pools.USER.c.tenant_id == tenant_id,
                pools.USER.c.id.in_([_uuid_or_none(i) for i in ids if _uuid_or_none(i)]),
            )
        )
    }
    return [
        t.model_copy(
            update={
                "members": tuple(
                    m if known.get(m.user_id, False) else m.model_copy(update={"active": False})
                    for m in t.members
                )
            }
        )
        for t in teams
    ]


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _report(run: routing.RoutingRun, ladder: routing.RoutingLadder, version: int) -> RoutingReport:
    by_rule: dict[str, int] = {}
    for out in run.outcomes:
        by_rule[out.rule] = by_rule.get(out.rule, 0) + 1
    return RoutingReport(version, run.outcomes, by_rule.get(ladder.catch_all.name, 0), by_rule)


def simulate(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    lead_ids: Sequence[uuid.UUID] | None = None,
    limit: int = 100,
    now: datetime | None = None,
    ladder: routing.RoutingLadder | None = None,
    teams: Sequence[routing.Team] | None = None,
) -> RoutingReport:
    """What `route` would do now (optionally with a draft ladder or teams); writes nothing."""
    run, version = _run(
        session,
        tenant_id,
        lead_ids=lead_ids,
        limit=limit,
        now=now or utcnow(),
        ladder=ladder,
        teams=teams,
    )
    used = ladder or documents.get(session, tenant_id, "routing")[0]
    return _report(run, used, version)


def _pool_ids(session: Session, tenant_id: uuid.UUID, names: set[str]) -> dict[str, uuid.UUID]:
    """Pool ids by name; the catch-all's pool is created on first use (a fresh tenant
    routes to it from day one), any other missing pool is a configuration error."""
    catch_all = pools.default_pool(session, tenant_id)
    found: dict[str, uuid.UUID] = {catch_all.name: catch_all.id}
    for name in sorted(names - found.keys()):
        pool = pools.pool_by_name(session, tenant_id, name)
        if pool is None:
            raise ConfigError(
                f"routing names pool {name!r}, which does not exist",
                hint="create the pool or change the routing ladder or the team's overflow_pool",
            )
        found[name] = pool.id
    return found


def route(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    lead_ids: Sequence[uuid.UUID] | None = None,
    limit: int = 1000,
    now: datetime | None = None,
) -> RoutingReport:
    """Route leads without a verdict: place them, audit each, save round-robin positions.

    A lead routed to a team's member belongs to the team's overflow pool (where it goes
    back when recycled).
    """
    now = now or utcnow()
    ownership._lock(session, tenant_id)
    ladder, version = documents.get(session, tenant_id, "routing")
    teams = documents.get(session, tenant_id, "teams")[0].root
    run, _ = _run(
        session, tenant_id, lead_ids=lead_ids, limit=limit, now=now, ladder=ladder, teams=teams
    )
    if not run.outcomes:
        return _report(run, ladder, version)
    overflow = {t.id: t.overflow_pool for t in teams}
    pool_names = {o.pool or overflow[o.target.id] for o in run.outcomes}
    pool_ids = _pool_ids(session, tenant_id, pool_names)
    placements: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]] = []
    rows: list[tuple[Any, ...]] = []
    for out in run.outcomes:
        lead_id = uuid.UUID(out.lead_id)
        pool_id = pool_ids[out.pool or overflow[out.target.id]]
        owner = uuid.UUID(out.owner) if out.owner else None
        placements.append((lead_id, pool_id, owner))
        rows.append(
            (
                lead_id,
                tenant_id,
                out.rule,
                out.target.kind,
                out.target.id,
                out.code,
                owner,
                pool_id,
                out.reason[:500],
                version,
                now,
            )
        )
    ownership.place(session, tenant_id, placements, ownership.Actor.system("routing"), now=now)
    bulk_writer(session).insert(
        ROUTING,
        [
            "lead_id",
            "tenant_id",
            "rule",
            "target_kind",
            "target_id",
            "code",
            "owner_id",
            "pool_id",
            "reason",
            "ladder_version",
            "routed_at",
        ],
        rows,
    )
    documents.put(
        session, tenant_id, "routing_state", {"last_assigned": dict(run.state.last_assigned)}
    )
    return _report(run, ladder, version)


def reroute(session: Session, tenant_id: uuid.UUID, lead_ids: Sequence[uuid.UUID]) -> int:
    """Forget the verdicts of these leads so the next `route` evaluates them again."""
    gone = session.execute(
        delete(ROUTING).where(ROUTING.c.tenant_id == tenant_id, ROUTING.c.lead_id.in_(lead_ids))
    )
    return int(gone.rowcount)  # type: ignore[attr-defined]


def verdict(session: Session, tenant_id: uuid.UUID, lead_id: uuid.UUID) -> dict[str, Any] | None:
    row = session.execute(
        select(ROUTING).where(ROUTING.c.tenant_id == tenant_id, ROUTING.c.lead_id == lead_id)
    ).first()
    return None if row is None else dict(row._mapping)
