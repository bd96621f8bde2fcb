"""`l2c lead`, `l2c routing`, `l2c leads`: ownership, touchpoints, routing, and the
scheduled lead work run now (the same functions the scheduler calls)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from api.cli.context import console, fail, reports_errors, sessions, transaction
from api.cli.leads import (
    AsOption,
    NowOption,
    actor,
    instant,
    parse_id,
    pool,
    read_document,
    short,
    tenant_id,
    user_id,
    when,
)

if TYPE_CHECKING:
    from core.sales.leads.routing_run import RoutingReport
    from core.sales.leads.schemas import AssignmentView
    from scheduler.lead_tasks import JobReport

LeadArg = Annotated[str, typer.Argument(metavar="LEAD", help="Lead id.")]
LeadsArg = Annotated[list[str], typer.Argument(metavar="LEAD...", help="Lead ids.")]
NoteOption = Annotated[str | None, typer.Option(help="A note for the audit.")]

lead_app = typer.Typer(
    help="One lead: ownership, touchpoints, score, conversion.", no_args_is_help=True
)
routing_app = typer.Typer(help="The routing ladder: simulate it, run it.", no_args_is_help=True)
jobs_app = typer.Typer(
    help="Run the scheduled lead work now for this tenant (what the beat runs).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(lead_app, name="lead")
    app.add_typer(routing_app, name="routing")
    app.add_typer(jobs_app, name="leads")


def _print_assignment(view: AssignmentView, what: str) -> None:
    owner = f"owner {view.owner_id}" if view.owner_id else "unowned"
    deadline = f", back to the pool {when(view.recycle_at)}" if view.recycle_at else ""
    console.print(f"lead {view.lead_id} {what}: {owner}, pool {short(view.pool_id)}{deadline}")


# ----------------------------------------------------------------------------- ownership
@lead_app.command("claim")
@reports_errors
def claim(
    lead: LeadArg,
    user: Annotated[str | None, typer.Option(help="The rep (e-mail or id); default --as.")] = None,
    as_: AsOption = None,
) -> None:
    """A rep takes an unowned lead from its pool (budget, WIP cap and cooldown apply)."""
    from core.sales.leads import ownership

    if user is None and as_ is None:
        fail("who claims? name the rep", "give --user <e-mail> or --as <e-mail>", 2)
    with transaction() as session:
        tenant = tenant_id(session)
        rep = user_id(session, tenant, user or str(as_), "--user" if user else "--as")
        view = ownership.claim(
            session, tenant, parse_id(lead, "lead", "lead"), rep, actor(session, tenant, as_)
        )
    _print_assignment(view, "claimed")


@lead_app.command("return")
@reports_errors
def return_(
    lead: LeadArg,
    reason: Annotated[str, typer.Option(help="Return reason code of the pool, e.g. no_budget.")],
    note: NoteOption = None,
    as_: AsOption = None,
) -> None:
    """The owner gives a lead back to its pool, with a reason."""
    from core.sales.leads import ownership

    with transaction() as session:
        tenant = tenant_id(session)
        view = ownership.return_lead(
            session,
            tenant,
            parse_id(lead, "lead", "lead"),
            reason,
            actor(session, tenant, as_),
            note=note,
        )
    _print_assignment(view, "returned")


@lead_app.command("assign")
@reports_errors
def assign(
    leads: LeadsArg,
    user: Annotated[str, typer.Option(help="The rep who gets them (e-mail or id).")],
    pool_ref: Annotated[str | None, typer.Option("--pool", help="Move them to this pool.")] = None,
    note: NoteOption = None,
    as_: AsOption = None,
) -> None:
    """A pool admin gives leads to a rep (a transfer when they are owned)."""
    from core.sales.leads import ownership

    with transaction() as session:
        tenant = tenant_id(session)
        views = ownership.assign(
            session,
            tenant,
            [parse_id(i, "lead", "lead") for i in leads],
            user_id(session, tenant, user),
            actor(session, tenant, as_),
            pool_id=pool(session, tenant, pool_ref).id if pool_ref else None,
            note=note,
        )
    for view in views:
        _print_assignment(view, "assigned")


@lead_app.command("deposit")
@reports_errors
def deposit(
    leads: LeadsArg,
    pool_ref: Annotated[str, typer.Option("--pool", help="The pool (name or id).")],
    note: NoteOption = None,
    as_: AsOption = None,
) -> None:
    """A pool admin puts leads into a pool, unowned."""
    from core.sales.leads import ownership

    with transaction() as session:
        tenant = tenant_id(session)
        views = ownership.deposit(
            session,
            tenant,
            [parse_id(i, "lead", "lead") for i in leads],
            pool(session, tenant, pool_ref).id,
            actor(session, tenant, as_),
            note=note,
        )
    console.print(f"{len(views)} lead(s) deposited into {pool_ref}")


@lead_app.command("ownership")
@reports_errors
def show_ownership(lead: LeadArg) -> None:
    """Where a lead is, its deadlines, and every owner change (newest first)."""
    from core.sales.leads import ownership, pools

    with transaction() as session:
        tenant = tenant_id(session)
        lead_id = parse_id(lead, "lead", "lead")
        view = ownership.get_assignment(session, tenant, lead_id)
        events = ownership.history(session, tenant, lead_id)
        users = dict(
            session.execute(
                select(pools.USER.c.id, pools.USER.c.name).where(pools.USER.c.tenant_id == tenant)
            ).all()
        )
        pool_names = {p.id: p.name for p in pools.list_pools(session, tenant)}

    def who(user: uuid.UUID | None) -> str:
        return "" if user is None else users.get(user, short(user))

    def actor_name(actor: str) -> str:
        try:
            return who(uuid.UUID(actor))
        except ValueError:
            return actor

    facts = Table("", "")
    for label, value in (
        ("pool", pool_names.get(view.pool_id, short(view.pool_id)) if view.pool_id else ""),
        ("owner", who(view.owner_id)),
        ("owned since", when(view.owned_since)),
        ("follow-up due", when(view.followup_due)),
        ("convert due", when(view.convert_due)),
        ("recycled at", when(view.recycle_at)),
        ("reminder at", when(view.remind_at)),
        ("last follow-up", when(view.last_followup_at)),
        ("grade", view.grade or ""),
    ):
        facts.add_row(label, value)
    console.print(facts)
    table = Table("at", "action", "via", "actor", "from", "to", "reason", "note")
    for e in events:
        table.add_row(
            when(e.at),
            e.action,
            e.via,
            actor_name(e.actor),
            who(e.from_owner),
            who(e.to_owner),
            e.reason_code or "",
            e.note or "",
        )
    console.print(table)


@lead_app.command("touch")
@reports_errors
def touch(
    lead: Annotated[str, typer.Argument(metavar="LEAD", help="Lead id or e-mail.")],
    type_: Annotated[str, typer.Option("--type", help="Event type, e.g. call, webinar.")],
    at: Annotated[str | None, typer.Option(help="When it happened (ISO 8601); now.")] = None,
    external_id: Annotated[
        str | None, typer.Option(help="Your id: a repeat is stored once.")
    ] = None,
    campaign: Annotated[str | None, typer.Option(help="Campaign it belongs to.")] = None,
    source: Annotated[str, typer.Option(help="Who reports it.")] = "cli",
) -> None:
    """Record a touchpoint; a follow-up type restarts the owner's follow-up deadline."""
    from core.sales.leads import touchpoints

    occurred = instant(at) or datetime.now(UTC)
    lead_id = _maybe_uuid(lead)
    item = touchpoints.TouchpointIn(
        lead_id=lead_id,
        email=None if lead_id else lead,
        type=type_,
        occurred_at=occurred,
        external_id=external_id,
        campaign=campaign,
    )
    with transaction() as session:
        report = touchpoints.record(session, tenant_id(session), [item], source=source)
    if report.duplicates:
        console.print(f"already recorded ({source}, {external_id}): nothing new")
    else:
        counted = " (a follow-up: the deadline restarts)" if report.followups else ""
        console.print(f"touchpoint {report.ids[0]} recorded{counted}")


def _maybe_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- routing
@routing_app.command("simulate")
@reports_errors
def simulate(
    lead: Annotated[list[str] | None, typer.Option(help="Only these leads (repeatable).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    ladder: Annotated[Path | None, typer.Option(help="A draft ladder (YAML/JSON).")] = None,
    teams: Annotated[Path | None, typer.Option(help="Draft teams (YAML/JSON).")] = None,
) -> None:
    """What the next routing run would do with leads not yet routed; writes nothing."""
    from core.sales import documents
    from core.sales.leads import routing_run

    draft_ladder = documents.parse("routing", read_document(ladder, "ladder")) if ladder else None
    draft_teams = documents.parse("teams", read_document(teams, "teams")) if teams else None
    with transaction() as session:
        report = routing_run.simulate(
            session,
            tenant_id(session),
            lead_ids=[parse_id(i, "--lead", "lead") for i in lead] if lead else None,
            limit=limit,
            ladder=draft_ladder,  # type: ignore[arg-type]
            teams=draft_teams.root if draft_teams is not None else None,  # type: ignore[attr-defined]
        )
    _print_routing(report, "would route")


@routing_app.command("run")
@reports_errors
def run(
    lead: Annotated[list[str] | None, typer.Option(help="Only these leads (repeatable).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
) -> None:
    """Route leads without a verdict now, in one transaction (`l2c leads route` does all
    of them in batches)."""
    from core.sales.leads import routing_run

    with transaction() as session:
        report = routing_run.route(
            session,
            tenant_id(session),
            lead_ids=[parse_id(i, "--lead", "lead") for i in lead] if lead else None,
            limit=limit,
        )
    _print_routing(report, "routed")


def _print_routing(report: RoutingReport, verb: str) -> None:
    table = Table("lead", "rule", "code", "owner", "pool", "reason")
    for out in report.outcomes:
        table.add_row(out.lead_id, out.rule, out.code, out.owner or "", out.pool or "", out.reason)
    console.print(table)
    rules = ", ".join(f"{rule} {n}" for rule, n in sorted(report.by_rule.items()))
    console.print(
        f"{verb} {len(report.outcomes)} lead(s) with ladder version {report.ladder_version}"
        f"{': ' + rules if rules else ''}; catch-all took {report.catch_all}"
    )


# ----------------------------------------------------------------------------- jobs
def _run_job(job: str, now: str | None, batch: int | None) -> JobReport:
    from scheduler import lead_tasks

    with transaction() as session:
        tenants = [tenant_id(session)]
    at = instant(now)
    if job == "route":
        return lead_tasks.route_new(sessions(), now=at, batch=batch, tenants=tenants)
    if job == "recycle":
        return lead_tasks.recycle(sessions(), now=at, batch=batch, tenants=tenants)
    if job == "remind":
        return lead_tasks.remind(sessions(), now=at, batch=batch, tenants=tenants)
    return lead_tasks.rescore(sessions(), now=at, batch=batch, tenants=tenants)


def _print_job(report: JobReport, verb: str) -> None:
    detail = ", ".join(f"{k} {v}" for k, v in sorted(report.detail.items()) if v)
    console.print(
        f"{report.items} lead(s) {verb} in {report.batches} batch(es)"
        f"{': ' + detail if detail else ''}"
    )
    if report.failed_tenants:
        fail("the tenant's configuration stopped the run", "see the log line above", 2)


BatchOption = Annotated[
    int | None, typer.Option(min=1, help="Leads per transaction (L2C_LEAD_BATCH_SIZE).")
]


@jobs_app.command("route")
@reports_errors
def jobs_route(now: NowOption = None, batch: BatchOption = None) -> None:
    """Route every lead without a routing verdict."""
    _print_job(_run_job("route", now, batch), "routed")


@jobs_app.command("recycle")
@reports_errors
def jobs_recycle(now: NowOption = None, batch: BatchOption = None) -> None:
    """Return owned leads past their deadline to their pools."""
    _print_job(_run_job("recycle", now, batch), "recycled")


@jobs_app.command("remind")
@reports_errors
def jobs_remind(now: NowOption = None, batch: BatchOption = None) -> None:
    """Send the due `lead.remind` events (once per lead and deadline)."""
    _print_job(_run_job("remind", now, batch), "reminded")


@jobs_app.command("rescore")
@reports_errors
def jobs_rescore(now: NowOption = None, batch: BatchOption = None) -> None:
    """Rescore leads never scored, changed or touched since, or scored over a day ago."""
    _print_job(_run_job("rescore", now, batch), "rescored")


@jobs_app.command("rfm")
@reports_errors
def jobs_rfm(
    now: NowOption = None,
    force: Annotated[bool, typer.Option(help="Even when nothing changed.")] = False,
) -> None:
    """Recompute RFM when orders or the `rfm` settings changed, or the day moved on."""
    from scheduler import lead_tasks

    with transaction() as session:
        tenants = [tenant_id(session)]
    report = lead_tasks.recompute_rfm(sessions(), now=instant(now), force=force, tenants=tenants)
    if not report.items:
        console.print("RFM is up to date: nothing changed since the last computation")
        return
    console.print(
        f"RFM recomputed: {report.detail.get('accounts', 0)} account(s), "
        f"{report.detail.get('segment_changes', 0)} segment change(s)"
    )
