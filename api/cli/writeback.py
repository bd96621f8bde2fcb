"""`l2c writeback`: what write-back jobs wrote, and retrying what the system refused."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from api.cli.context import console, reports_errors, settings, transaction

app = typer.Typer(
    help="Write-back jobs: records written to (or refused by) the connected system.",
    no_args_is_help=True,
)


@app.command("list")
@reports_errors
def writeback_list(
    job: Annotated[str, typer.Argument(help="Write-back job name.")],
    status: Annotated[
        str | None, typer.Option(help="pending, written, failed, skipped or dead.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """The job's items, oldest first: which record, remote id, status and last error."""
    from core.store import writeback
    from core.store.tenants import get_tenant
    from scheduler.jobs import get_job

    table = Table("item", "record", "status", "remote id", "attempts", "last error")
    with transaction() as session:
        tenant = get_tenant(session, settings().tenant)
        found = get_job(session, tenant, job)
        _check_status(status)
        for item in writeback.list_items(
            session, tenant_id=tenant.id, job_id=found.id, status=status, limit=limit
        ):
            table.add_row(
                str(item.id),
                str(item.record_id),
                item.status,
                item.remote_id or "",
                str(item.attempts),
                (item.last_error or "")[:120],
            )
    console.print(table)


@app.command("retry")
@reports_errors
def writeback_retry(
    job: Annotated[str, typer.Argument(help="Write-back job name.")],
    item: Annotated[
        list[int] | None, typer.Option("--item", help="Only these items (repeatable).")
    ] = None,
) -> None:
    """Put failed and dead items back to pending; the job's next run writes them."""
    from core.store import writeback
    from core.store.tenants import get_tenant
    from scheduler.jobs import get_job

    with transaction() as session:
        tenant = get_tenant(session, settings().tenant)
        found = get_job(session, tenant, job)
        count = writeback.retry(session, tenant_id=tenant.id, job_id=found.id, ids=item)
    console.print(f"{count} item(s) pending again; run `l2c sync run {job}` to write them now")


def _check_status(status: str | None) -> None:
    from core.errors import ConfigError
    from core.store.writeback import STATUSES

    if status is not None and status not in STATUSES:
        raise ConfigError(f"unknown status {status!r}", hint=f"one of {', '.join(STATUSES)}")
