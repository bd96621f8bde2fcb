"""Connections, jobs and runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.context import (
    console,
    fail,
    parse_assignments,
    reports_errors,
    sessions,
    settings,
    transaction,
)

connection_app = typer.Typer(
    help="Configured connections to external systems.", no_args_is_help=True
)
job_app = typer.Typer(
    help="Sync jobs: a connection's streams through mappings.", no_args_is_help=True
)
sync_app = typer.Typer(help="Run jobs and look at their runs.", no_args_is_help=True)


def _tenant(session):  # type: ignore[no-untyped-def]
    from core.store.tenants import get_tenant

    return get_tenant(session, settings().tenant)


# ------------------------------------------------------------------------------ connections
@connection_app.command("add")
@reports_errors
def connection_add(
    name: Annotated[str, typer.Argument(help="Name of the new connection.")],
    connector: Annotated[
        str, typer.Option("--connector", "-c", help="Connector name (see `l2c connectors`).")
    ],
    config: Annotated[str | None, typer.Option(help="Settings as a JSON object.")] = None,
    config_file: Annotated[Path | None, typer.Option(help="Settings from a JSON file.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="One setting, KEY=VALUE (repeatable).")
    ] = None,
) -> None:
    """Add a connection; its settings are checked against the connector's schema and its
    secrets are stored encrypted."""
    from scheduler.connections import add_connection

    settings_doc: dict = {}
    try:
        if config_file:
            settings_doc.update(orjson.loads(config_file.read_bytes()))
        if config:
            settings_doc.update(orjson.loads(config))
    except orjson.JSONDecodeError as error:
        fail(f"the settings are not valid JSON: {error}")
    except OSError as error:
        fail(f"cannot read {config_file}: {error.strerror}")
    settings_doc.update(parse_assignments(set_))
    with transaction() as session:
        created = add_connection(
            session, _tenant(session), name=name, connector=connector, config=settings_doc
        )
    console.print(f"connection [bold]{created.name}[/] ({connector}) added")


@connection_app.command("update")
@reports_errors
def connection_update(
    name: Annotated[str, typer.Argument(help="The connection to change.")],
    config: Annotated[
        str | None, typer.Option(help="Settings to merge in, as a JSON object (null removes).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="One setting, KEY=VALUE (repeatable).")
    ] = None,
    rename: Annotated[str | None, typer.Option(help="A new name.")] = None,
) -> None:
    """Change some settings (a JSON merge patch; secrets left out stay as they are)."""
    from scheduler.connections import get_connection, update_connection

    patch: dict = {}
    if config:
        try:
            patch.update(orjson.loads(config))
        except orjson.JSONDecodeError as error:
            fail(f"the settings are not valid JSON: {error}")
    patch.update(parse_assignments(set_))
    if not patch and rename is None:
        fail("nothing to change", hint="give --set KEY=VALUE, --config JSON or --rename")
    with transaction() as session:
        connection = get_connection(session, _tenant(session), name)
        update_connection(session, connection, name=rename, config=patch or None)
        shown = connection.name
    console.print(f"connection [bold]{shown}[/] updated")


@connection_app.command("list")
@reports_errors
def connection_list() -> None:
    """List connections (secrets masked)."""
    from sqlalchemy import select

    from core.model.tables import Connection
    from scheduler.connections import shown_config

    table = Table("name", "connector", "status", "settings")
    with transaction() as session:
        tenant = _tenant(session)
        for connection in session.scalars(
            select(Connection).where(Connection.tenant_id == tenant.id).order_by(Connection.name)
        ):
            shown = orjson.dumps(shown_config(connection)).decode()
            table.add_row(connection.name, connection.connector, connection.status, shown)
    console.print(table)


@connection_app.command("check")
@reports_errors
def connection_check(name: str) -> None:
    """Test a connection (reachability, credentials, what it can read)."""
    from scheduler.connections import get_connection, run_check

    with transaction() as session:
        connection = get_connection(session, _tenant(session), name)
        tenant_id, connection_id = connection.tenant_id, connection.id
    result = run_check(sessions(), tenant_id, connection_id)
    console.print(("[green]ok[/] " if result.ok else "[red]failed[/] ") + result.message)
    for line in result.details:
        console.print(f"  {line}")
    if result.hint:
        console.print(f"  [dim]hint:[/] {result.hint}")
    if not result.ok:
        raise typer.Exit(2)


# ------------------------------------------------------------------------------ jobs
@job_app.command("add")
@reports_errors
def job_add(
    name: Annotated[str, typer.Argument(help="Name of the new job.")],
    connection: Annotated[str, typer.Option(help="Connection to read from (or write to).")],
    mapping: Annotated[
        list[str] | None, typer.Option(help="Mapping file or built-in name (repeatable).")
    ] = None,
    writeback: Annotated[
        str | None,
        typer.Option(
            help="Make a write-back job with this outbound mapping, e.g. "
            "sap/outbound/order_to_sales_order (instead of --mapping)."
        ),
    ] = None,
    schedule: Annotated[
        str | None, typer.Option(help="Cron expression (used by the scheduler).")
    ] = None,
) -> None:
    """Define a job: mappings that turn a connection's streams into canonical records, or
    (--writeback) an outbound mapping that writes canonical records into its system."""
    from scheduler.connections import get_connection
    from scheduler.jobs import add_job

    if bool(mapping) == bool(writeback):
        fail("give either --mapping (a sync job) or --writeback (a write-back job)", code=2)
    with transaction() as session:
        tenant = _tenant(session)
        job = add_job(
            session,
            tenant,
            name=name,
            connection=get_connection(session, tenant, connection),
            mappings=[writeback] if writeback else list(mapping or []),
            schedule=schedule,
            kind="writeback" if writeback else "sync",
        )
        streams = ", ".join(job.streams or [])
    if writeback:
        console.print(f"write-back job [bold]{name}[/] added (mapping: {writeback})")
    else:
        console.print(f"job [bold]{name}[/] added (streams: {streams})")


@job_app.command("list")
@reports_errors
def job_list() -> None:
    """List sync jobs."""
    from sqlalchemy import select

    from core.model.tables import Connection, SyncJob

    table = Table("name", "connection", "streams", "mappings", "schedule")
    with transaction() as session:
        tenant = _tenant(session)
        rows = session.execute(
            select(SyncJob, Connection.name)
            .join(Connection, Connection.id == SyncJob.connection_id)
            .where(SyncJob.tenant_id == tenant.id)
            .order_by(SyncJob.name)
        )
        for job, connection_name in rows:
            table.add_row(
                job.name,
                connection_name,
                ", ".join(job.streams or []),
                "\n".join(job.mappings),
                job.schedule or "",
            )
    console.print(table)


# ------------------------------------------------------------------------------ sync
@sync_app.command("run")
@reports_errors
def sync_run(
    job: Annotated[str, typer.Argument(help="Job name.")],
    batch_size: Annotated[int | None, typer.Option(help="Records per transaction.")] = None,
) -> None:
    """Run a job now, resuming from its last committed state."""

    report = _run_with_progress(job, batch_size)
    print_report(report)
    if report.status == "failed":
        raise typer.Exit(1)


def _run_with_progress(job: str, batch_size: int | None):  # type: ignore[no-untyped-def]
    from scheduler.jobs import run_job

    size = batch_size or settings().sync_batch_size
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.fields[line]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"sync {job}", line="starting")

        def on_flush(counts) -> None:  # type: ignore[no-untyped-def]
            progress.update(task, line=format_counts(counts))

        return run_job(sessions(), settings().tenant, job, batch_size=size, on_flush=on_flush)


def format_counts(counts) -> str:  # type: ignore[no-untyped-def]
    return (
        f"read {counts.read:,} · inserted {counts.inserted:,} · updated {counts.updated:,} · "
        f"unchanged {counts.unchanged:,} · skipped {counts.skipped:,} · "
        f"quarantined {counts.quarantined:,}"
    )


STATUS_STYLE = {"completed": "green", "completed_with_errors": "yellow", "failed": "red"}


def print_report(report) -> None:  # type: ignore[no-untyped-def]
    style = STATUS_STYLE.get(report.status, "white")
    console.print(
        f"run {report.run_id}: [{style}]{report.status}[/]  {format_counts(report.counts)}"
    )
    for stream, count in sorted(report.unmapped.items()):
        console.print(f"  [yellow]{count:,} records of stream {stream!r} had no mapping[/]")
    if report.error:
        console.print(f"  [red]{report.error}[/]")
    if report.counts.quarantined:
        console.print("  see them with `l2c quarantine list`")


@sync_app.command("runs")
@reports_errors
def sync_runs(
    job: Annotated[str | None, typer.Argument(help="Only runs of this job.")] = None,
    limit: int = 20,
) -> None:
    """Recent runs with their counts."""
    from scheduler.jobs import get_job, latest_runs

    table = Table("started", "run", "status", "read", "ins", "upd", "same", "skip", "quar", "error")
    with transaction() as session:
        tenant = _tenant(session)
        selected = get_job(session, tenant, job) if job else None
        for run in latest_runs(session, tenant, selected, limit):
            table.add_row(
                f"{run.started_at:%Y-%m-%d %H:%M:%S}",
                str(run.id)[:8],
                run.status,
                *(
                    f"{n:,}"
                    for n in (
                        run.read_count,
                        run.inserted_count,
                        run.updated_count,
                        run.unchanged_count,
                        run.skipped_count,
                        run.quarantined_count,
                    )
                ),
                (run.error or "")[:80],
            )
    console.print(table)


@sync_app.command("reset")
@reports_errors
def sync_reset(
    job: str,
    stream: Annotated[str | None, typer.Option(help="Only this stream.")] = None,
) -> None:
    """Forget a job's bookmarks so the next run reads everything again (unchanged records
    still cost no write)."""
    from scheduler.job_admin import reset_job_state
    from scheduler.jobs import get_job

    with transaction() as session:
        removed = reset_job_state(session, get_job(session, _tenant(session), job), stream)
    console.print(f"removed {removed} bookmark(s)")
