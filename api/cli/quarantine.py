"""Quarantined records: look, fix, replay, discard."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.syntax import Syntax
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.cli.context import console, fail, parse_assignments, reports_errors, settings, transaction
from core.model.tables import Quarantine, SyncJob

app = typer.Typer(help="Records that could not be stored, with why.", no_args_is_help=True)


def _tenant_id(session: Session) -> uuid.UUID:
    from core.store.tenants import get_tenant

    return get_tenant(session, settings().tenant).id


def _find(session: Session, ident: str) -> Quarantine:
    """By full id or a unique prefix of it (as `list` shows)."""
    tenant_id = _tenant_id(session)
    try:
        entry = session.get(Quarantine, uuid.UUID(ident))
        candidates = [entry] if entry is not None and entry.tenant_id == tenant_id else []
    except ValueError:
        prefix = ident.replace("-", "").lower()
        rows = session.scalars(
            select(Quarantine)
            .where(Quarantine.tenant_id == tenant_id)
            .order_by(Quarantine.created_at)
        )
        candidates = [q for q in rows if q.id.hex.startswith(prefix)]
    if not candidates:
        fail(f"no quarantined record {ident!r}", "see `l2c quarantine list`", 3)
    if len(candidates) > 1:
        fail(f"{ident!r} matches {len(candidates)} records", "give more characters of the id")
    return candidates[0]


@app.command("list")
@reports_errors
def list_(
    job: Annotated[str | None, typer.Option(help="Only records of this job.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed and discarded.")] = False,
    limit: int = 50,
) -> None:
    """Quarantined records, oldest first."""
    table = Table("id", "stream", "external id", "reason", "status", "message", show_lines=False)
    with transaction() as session:
        query = select(Quarantine).where(Quarantine.tenant_id == _tenant_id(session))
        if not all_:
            query = query.where(Quarantine.status == "open")
        if job:
            query = query.join(SyncJob, SyncJob.id == Quarantine.job_id).where(SyncJob.name == job)
        for entry in session.scalars(query.order_by(Quarantine.created_at).limit(limit)):
            table.add_row(
                entry.id.hex[:8],
                entry.stream,
                entry.external_id or "",
                entry.reason,
                entry.status,
                entry.message,
            )
    console.print(table)


@app.command("show")
@reports_errors
def show(ident: str) -> None:
    """One record: why it was refused and its raw payload."""
    with transaction() as session:
        entry = _find(session, ident)
        console.print(
            f"[bold]{entry.id}[/]  {entry.status}  stream {entry.stream}  mapping {entry.mapping}"
        )
        console.print(f"reason [bold]{entry.reason}[/] field {entry.field or '-'}: {entry.message}")
        body = orjson.dumps(entry.payload, option=orjson.OPT_INDENT_2, default=str).decode()
        console.print(Syntax(body, "json", word_wrap=True))


@app.command("edit")
@reports_errors
def edit(
    ident: str,
    file: Annotated[
        Path | None, typer.Option(help="Replace the payload with this JSON file.")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Change one field, KEY=VALUE.")
    ] = None,
) -> None:
    """Correct a quarantined payload before replaying it."""
    from scheduler.quarantine import edit_payload

    with transaction() as session:
        entry = _find(session, ident)
        payload = dict(entry.payload)
        if file:
            payload = orjson.loads(file.read_bytes())
        for key, value in parse_assignments(set_).items():
            payload[key] = value
        edit_payload(entry, payload)
    console.print(f"payload of {ident} updated; replay it with `l2c quarantine replay {ident}`")


@app.command("replay")
@reports_errors
def replay(
    idents: Annotated[list[str] | None, typer.Argument(help="Ids (or prefixes) to replay.")] = None,
    job: Annotated[str | None, typer.Option(help="Replay every open record of this job.")] = None,
) -> None:
    """Run records through their (possibly fixed) mapping again and store them."""
    from scheduler.jobs import get_job
    from scheduler.quarantine import replay as replay_records

    if not idents and not job:
        fail("name records to replay, or --job JOB for all of a job's records")
    with transaction() as session:
        if job:
            from core.store.quarantine import open_entries
            from core.store.tenants import get_tenant

            tenant = get_tenant(session, settings().tenant)
            entries = open_entries(session, tenant.id, job_id=get_job(session, tenant, job).id)
        else:
            entries = [_find(session, ident) for ident in idents or []]
        result = replay_records(session, entries)
        replayed, still_bad = len(result.replayed), len(result.still_bad)
        for entry_id, message in result.still_bad:
            console.print(f"  [red]{entry_id.hex[:8]}[/] {message}")
    console.print(f"replayed {replayed}, still failing {still_bad}")
    if still_bad:
        raise typer.Exit(65)


@app.command("discard")
@reports_errors
def discard(idents: list[str]) -> None:
    """Give up on records (kept for the record, no longer open)."""
    from scheduler.quarantine import discard as discard_records

    with transaction() as session:
        entries = [_find(session, ident) for ident in idents]
        discard_records(session, entries)
    console.print(f"discarded {len(entries)}")
