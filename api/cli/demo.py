"""`l2c demo`: the embedded default with bundled demo data, end to end.

Real connectors and mappings do the work: the files connector reads an ERP's customer,
contact, order exports, an Excel material master and a GB18030 bank statement; the
built-in mappings turn them into canonical records; defects land in quarantine.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import func, select

from api.cli.context import console, engine, reports_errors, settings, transaction
from api.cli.sync import print_report
from core.clock import utcnow
from core.security.secrets import generate_key
from core.settings import CoreSettings, get_settings

CONNECTION = "demo-erp"
JOB = "demo-erp"
MAPPINGS = [
    "files/demo_accounts",
    "files/demo_contacts",
    "files/demo_products",
    "files/demo_orders",
    "files/demo_payments",
]
STREAMS = [
    {"name": "customers", "pattern": "customers*.csv", "key_properties": ["customer_code"]},
    {"name": "contacts", "pattern": "contacts.csv", "key_properties": ["contact_id"]},
    {"name": "products", "pattern": "products.xlsx", "key_properties": ["物料编码"]},
    {"name": "orders", "pattern": "orders.jsonl", "key_properties": ["order_no"]},
    {"name": "payments", "pattern": "payments.csv", "key_properties": ["流水号"]},
]


def _bundled() -> Path:
    return Path(str(resources.files("api.cli") / "demo_data"))


@reports_errors
def demo(
    keep: Annotated[bool, typer.Option("--keep", help="Keep an existing demo database.")] = False,
    serve_api: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="End by serving the API on 127.0.0.1:8000."),
    ] = True,
    port: Annotated[int, typer.Option(help="TCP port of the API.")] = 8000,
) -> None:
    """Run L2C Hub on its embedded default (SQLite) with demo data, show what happened,
    then serve the API, a worker and the beat with an admin key for the demo tenant."""
    from core.store.migrate import upgrade
    from core.store.tenants import ensure_tenant
    from scheduler.connections import add_connection
    from scheduler.jobs import add_job

    config = _with_secret_key(settings())
    folder = config.data_dir.resolve() / "demo-files"
    embedded = config.database_url is None
    if embedded and not keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{config.data_dir.resolve() / 'l2c.db'}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    for item in _bundled().iterdir():
        if item.is_file() and not (folder / item.name).exists():
            shutil.copy2(item, folder / item.name)

    console.print(
        Panel.fit(
            f"L2C Hub demo — embedded store {engine().url.render_as_string(hide_password=True)}\n"
            f"source files: {folder}",
            border_style="cyan",
        )
    )
    upgrade(engine())
    with transaction() as session:
        tenant = ensure_tenant(session, config.tenant, "Demo tenant")
        from core.model.tables import Connection

        if not session.scalar(
            select(Connection.id).where(
                Connection.tenant_id == tenant.id, Connection.name == CONNECTION
            )
        ):
            connection = add_connection(
                session,
                tenant,
                name=CONNECTION,
                connector="files",
                config={"path": str(folder), "streams": STREAMS},
            )
            add_job(session, tenant, name=JOB, connection=connection, mappings=MAPPINGS)

    sample = folder / "sample-customer.json"
    sample.write_text(_SAMPLE, encoding="utf-8")

    _step("1. First sync: five exports through five mappings")
    print_report(_run())
    _step("2. The same files again: fingerprints unchanged, nothing is read")
    print_report(_run())
    _step("3. Day 2: the ERP re-exports two customers — one newer, one older than we hold")
    shutil.copy2(_bundled() / "day2" / "customers_day2.csv", folder / "customers_day2.csv")
    print_report(_run())
    _summary(sample)
    _step("4. Lead management: a month of pools, routing, claims, returns and recycling")
    _leads()
    key = _admin_key()
    console.print(
        Panel.fit(
            f"API key of the demo tenant (admin; shown once):\n  {key}\n\n"
            f"  export L2C_KEY={key}\n"
            f'  curl -H "Authorization: Bearer $L2C_KEY" '
            f"http://127.0.0.1:{port}/v1/accounts?limit=3\n"
            f"  API reference: http://127.0.0.1:{port}/docs",
            title="the API",
            border_style="green",
        )
    )
    if serve_api:
        from api.cli.service import serve

        _step(
            f"5. Serving the API on http://127.0.0.1:{port}, a worker and the beat (Ctrl-C stops)"
        )
        serve(host="127.0.0.1", port=port, workers_in_process=True, concurrency=None)


def _with_secret_key(config: CoreSettings) -> CoreSettings:
    """The demo needs a secret key for connection and webhook secrets: without
    L2C_SECRET_KEY it keeps one of its own in the data folder (readable by you only)."""
    if config.secret_key is not None:
        return config
    path = config.data_dir.resolve() / "demo-secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(generate_key(), encoding="ascii")
    os.environ["L2C_SECRET_KEY"] = path.read_text(encoding="ascii").strip()
    get_settings.cache_clear()
    return settings()


def _admin_key() -> str:
    """A fresh admin key named `demo` (earlier demo keys are revoked)."""
    from core.security.apikeys import create_key, list_keys
    from core.store.tenants import get_tenant

    with transaction() as session:
        tenant = get_tenant(session, settings().tenant)
        for old in list_keys(session, tenant.id):
            if old.name == "demo" and old.revoked_at is None:
                old.revoked_at = utcnow()
        _, text = create_key(session, tenant.id, name="demo", scopes=["admin"])
    return text


_SAMPLE = """{
  "customer_code": "C000777", "company_name": "华为技术有限公司", "uscc": "914403001922038216",
  "industry_code": "02", "province": "广东省", "city": "深圳市", "address": "龙岗区坂田华为基地",
  "phone": "0755-2878 0808", "email": "Sales@Example.CN", "credit_limit": "5,000,000.00",
  "currency": "RMB", "payment_terms": "月结60天", "updated_at": "2024-05-06 14:30:00"
}
"""


def _step(title: str) -> None:
    console.rule(f"[bold]{title}", align="left")


def _run():  # type: ignore[no-untyped-def]
    from api.cli.sync import _run_with_progress

    return _run_with_progress(JOB, None)


def _summary(sample: Path) -> None:
    from core.model import tables as t
    from core.store.tenants import get_tenant

    with transaction() as session:
        tenant = get_tenant(session, settings().tenant)
        counts = Table("entity", "records", title="Canonical store")
        for label, model in [
            ("accounts", t.Account),
            ("contacts", t.Contact),
            ("products", t.Product),
            ("orders", t.Order),
            ("order lines", t.OrderLine),
            ("payments", t.Payment),
            ("external refs", t.ExternalRef),
            ("change log", t.RecordChange),
        ]:
            total = session.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == tenant.id)
            )
            counts.add_row(label, f"{total:,}")
        accounts = Table("name", "USCC", "city", "credit limit", "sources", title="Some accounts")
        rows = session.execute(
            select(t.Account, func.count(t.ExternalRef.external_id))
            .join(t.ExternalRef, t.ExternalRef.entity_id == t.Account.id)
            .where(t.Account.tenant_id == tenant.id)
            .group_by(t.Account.id)
            .order_by(func.count(t.ExternalRef.external_id).desc(), t.Account.name)
            .limit(6)
        )
        for account, refs in rows:
            credit = (
                f"{account.credit_limit:,.2f} {account.credit_currency or ''}"
                if account.credit_limit
                else ""
            )
            accounts.add_row(
                account.name, account.uscc or "", account.city or "", credit, str(refs)
            )
        quarantine = Table(
            "stream", "external id", "reason", "message", title="Quarantine (fix and replay)"
        )
        for entry in session.scalars(
            select(t.Quarantine).where(
                t.Quarantine.tenant_id == tenant.id, t.Quarantine.status == "open"
            )
        ):
            quarantine.add_row(
                entry.stream, entry.external_id or "", entry.reason, entry.message.split("; ")[0]
            )
    console.print(counts)
    console.print(accounts)
    console.print(quarantine)
    console.print(
        Panel.fit(
            "Explore the store (same data folder, so run these from here):\n"
            "  l2c sync runs                          runs and their counts\n"
            "  l2c quarantine list / show ID          what was refused and why\n"
            f"  l2c mapping test files/demo_accounts {sample}\n"
            "  l2c singer tap --entities account | head -3\n"
            "Add your own: l2c connection add / l2c job add / l2c sync run (see README.md)",
            title="next",
            border_style="green",
        )
    )


def _leads() -> None:
    """Play the lead story (scheduler/lead_demo.py) and show what it left behind."""
    from core.model.tables import LeadScore, table_of
    from core.sales import customer_value
    from core.sales.leads import ownership, pools
    from core.store.tenants import get_tenant
    from scheduler import lead_demo

    with transaction() as session:
        tenant = get_tenant(session, settings().tenant)
        story = lead_demo.seed(session, tenant.id)
        stats = pools.pool_stats(session, tenant.id)
        table = Table("pool", "unowned", "owned", "claim budget", "deadlines", title="Lead pools")
        for pool in pools.list_pools(session, tenant.id):
            held = stats.get(pool.id, pools.PoolStats(0, 0))
            d = pool.rules.deadlines
            table.add_row(
                pool.name,
                str(held.unowned),
                str(held.owned),
                f"{pool.rules.claim_budget}/{pool.rules.budget_period}",
                f"follow up {d.followup_days}d, convert {d.convert_days}d",
            )
        console.print(table)
        refused = Table("refused", title="What the rules refused (409 in the API)")
        for line in story.refused:
            refused.add_row(line)
        console.print(refused)
        console.print(
            f"recycled today: {story.recycled} leads nobody followed up; "
            f"reminders sent: {story.reminded}; converted: {story.converted}"
        )
        returned = session.scalar(
            select(ownership.EVENT.c.lead_id)
            .where(ownership.EVENT.c.tenant_id == tenant.id, ownership.EVENT.c.action == "return")
            .limit(1)
        )
        if returned is not None:
            history = Table(
                "when", "action", "via", "reason", title=f"Ownership of lead {returned}"
            )
            for event in reversed(ownership.history(session, tenant.id, returned)):
                history.add_row(
                    f"{event.at:%Y-%m-%d %H:%M}", event.action, event.via, event.reason_code or ""
                )
            console.print(history)
        SCORE = table_of(LeadScore)  # noqa: N806
        scores = Table("lead", "grade", "fit %", "behaviour", "PLS %", title="Top scored leads")
        rows = session.execute(
            select(
                SCORE.c.lead_id,
                SCORE.c.grade,
                SCORE.c.attribute_percent,
                SCORE.c.behaviour_points,
                SCORE.c.pls_probability,
            )
            .where(SCORE.c.tenant_id == tenant.id)
            .order_by(SCORE.c.grade, SCORE.c.behaviour_points.desc())
            .limit(5)
        ).all()
        for lead_id, grade, fit, points, pls in rows:
            scores.add_row(str(lead_id), grade, str(fit), str(points), str(pls or ""))
        console.print(scores)
        if story.ml_reason:
            console.print(f"ML probability not shown: {story.ml_reason} (the minimum-sample rule)")
        segments = Table(
            "segment",
            "accounts",
            "monetary",
            title=f"RFM segments of the accounts, as of {story.rfm_as_of}",
        )
        for seg in customer_value.segments(session, tenant.id):
            if seg.accounts:
                segments.add_row(str(seg.segment), str(seg.accounts), f"{seg.monetary:,.2f}")
        console.print(segments)
    console.print(
        Panel.fit(
            "  l2c pool list                      pools with unowned / owned counts\n"
            "  l2c lead ownership LEAD_ID         who had it, why it moved, its deadline\n"
            "  l2c lead score LEAD_ID             the score explained, rule by rule\n"
            "  l2c rfm segments                   accounts per RFM segment\n"
            "  l2c leads recycle / remind         run today's scheduled work now",
            title="leads",
            border_style="green",
        )
    )
