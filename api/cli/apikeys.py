"""`l2c apikey`: the API keys of the tenant (L2C_TENANT). A key is shown once, when it
is created; only its public prefix and a hash of its secret are kept."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from api.cli.context import console, reports_errors, settings, transaction

app = typer.Typer(help="API keys for the REST API (one tenant each).", no_args_is_help=True)


def _tenant_id(session: Session) -> uuid.UUID:
    from core.store.tenants import get_tenant

    return get_tenant(session, settings().tenant).id


@app.command("create")
@reports_errors
def create(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. crm-sync.")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            "-s",
            help="admin, write, read or webhook (repeatable). admin includes write, "
            "write includes read.",
        ),
    ],
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Expire after this many days.")
    ] = None,
) -> None:
    """Create a key and print it — the only time it is shown."""
    from core.clock import utcnow
    from core.security.apikeys import create_key

    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    with transaction() as session:
        key, text = create_key(
            session, _tenant_id(session), name=name, scopes=scope, expires_at=expires
        )
        scopes = ", ".join(key.scopes)
    console.print(f"API key [bold]{name}[/] ({scopes}) for tenant {settings().tenant}:")
    console.print(text, markup=False, soft_wrap=True)
    console.print("[yellow]Store it now: it is not shown again.[/]")


@app.command("list")
@reports_errors
def list_() -> None:
    """The tenant's keys: prefix, name, scopes and use — never the secret."""
    from core.security.apikeys import list_keys

    table = Table("prefix", "name", "scopes", "created", "last used", "expires", "revoked")
    with transaction() as session:
        for key in list_keys(session, _tenant_id(session)):
            table.add_row(
                f"l2c_{key.prefix}_…",
                key.name,
                ", ".join(key.scopes),
                f"{key.created_at:%Y-%m-%d %H:%M}",
                f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
                f"{key.expires_at:%Y-%m-%d %H:%M}" if key.expires_at else "",
                f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
            )
    console.print(table)


@app.command("revoke")
@reports_errors
def revoke(
    key: Annotated[str, typer.Argument(help="The key's name or prefix (see `l2c apikey list`).")],
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from core.security.apikeys import revoke_key

    ref = key.removeprefix("l2c_").removesuffix("_…") if key.endswith("_…") else key
    with transaction() as session:
        revoked = revoke_key(session, _tenant_id(session), ref)
        shown = f"{revoked.name} (l2c_{revoked.prefix}_…)"
    console.print(f"revoked {shown}")
