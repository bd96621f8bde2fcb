"""Scheduled lead work: route new leads, recycle overdue ones, remind owners, rescore, RFM.

Every job walks the tenants and, per tenant, works in batches of one short transaction
each, committed before the next: a crash loses at most one batch and the next run takes
over where it stopped, because each job selects its work from the database state ("leads
without a routing verdict", "owned leads past their deadline", "scores older than their
inputs") and that state moves on with each commit. So a rerun does nothing new, and two
workers running one job at once only wait for each other on the tenant's write lock.

The functions take a session factory and run without Celery: the CLI (`l2c leads
recycle`, `l2c routing run`, ...) and the Celery tasks at the bottom call the same code.
A tenant whose configuration is broken (say the routing ladder names a missing pool) is
logged and skipped; the other tenants still get their run.

Their metrics are read from the database at scrape time: scheduler/lead_metrics.py.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.errors import HubError
from core.model.tables import (
    Lead,
    LeadAssignment,
    LeadOwnershipEvent,
    LeadRouting,
    LeadScore,
    RecordChange,
    Tenant,
    Touchpoint,
    table_of,
)
from scheduler.settings import get_scheduler_settings

log = logging.getLogger(__name__)

LEAD = table_of(Lead)
SCORE = table_of(LeadScore)
TOUCH = table_of(Touchpoint)
EVENT = table_of(LeadOwnershipEvent)
ASSIGNMENT = table_of(LeadAssignment)
ROUTING = table_of(LeadRouting)
CHANGE = table_of(RecordChange)
RESCORE_BATCH_FACTOR = 5
"""Scoring is columnar: its batches are this many times the other jobs'."""


@dataclass
class JobReport:
    """What one run of a lead job did, summed over tenants."""

    job: str
    items: int = 0
    batches: int = 0
    tenants: int = 0
    failed_tenants: int = 0
    detail: dict[str, int] = field(default_factory=dict)
    stopped_early: bool = False
    """The time budget ran out; the next run goes on from there."""

    def add(self, key: str, count: int = 1) -> None:
        self.detail[key] = self.detail.get(key, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Sessions = sessionmaker[Session]


def tenant_ids(sessions: Sessions) -> list[uuid.UUID]:
    with sessions() as session:
        return list(session.scalars(select(Tenant.id).order_by(Tenant.slug)))


def _batch_size(batch: int | None) -> int:
    return batch or get_scheduler_settings().lead_batch_size


def _each_tenant(
    sessions: Sessions, report: JobReport, tenants: Sequence[uuid.UUID] | None
) -> Iterator[uuid.UUID]:
    for tenant_id in tenants if tenants is not None else tenant_ids(sessions):
        report.tenants += 1
        yield tenant_id


def _batches(
    sessions: Sessions,
    report: JobReport,
    tenant_id: uuid.UUID,
    step: Callable[[Session], int],
    batch: int,
    deadline: float | None,
) -> None:
    """Run `step` (one batch, returning how many items it did) in a transaction of its
    own until a batch comes back short; a configuration error ends this tenant's run."""
    while True:
        if deadline is not None and time.monotonic() > deadline:
            report.stopped_early = True
            return
        try:
            with sessions.begin() as session:
                done = step(session)
        except HubError as error:
            report.failed_tenants += 1
            log.warning(
                "%s: tenant %s skipped: %s", report.job, tenant_id, error, extra={"job": report.job}
            )
            return
        report.batches += 1
        report.items += done
        if done < batch:
            return


def _logged(report: JobReport) -> JobReport:
    if report.items or report.failed_tenants:
        log.info("lead job %s", report.job, extra=report.as_dict())
    return report


# ----------------------------------------------------------------------------- the jobs
def route_new(
    sessions: Sessions,
    *,
    now: datetime | None = None,
    batch: int | None = None,
    tenants: Sequence[uuid.UUID] | None = None,
    deadline: float | None = None,
) -> JobReport:
    """Route every lead without a routing verdict; `detail` counts them per rule and
    `catch_all` those only the ladder's last rule took (the monitored catch-all)."""
    from core.sales.leads import routing_run

    now, size, report = now or utcnow(), _batch_size(batch), JobReport("route")
    for tenant_id in _each_tenant(sessions, report, tenants):

        def step(session: Session, tenant_id: uuid.UUID = tenant_id) -> int:
            done = routing_run.route(session, tenant_id, limit=size, now=now)
            for rule, count in done.by_rule.items():
                report.add(f"rule:{rule}", count)
            report.add("catch_all", done.catch_all)
            return len(done.outcomes)

        _batches(sessions, report, tenant_id, step, size, deadline)
    return _logged(report)


def recycle(
    sessions: Sessions,
    *,
    now: datetime | None = None,
    batch: int | None = None,
    tenants: Sequence[uuid.UUID] | None = None,
    deadline: float | None = None,
) -> JobReport:
    """Return owned leads past their recycle deadline to their pools (`detail`: per reason)."""
    from core.sales.leads import recycling

    now, size, report = now or utcnow(), _batch_size(batch), JobReport("recycle")
    for tenant_id in _each_tenant(sessions, report, tenants):

        def step(session: Session, tenant_id: uuid.UUID = tenant_id) -> int:
            done = recycling.recycle_due(session, tenant_id, now=now, limit=size)
            for item in done:
                report.add(item.reason)
            return len(done)

        _batches(sessions, report, tenant_id, step, size, deadline)
    return _logged(report)


def remind(
    sessions: Sessions,
    *,
    now: datetime | None = None,
    batch: int | None = None,
    tenants: Sequence[uuid.UUID] | None = None,
    deadline: float | None = None,
) -> JobReport:
    """Send each owner one `lead.remind` event per lead and deadline (never twice)."""
    from core.sales.leads import recycling

    now, size, report = now or utcnow(), _batch_size(batch), JobReport("remind")
    for tenant_id in _each_tenant(sessions, report, tenants):

        def step(session: Session, tenant_id: uuid.UUID = tenant_id) -> int:
            return recycling.remind_due(session, tenant_id, now=now, limit=size)

        _batches(sessions, report, tenant_id, step, size, deadline)
    return _logged(report)


def rescore_due_ids(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    now: datetime,
    max_age: timedelta,
    after: uuid.UUID | None,
    limit: int,
) -> list[uuid.UUID]:
    """Leads whose score is missing, older than `max_age`, or older than a change of the
    lead, a touchpoint stored for it or a return of it (a negative signal), in id order."""
    scored_at = SCORE.c.scored_at
    touched = exists().where(
        TOUCH.c.tenant_id == tenant_id, TOUCH.c.lead_id == LEAD.c.id, TOUCH.c.created_at > scored_at
    )
    returned = exists().where(
        EVENT.c.tenant_id == tenant_id,
        EVENT.c.lead_id == LEAD.c.id,
        EVENT.c.action == "return",
        EVENT.c.at > scored_at,
    )
    query = (
        select(LEAD.c.id)
        .outerjoin(SCORE, and_(SCORE.c.lead_id == LEAD.c.id, SCORE.c.tenant_id == tenant_id))
        .where(
            LEAD.c.tenant_id == tenant_id,
            or_(
                SCORE.c.lead_id.is_(None),
                scored_at < now - max_age,
                LEAD.c.updated_at > scored_at,
                touched,
                returned,
            ),
        )
        .order_by(LEAD.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(LEAD.c.id > after)
    return list(session.scalars(query))


def rescore(
    sessions: Sessions,
    *,
    now: datetime | None = None,
    batch: int | None = None,
    max_age: timedelta | None = None,
    tenants: Sequence[uuid.UUID] | None = None,
    deadline: float | None = None,
) -> JobReport:
    """Rescore leads that are due (see `rescore_due_ids`), all as of `now`: a full pass
    once a day (`max_age`), and in between only the leads something happened to."""
    from core.sales.leads import scoring

    settings = get_scheduler_settings()
    now = now or utcnow()
    size = batch or settings.lead_batch_size * RESCORE_BATCH_FACTOR
    age = max_age if max_age is not None else timedelta(seconds=settings.lead_rescore_max_age)
    report = JobReport("rescore")
    for tenant_id in _each_tenant(sessions, report, tenants):
        cursor: list[uuid.UUID | None] = [None]  # the last lead done: every batch moves on

        def step(
            session: Session, tenant_id: uuid.UUID = tenant_id, after: list[Any] = cursor
        ) -> int:
            ids = rescore_due_ids(
                session, tenant_id, now=now, max_age=age, after=after[0], limit=size
            )
            if ids:
                done = scoring.rescore(session, tenant_id, lead_ids=ids, as_of=now)
                for grade, count in done.grades.items():
                    report.add(f"grade:{grade}", count)
                after[0] = ids[-1]
            return len(ids)

        _batches(sessions, report, tenant_id, step, size, deadline)
    return _logged(report)


def recompute_rfm(
    sessions: Sessions,
    *,
    now: datetime | None = None,
    force: bool = False,
    tenants: Sequence[uuid.UUID] | None = None,
    deadline: float | None = None,
) -> JobReport:
    """Recompute RFM of tenants whose orders or `rfm` settings changed, or whose last
    computation is of an earlier day; `items` counts the tenants recomputed."""
    from core.sales import customer_value

    as_of = (now or utcnow()).date()
    report = JobReport("rfm")
    for tenant_id in _each_tenant(sessions, report, tenants):

        def step(session: Session, tenant_id: uuid.UUID = tenant_id) -> int:
            done = customer_value.recompute(session, tenant_id, as_of=as_of, force=force)
            if done.skipped:
                return 0
            report.add("accounts", done.accounts_scored)
            report.add("segment_changes", done.segment_changes)
            return 1

        _batches(sessions, report, tenant_id, step, 2, deadline)
    return _logged(report)


# ----------------------------------------------------------------------------- Celery
def _budget() -> float:
    """Half the task's time limit: the rest of the work waits for the next run."""
    return time.monotonic() + get_scheduler_settings().task_time_limit / 2


def _sessions() -> Sessions:
    from scheduler.tasks import sessions

    return sessions()


@shared_task(name="l2c.leads.route", ignore_result=True)
def route_task() -> dict[str, Any]:
    return route_new(_sessions(), deadline=_budget()).as_dict()


@shared_task(name="l2c.leads.recycle", ignore_result=True)
def recycle_task() -> dict[str, Any]:
    """Recycle first, then remind: a lead recycled now needs no reminder."""
    done = recycle(_sessions(), deadline=_budget()).as_dict()
    return {"recycle": done, "remind": remind(_sessions(), deadline=_budget()).as_dict()}


@shared_task(name="l2c.leads.rescore", ignore_result=True)
def rescore_task() -> dict[str, Any]:
    return rescore(_sessions(), deadline=_budget()).as_dict()


@shared_task(name="l2c.leads.rfm", ignore_result=True)
def rfm_task() -> dict[str, Any]:
    return recompute_rfm(_sessions(), deadline=_budget()).as_dict()
