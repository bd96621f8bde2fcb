"""`l2c pool` and `l2c pool member`: lead pools, their rules, counts and members."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.cli.context import console, fail, reports_errors, transaction
from api.cli.leads import pool, read_document, tenant_id, user_id
from core.errors import ConflictError, DataError

pool_app = typer.Typer(help="Lead pools (线索池): rules, members, counts.", no_args_is_help=True)
member_app = typer.Typer(
    help="Members and admins of a pool (users or teams).", no_args_is_help=True
)
pool_app.add_typer(member_app, name="member")


@pool_app.command("create")
@reports_errors
def pool_create(
    name: Annotated[str, typer.Argument(help="Pool name, unique in the tenant.")],
    rules: Annotated[
        Path | None, typer.Option(help="Pool rules (YAML or JSON); default rules otherwise.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the pool is for.")] = None,
) -> None:
    """Create a lead pool."""
    from core.sales.leads import pools

    raw = read_document(rules, "rules") if rules else None
    with transaction() as session:
        made = pools.create_pool(
            session, tenant_id(session), name, rules=raw, description=description
        )
    console.print(f"pool {made.name} created, id {made.id}")


@pool_app.command("list")
@reports_errors
def pool_list() -> None:
    """Pools with their unowned and owned lead counts."""
    from core.sales.leads import pools

    table = Table("name", "id", "active", "unowned", "owned", "description")
    with transaction() as session:
        tenant = tenant_id(session)
        stats = pools.pool_stats(session, tenant)
        for found in pools.list_pools(session, tenant):
            counts = stats.get(found.id, pools.PoolStats(0, 0))
            table.add_row(
                found.name,
                str(found.id),
                "yes" if found.active else "no",
                str(counts.unowned),
                str(counts.owned),
                found.description or "",
            )
    console.print(table)


@pool_app.command("show")
@reports_errors
def pool_show(pool_ref: Annotated[str, typer.Argument(metavar="POOL", help="Name or id.")]) -> None:
    """A pool's rules, counts and members."""
    from core.sales.leads import pools

    with transaction() as session:
        tenant = tenant_id(session)
        found = pool(session, tenant, pool_ref)
        counts = pools.pool_stats(session, tenant).get(found.id, pools.PoolStats(0, 0))
        members = _member_table(session, tenant, found.id)
    console.print(
        f"[bold]{found.name}[/] ({found.id}) {'active' if found.active else 'inactive'}: "
        f"{counts.unowned} unowned, {counts.owned} owned"
    )
    if found.description:
        console.print(found.description)
    console.print_json(found.rules.model_dump_json())
    console.print(members)


@pool_app.command("update")
@reports_errors
def pool_update(
    pool_ref: Annotated[str, typer.Argument(metavar="POOL", help="Name or id.")],
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    rules: Annotated[Path | None, typer.Option(help="New rules, the whole document.")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
) -> None:
    """Change a pool; new rules apply from each lead's next owner change."""
    from core.sales.leads import pools

    changes: dict[str, Any] = {
        k: v
        for k, v in {"name": name, "description": description, "active": active}.items()
        if v is not None
    }
    if rules is not None:
        changes["rules"] = read_document(rules, "rules")
    if not changes:
        fail("nothing to change", "give --name, --description, --rules or --active/--inactive", 2)
    with transaction() as session:
        tenant = tenant_id(session)
        found = pools.update_pool(session, tenant, pool(session, tenant, pool_ref).id, changes)
    console.print(f"pool {found.name} updated: {', '.join(sorted(changes))}")


@member_app.command("add")
@reports_errors
def member_add(
    pool_ref: Annotated[str, typer.Argument(metavar="POOL", help="Name or id.")],
    user: Annotated[str | None, typer.Option(help="A user (e-mail or id).")] = None,
    team: Annotated[str | None, typer.Option(help="A team id of the `teams` setting.")] = None,
    role: Annotated[str, typer.Option(help="member (claims) or admin (also assigns).")] = "member",
) -> None:
    """Add (or change the role of) a user or a team."""
    from core.sales.leads import pools

    if role not in ("member", "admin"):
        raise DataError(
            f"--role: {role!r} is not a pool role", field="role", hint="member or admin"
        )
    with transaction() as session:
        tenant = tenant_id(session)
        found = pool(session, tenant, pool_ref)
        who = user_id(session, tenant, user) if user is not None else None
        try:
            pools.add_member(
                session,
                tenant,
                found.id,
                user_id=who,
                team_id=team,
                role=role,  # type: ignore[arg-type]
            )
        except IntegrityError:  # pragma: no cover - add_member replaces an existing row
            raise ConflictError("already a member", hint="remove it first") from None
    console.print(f"{user or 'team ' + str(team)} is now {role} of pool {found.name}")


@member_app.command("remove")
@reports_errors
def member_remove(
    pool_ref: Annotated[str, typer.Argument(metavar="POOL", help="Name or id.")],
    user: Annotated[str | None, typer.Option(help="A user (e-mail or id).")] = None,
    team: Annotated[str | None, typer.Option(help="A team id.")] = None,
) -> None:
    """Remove a user or a team from a pool (their leads stay theirs)."""
    from core.sales.leads import pools

    if (user is None) == (team is None):
        fail("name one member", "give --user or --team", 2)
    with transaction() as session:
        tenant = tenant_id(session)
        found = pool(session, tenant, pool_ref)
        who = user_id(session, tenant, user) if user is not None else None
        pools.remove_member(session, tenant, found.id, user_id=who, team_id=team)
    console.print(f"{user or 'team ' + str(team)} removed from pool {found.name}")


@member_app.command("list")
@reports_errors
def member_list(
    pool_ref: Annotated[str, typer.Argument(metavar="POOL", help="Name or id.")],
) -> None:
    """Members of a pool and their roles."""
    with transaction() as session:
        tenant = tenant_id(session)
        table = _member_table(session, tenant, pool(session, tenant, pool_ref).id)
    console.print(table)


def _member_table(session: Session, tenant: uuid.UUID, pool_id: uuid.UUID) -> Table:
    from core.sales.leads import pools

    members = pools.list_members(session, tenant, pool_id)
    ids = [m.user_id for m in members if m.user_id]
    people = {
        r.id: (r.email, r.name)
        for r in session.execute(
            select(pools.USER.c.id, pools.USER.c.email, pools.USER.c.name).where(
                pools.USER.c.tenant_id == tenant, pools.USER.c.id.in_(ids)
            )
        )
    }
    table = Table("member", "name", "kind", "role")
    for m in members:
        if m.user_id is not None:
            email, name = people.get(m.user_id, (str(m.user_id), ""))
            table.add_row(email, name, "user", m.role)
        else:
            table.add_row(str(m.team_id), "", "team", m.role)
    return table
