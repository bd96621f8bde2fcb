"""Set-up commands: init, secret-key, connector list."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from api.cli.context import console, engine, reports_errors, settings, transaction


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("secret-key")(secret_key)
    app.command("connectors")(connectors)


@reports_errors
def init(
    tenant: Annotated[
        str | None, typer.Option(help="Tenant slug to create (default L2C_TENANT).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name of the tenant.")] = None,
) -> None:
    """Create or upgrade the database schema and make sure the tenant exists."""
    from core.store.migrate import current_revision, upgrade
    from core.store.tenants import ensure_tenant

    upgrade(engine())
    slug = tenant or settings().tenant
    with transaction() as session:
        ensure_tenant(session, slug, name)
    url = engine().url.render_as_string(hide_password=True)
    revision = current_revision(engine())
    console.print(f"database [bold]{url}[/] at revision {revision}; tenant [bold]{slug}[/]")


def secret_key() -> None:
    """Print a new key for L2C_SECRET_KEY (Fernet)."""
    from core.security.secrets import generate_key

    console.print(generate_key())


@reports_errors
def connectors() -> None:
    """List the installed connectors and what they can do."""
    from scheduler.connector_catalog import catalog

    table = Table("name", "title", "capabilities", "status")
    for info in catalog():
        if info.error is not None:
            table.add_row(info.name, "", "", f"[red]broken: {info.error}[/]")
        else:
            table.add_row(info.name, info.title, ", ".join(info.capabilities), "ok")
    console.print(table)
