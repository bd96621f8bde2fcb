"""Prometheus figures of the lead jobs, read from the database at scrape time (like the
store's own in api/http/routers/health.py): every API replica reports the same truth,
whichever worker did the work. Counters of what the jobs did, and the backlogs that
show a job is not running (overdue leads: recycling is late; unrouted leads: routing is
behind or a tenant's ladder names a missing pool).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from scheduler.lead_tasks import ASSIGNMENT, CHANGE, EVENT, LEAD, ROUTING


class LeadCollector(Collector):
    """Lead-job figures read from the database at scrape time (every replica reports the
    same truth, whichever worker did the work). Register it next to StoreCollector."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def describe(self) -> list[Any]:
        return []  # collected lazily: registering must not touch the database

    def collect(self) -> Iterator[Any]:
        recycled = CounterMetricFamily(
            "l2c_leads_recycled", "Leads returned to their pool by a deadline", labels=["reason"]
        )
        routed = CounterMetricFamily(
            "l2c_leads_routed",
            "Leads routed, by rule; catch_all=true counts leads no specific rule took",
            labels=["rule", "catch_all"],
        )
        reminded = CounterMetricFamily("l2c_leads_reminded", "Owner reminders (lead.remind)")
        overdue = GaugeMetricFamily(
            "l2c_leads_overdue", "Owned leads past their recycle deadline (recycling is late)"
        )
        unrouted = GaugeMetricFamily(
            "l2c_leads_unrouted",
            "Open leads in no pool and without a routing verdict (routing is behind)",
        )
        try:
            with self.sessions() as session:
                self._read(session, recycled, routed, reminded, overdue, unrouted)
        except Exception:  # a scrape must not fail because the database blinked
            return
        yield from (recycled, routed, reminded, overdue, unrouted)

    @staticmethod
    def _read(session: Session, *families: Any) -> None:
        from core.sales import documents

        recycled, routed, reminded, overdue, unrouted = families
        for reason, count in session.execute(
            select(EVENT.c.reason_code, func.count())
            .where(EVENT.c.action == "recycle")
            .group_by(EVENT.c.reason_code)
        ):
            recycled.add_metric([reason or ""], count)
        catch_all = {
            tenant_id: documents.get(session, tenant_id, "routing")[0].catch_all.name
            for tenant_id in session.scalars(select(ROUTING.c.tenant_id).distinct())
        }
        by_rule: dict[tuple[str, str], int] = {}
        for tenant_id, rule, count in session.execute(
            select(ROUTING.c.tenant_id, ROUTING.c.rule, func.count()).group_by(
                ROUTING.c.tenant_id, ROUTING.c.rule
            )
        ):
            key = (rule, "true" if catch_all.get(tenant_id) == rule else "false")
            by_rule[key] = by_rule.get(key, 0) + count
        for (rule, is_catch_all), count in sorted(by_rule.items()):
            routed.add_metric([rule, is_catch_all], count)
        reminded.add_metric(
            [],
            session.scalar(
                select(func.count()).where(CHANGE.c.entity == "lead", CHANGE.c.op == "remind")
            )
            or 0,
        )
        overdue.add_metric(
            [],
            session.scalar(
                select(func.count()).where(
                    ASSIGNMENT.c.owner_id.is_not(None), ASSIGNMENT.c.recycle_at <= utcnow()
                )
            )
            or 0,
        )
        unrouted.add_metric(
            [],
            session.scalar(
                select(func.count())
                .select_from(LEAD)
                .outerjoin(ROUTING, ROUTING.c.lead_id == LEAD.c.id)
                .where(
                    ROUTING.c.lead_id.is_(None),
                    LEAD.c.id.not_in(select(ASSIGNMENT.c.lead_id)),  # placed: routing skips them
                    func.coalesce(LEAD.c.status, "new").not_in(("converted", "disqualified")),
                )
            )
            or 0,
        )
