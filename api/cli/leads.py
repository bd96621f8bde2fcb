"""`l2c user` and `l2c setting`, and what every lead-management command shares.

Pools and members are in api/cli/lead_pools.py; lead operations, routing and the
scheduled work in api/cli/lead_ops.py; scores, conversion, duplicates and RFM in
api/cli/lead_insights.py. All of them act on the
tenant of L2C_TENANT, name users by e-mail or id and pools by name or id, and take
`--as <user>` where the services check who acts (pool admin rights, the audit).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from api.cli.context import console, fail, reports_errors, settings, transaction
from core.errors import ConflictError, DataError, NotFoundError

if TYPE_CHECKING:  # the services load when a command runs, not at start-up
    from core.sales.leads.ownership import Actor
    from core.sales.leads.pools import Pool

ROLES = ("rep", "manager", "admin")
READ_ONLY_SETTINGS = {
    "routing_state": "routing writes it after each run",
    "rfm_state": "the RFM computation writes it",
}
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="The person acting (e-mail or id): pool admin rights and the audit."),
]
NowOption = Annotated[
    str | None,
    typer.Option(help="Run as of this instant (ISO 8601; UTC when no offset), e.g. for demos."),
]

user_app = typer.Typer(
    help="Users of the tenant (sales reps, managers, admins).", no_args_is_help=True
)
setting_app = typer.Typer(
    help="Lead-management settings documents (icp, behaviour, grades, routing, teams, ...).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add every lead-management command group to `l2c`."""
    from api.cli import lead_insights, lead_ops, lead_pools

    app.add_typer(user_app, name="user")
    app.add_typer(lead_pools.pool_app, name="pool")
    app.add_typer(setting_app, name="setting")
    lead_ops.register(app)
    lead_insights.register(app, lead_ops.lead_app)


# ----------------------------------------------------------------------------- helpers
def tenant_id(session: Session) -> uuid.UUID:
    from core.store.tenants import get_tenant

    return get_tenant(session, settings().tenant).id


def as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def parse_id(value: str, field: str, what: str) -> uuid.UUID:
    found = as_uuid(value)
    if found is None:
        raise DataError(
            f"{field}: {value!r} is not a {what} id", field=field, hint=f"give the {what}'s UUID"
        )
    return found


def user_id(session: Session, tenant: uuid.UUID, ref: str, field: str = "--user") -> uuid.UUID:
    """A user named by id or e-mail (case-insensitive)."""
    from core.sales.leads.pools import USER, require_user

    by_id = as_uuid(ref)
    if by_id is not None:
        return require_user(session, tenant, by_id).id
    found: uuid.UUID | None = session.scalar(
        select(USER.c.id).where(USER.c.tenant_id == tenant, func.lower(USER.c.email) == ref.lower())
    )
    if found is None:
        raise DataError(
            f"{field}: no user with e-mail or id {ref!r}",
            field=field,
            code="unknown_reference",
            hint="list users: l2c user list",
        )
    return found


def actor(session: Session, tenant: uuid.UUID, as_: str | None) -> Actor:
    from core.sales.leads.ownership import Actor

    if as_ is None:
        return Actor("cli", "cli")
    return Actor.user(user_id(session, tenant, as_, "--as"), via="cli")


def pool(session: Session, tenant: uuid.UUID, ref: str) -> Pool:
    """A pool named by id or name."""
    from core.sales.leads import pools

    by_id = as_uuid(ref)
    if by_id is not None:
        return pools.get_pool(session, tenant, by_id)
    found = pools.pool_by_name(session, tenant, ref)
    if found is None:
        raise NotFoundError(f"no lead pool named {ref!r}", hint="list pools: l2c pool list")
    return found


def instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--now: {text!r} is not an ISO 8601 instant", "e.g. 2026-03-09T09:00:00+08:00", 2)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_document(path: Path, what: str) -> Any:
    """A YAML or JSON file (JSON is read as JSON, anything else as YAML)."""
    from api.cli.context import read_json_file

    if path.suffix.lower() == ".json":
        return read_json_file(path, what)
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        fail(f"cannot read the {what} file {path}: {error.strerror}")
    except yaml.YAMLError as error:
        fail(f"the {what} file {path} is neither YAML nor JSON: {error}")


def when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def short(value: uuid.UUID | None) -> str:
    return "" if value is None else str(value)


# ----------------------------------------------------------------------------- users
@user_app.command("add")
@reports_errors
def user_add(
    email: Annotated[str, typer.Argument(help="E-mail (unique in the tenant).")],
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[str, typer.Option(help="rep, manager or admin.")] = "rep",
) -> None:
    """Add a user; managers and admins administer every pool."""
    from core.sales.leads.pools import USER

    _check_role(role)
    with transaction() as session:
        tenant = tenant_id(session)
        _check_email_free(session, tenant, email)
        new = uuid.uuid4()
        now = datetime.now(UTC)
        session.execute(
            insert(USER).values(
                id=new,
                tenant_id=tenant,
                email=email.strip(),
                name=name,
                role=role,
                active=True,
                created_at=now,
                updated_at=now,
            )
        )
    console.print(f"user {email} added ({role}), id {new}")


@user_app.command("list")
@reports_errors
def user_list(
    inactive: Annotated[bool, typer.Option("--all", help="Include inactive users.")] = False,
) -> None:
    """Users by e-mail."""
    from core.sales.leads.pools import USER

    table = Table("id", "email", "name", "role", "active")
    with transaction() as session:
        query = select(USER).where(USER.c.tenant_id == tenant_id(session)).order_by(USER.c.email)
        if not inactive:
            query = query.where(USER.c.active.is_(True))
        for row in session.execute(query):
            table.add_row(str(row.id), row.email, row.name, row.role, "yes" if row.active else "no")
    console.print(table)


@user_app.command("update")
@reports_errors
def user_update(
    user: Annotated[str, typer.Argument(help="E-mail or id.")],
    email: Annotated[str | None, typer.Option(help="New e-mail.")] = None,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    role: Annotated[str | None, typer.Option(help="rep, manager or admin.")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Inactive users get no leads.")
    ] = None,
) -> None:
    """Change a user; an inactive user is skipped by routing and may not claim."""
    from core.sales.leads.pools import USER

    values: dict[str, Any] = {
        k: v
        for k, v in {"email": email, "name": name, "role": role, "active": active}.items()
        if v is not None
    }
    if not values:
        fail("nothing to change", "give --email, --name, --role or --active/--inactive", 2)
    if role is not None:
        _check_role(role)
    with transaction() as session:
        tenant = tenant_id(session)
        found = user_id(session, tenant, user, "user")
        if email is not None:
            _check_email_free(session, tenant, email, found)
        session.execute(
            update(USER)
            .where(USER.c.tenant_id == tenant, USER.c.id == found)
            .values(**values, updated_at=datetime.now(UTC))
        )
    console.print(f"user {found} updated: {', '.join(sorted(values))}")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise DataError(
            f"--role: {role!r} is not a role", field="role", hint=f"one of {', '.join(ROLES)}"
        )


def _check_email_free(
    session: Session, tenant: uuid.UUID, email: str, other_than: uuid.UUID | None = None
) -> None:
    from core.sales.leads.pools import USER

    taken = session.scalar(
        select(USER.c.id).where(
            USER.c.tenant_id == tenant, func.lower(USER.c.email) == email.strip().lower()
        )
    )
    if taken is not None and taken != other_than:
        raise ConflictError(
            f"a user with e-mail {email!r} exists", field="email", hint="l2c user update it instead"
        )


# ----------------------------------------------------------------------------- settings
@setting_app.command("show")
@reports_errors
def setting_show(
    name: Annotated[str | None, typer.Argument(help="Document name; all when omitted.")] = None,
) -> None:
    """A settings document as JSON, or the list of documents with their versions."""
    from core.sales import documents

    with transaction() as session:
        tenant = tenant_id(session)
        if name is None:
            table = Table("name", "version", "description")
            for spec in documents.DOCUMENTS.values():
                _doc, version = documents.get(session, tenant, spec.name)
                shown = str(version) if version else "default"
                table.add_row(spec.name, shown, spec.description)
            console.print(table)
            return
        document, version = documents.get(session, tenant, name)
    console.print(f"[dim]{name}, version {version or 'default'}[/]")
    console.print_json(document.model_dump_json())


@setting_app.command("set")
@reports_errors
def setting_set(
    name: Annotated[str, typer.Argument(help="Document name, e.g. routing or icp.")],
    file: Annotated[Path, typer.Argument(help="The whole document, YAML or JSON.")],
) -> None:
    """Replace a settings document (validated; its version grows by one)."""
    from core.sales import documents

    if name in READ_ONLY_SETTINGS:
        raise ConflictError(
            f"setting {name!r} is read-only: {READ_ONLY_SETTINGS[name]}",
            field="name",
            hint="change the documents it derives from instead",
        )
    raw = read_document(file, name)
    with transaction() as session:
        _doc, version = documents.put(session, tenant_id(session), name, raw)
    console.print(f"setting {name} saved, version {version}")
