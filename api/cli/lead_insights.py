"""`l2c scoring`, `l2c rfm` and `l2c lead score|convert|duplicates|merge`: what a lead
is worth, what it became, and which records it duplicates."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.context import console, fail, parse_assignments, reports_errors, transaction
from api.cli.leads import AsOption, actor, parse_id, read_document, tenant_id, when

scoring_app = typer.Typer(
    help="Lead scores: train the models, rescore leads.", no_args_is_help=True
)
rfm_app = typer.Typer(help="RFM segments and lifetime value of accounts.", no_args_is_help=True)
LeadArg = Annotated[str, typer.Argument(metavar="LEAD", help="Lead id.")]


def register(app: typer.Typer, lead_app: typer.Typer) -> None:
    app.add_typer(scoring_app, name="scoring")
    app.add_typer(rfm_app, name="rfm")
    lead_app.command("score")(score)
    lead_app.command("convert")(convert)
    lead_app.command("duplicates")(duplicates)
    lead_app.command("merge")(merge)


def _json(value: Any) -> None:
    console.print_json(orjson.dumps(value, default=str).decode())


# ----------------------------------------------------------------------------- scoring
@scoring_app.command("train")
@reports_errors
def train() -> None:
    """Train the PLS frequency table and the ML model on closed leads."""
    from core.sales.leads import scoring

    with transaction() as session:
        report = scoring.train(session, tenant_id(session))
    console.print(
        f"trained on {report.sample_size} closed lead(s), {report.positives} converted: "
        f"PLS model {report.pls_model_id}"
    )
    if report.ml_trained:
        metrics = ", ".join(f"{k} {v}" for k, v in sorted(report.metrics.items()))
        console.print(f"ML model {report.ml_model_id}{': ' + metrics if metrics else ''}")
    else:
        console.print(f"no ML model: {report.ml_reason}")


@scoring_app.command("rescore")
@reports_errors
def rescore(
    lead: Annotated[list[str] | None, typer.Option(help="Only these leads (repeatable).")] = None,
    chunk: Annotated[
        int, typer.Option(min=100, help="Leads per chunk (more: faster, ~1 KB memory each).")
    ] = 200_000,
) -> None:
    """Score every lead (or some) now, in one transaction, with a progress bar."""
    from sqlalchemy import func, select

    from core.model.tables import Lead
    from core.sales.leads import scoring

    with transaction() as session:
        tenant = tenant_id(session)
        ids = [parse_id(i, "--lead", "lead") for i in lead] if lead else None
        total = (
            len(ids)
            if ids is not None
            else session.scalar(select(func.count()).where(Lead.tenant_id == tenant)) or 0
        )
        with Progress(
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("scoring", total=total)
            report = scoring.rescore(
                session,
                tenant,
                lead_ids=ids,
                chunk=chunk,
                progress=lambda done: bar.update(task, completed=done),
            )
    grades = ", ".join(f"{g} {n}" for g, n in sorted(report.grades.items()))
    console.print(f"{report.scored} lead(s) scored{': ' + grades if grades else ''}")
    if report.ml_reason:
        console.print(f"[dim]no ML probability: {report.ml_reason}[/]")


@reports_errors
def score(
    lead: LeadArg,
    now: Annotated[bool, typer.Option("--rescore", help="Rescore it first.")] = False,
) -> None:
    """A lead's stored score with the full explanation of every part."""
    from core.sales.leads import scoring

    with transaction() as session:
        tenant = tenant_id(session)
        lead_id = parse_id(lead, "lead", "lead")
        if now:
            scoring.rescore(session, tenant, lead_ids=[lead_id])
        explained = scoring.explain(session, tenant, lead_id)
    _json(explained)


# ----------------------------------------------------------------------------- conversion
@reports_errors
def convert(
    lead: LeadArg,
    account: Annotated[str | None, typer.Option(help="Attach to this account (id).")] = None,
    contact: Annotated[str | None, typer.Option(help="Attach to this contact (id).")] = None,
    no_opportunity: Annotated[
        bool, typer.Option("--no-opportunity", help="Create no opportunity.")
    ] = False,
    opportunity: Annotated[
        list[str] | None,
        typer.Option("--set", help="Opportunity field KEY=VALUE, e.g. amount=50000 (repeatable)."),
    ] = None,
    as_: AsOption = None,
) -> None:
    """Convert a lead into account + contact + opportunity (attaching to matches)."""
    from core.sales.leads import conversion

    with transaction() as session:
        tenant = tenant_id(session)
        result = conversion.convert_lead(
            session,
            tenant,
            parse_id(lead, "lead", "lead"),
            actor(session, tenant, as_),
            account_id=parse_id(account, "--account", "account") if account else None,
            contact_id=parse_id(contact, "--contact", "contact") if contact else None,
            opportunity=parse_assignments(opportunity) or None,
            create_opportunity=not no_opportunity,
        )
    made = {True: "created", False: "attached"}
    console.print(
        f"lead {result.lead_id} converted {when(result.converted_at)}:\n"
        f"  account {result.account_id} ({made[result.account_created]}, {result.account_match})\n"
        f"  contact {result.contact_id} ({made[result.contact_created]}, {result.contact_match})\n"
        f"  opportunity {result.opportunity_id or 'none'}\n"
        f"  {result.touchpoints_moved} touchpoint(s) carried"
    )


@reports_errors
def duplicates(
    lead: Annotated[
        str | None, typer.Argument(metavar="[LEAD]", help="Lead id; scan all open leads without.")
    ] = None,
    min_score: Annotated[int, typer.Option(help="Lowest match score shown.")] = 70,
    limit: Annotated[int, typer.Option(min=1, help="Groups shown by a scan.")] = 100,
) -> None:
    """Records a lead duplicates (leads, accounts, contacts), or duplicate groups of leads."""
    from core.sales.leads import duplicates as dup

    with transaction() as session:
        tenant = tenant_id(session)
        if lead is not None:
            matches = dup.find_duplicates(
                session, tenant, parse_id(lead, "lead", "lead"), min_score=min_score
            )
            table = Table("entity", "id", "name", "score", "why")
            for m in matches:
                why = ", ".join(f"{r.signal} {r.value} +{r.points}" for r in m.reasons)
                table.add_row(m.entity, str(m.id), m.name, str(m.score), why)
            console.print(table)
            return
        groups = dup.scan(session, tenant, min_score=min_score, limit=limit)
    table = Table("group", "score", "leads (oldest first)")
    for n, group in enumerate(groups, 1):
        members = "\n".join(f"{m.id} {m.name}" for m in group.members)
        table.add_row(str(n), str(group.score), members)
    console.print(table)


@reports_errors
def merge(
    survivor: Annotated[str, typer.Argument(help="The lead that stays (id).")],
    merged: Annotated[str, typer.Argument(help="The duplicate merged into it (id).")],
    prefer: Annotated[
        Path | None,
        typer.Option(help="Field choices, YAML/JSON {field: survivor|merged}; else fill blanks."),
    ] = None,
    as_: AsOption = None,
) -> None:
    """Merge a duplicate lead into a survivor, keeping the duplicate's snapshot."""
    from core.sales.leads import merge as merging

    choices = read_document(prefer, "prefer") if prefer else {}
    if not isinstance(choices, dict):
        fail("--prefer must map field names to survivor or merged", "e.g. {title: merged}", 2)
    with transaction() as session:
        tenant = tenant_id(session)
        result = merging.merge_leads(
            session,
            tenant,
            parse_id(survivor, "survivor", "lead"),
            parse_id(merged, "merged", "lead"),
            actor(session, tenant, as_),
            prefer=choices,
        )
    taken = ", ".join(sorted(result.fields_taken)) or "none"
    console.print(
        f"lead {result.merged_id} merged into {survivor} (score {result.score}); fields taken: "
        f"{taken}; {result.touchpoints_moved} touchpoint(s) and "
        f"{result.external_refs_moved} external id(s) moved"
    )


# ----------------------------------------------------------------------------- RFM
@rfm_app.command("recompute")
@reports_errors
def rfm_recompute(
    as_of: Annotated[str | None, typer.Option(help="Compute as of this date (YYYY-MM-DD).")] = None,
    force: Annotated[bool, typer.Option(help="Even when nothing changed.")] = False,
) -> None:
    """Recompute RFM segments and LTV of every account with purchases."""
    from core.sales import customer_value

    day = _date(as_of)
    with transaction() as session:
        report = customer_value.recompute(session, tenant_id(session), as_of=day, force=force)
    if report.skipped:
        console.print(f"RFM as of {report.as_of} is up to date (use --force to recompute)")
        return
    console.print(
        f"RFM as of {report.as_of} ({report.window_start} .. {report.as_of}, {report.currency}): "
        f"{report.accounts_scored} account(s) scored, {report.accounts_lapsed} lapsed, "
        f"{report.segment_changes} segment change(s), {report.orders_counted} order(s)"
    )
    for other in report.other_currencies:
        console.print(
            f"[yellow]left out:[/] {other.orders} order(s) in {other.currency} "
            f"({other.accounts} account(s), {other.amount})"
        )


@rfm_app.command("show")
@reports_errors
def rfm_show(account: Annotated[str, typer.Argument(help="Account id.")]) -> None:
    """An account's RFM cell, segment, LTV with its formula inputs, and segment history."""
    from core.sales import customer_value

    with transaction() as session:
        value = customer_value.account_rfm(
            session, tenant_id(session), parse_id(account, "account", "account")
        )
    if value is None:
        fail(
            "this account has no RFM: no purchase in the window",
            "l2c rfm recompute after its orders arrive",
            3,
        )
    _json(value.model_dump(mode="json"))


@rfm_app.command("segments")
@reports_errors
def rfm_segments() -> None:
    """Accounts and monetary value per segment."""
    from core.sales import customer_value

    with transaction() as session:
        rows = customer_value.segments(session, tenant_id(session))
    table = Table("segment", "accounts", "monetary")
    for row in rows:
        table.add_row(str(row.segment), str(row.accounts), f"{row.monetary} {row.currency}")
    console.print(table)


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--as-of: {text!r} is not a date", "e.g. 2026-06-30", 2)
