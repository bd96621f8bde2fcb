"""`l2c` — the L2C Hub command line."""

from __future__ import annotations

import typer

from api.cli import (
    admin,
    apikeys,
    demo,
    leads,
    mapping,
    quarantine,
    service,
    singer,
    sync,
    writeback,
)

app = typer.Typer(
    name="l2c",
    help="L2C Hub: keep a canonical SFA store in sync with ERPs, files and any Singer tap.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
admin.register(app)
app.command("demo")(demo.demo)
app.add_typer(sync.connection_app, name="connection")
app.add_typer(sync.job_app, name="job")
app.add_typer(sync.sync_app, name="sync")
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(mapping.app, name="mapping")
app.add_typer(singer.app, name="singer")
app.add_typer(apikeys.app, name="apikey")
app.add_typer(writeback.app, name="writeback")
leads.register(app)  # user, pool, setting, lead, routing, leads, scoring, rfm
service.register(app)

if __name__ == "__main__":
    app()
