"""Singer interoperability: any tap can load into the hub, any target can read from it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from api.cli.context import fail, read_json_file, reports_errors, sessions, settings, transaction

app = typer.Typer(
    help="Act as a Singer target (stdin) or a Singer tap (stdout).", no_args_is_help=True
)
status = Console(stderr=True, highlight=False)


def _read_json(path: Path | None, what: str) -> dict[str, Any]:
    if path is None:
        return {}
    value = read_json_file(path, what)
    if not isinstance(value, dict):
        fail(f"the {what} file {path} must hold a JSON object")
    return value


@app.command("target")
@reports_errors
def target(
    mapping: Annotated[
        list[str] | None, typer.Option(help="Mapping file or built-in name (repeatable).")
    ] = None,
    connection: Annotated[
        str | None, typer.Option(help="Connection name the records belong to.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Singer config JSON: {mappings, connection, batch_size}.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Records per transaction.")] = None,
) -> None:
    """Read Singer messages on stdin into the canonical store; emit each committed STATE.

    Example: tap-jsonl --config tap.json | l2c singer target --mapping customers.yaml
    """
    from core.store.tenants import get_tenant
    from core.sync.singer_io import consume_lines
    from mappings.catalog import load_mapping
    from scheduler.jobs import ensure_stdin_job, execute_run

    options = _read_json(config, "config")
    refs = list(mapping or options.get("mappings") or [])
    if not refs:
        fail("give at least one --mapping", "e.g. --mapping mappings/files/demo_accounts.yaml")
    name = connection or options.get("connection") or f"singer-{load_mapping(refs[0]).stream}"
    with transaction() as session:
        job = ensure_stdin_job(session, get_tenant(session, settings().tenant), name, refs)
        job_name = job.name
    out = sys.stdout.buffer

    def emit_state(state: dict[str, Any]) -> None:
        out.write(orjson.dumps({"type": "STATE", "value": state}) + b"\n")
        out.flush()

    report = execute_run(
        sessions(),
        settings().tenant,
        job_name,
        lambda _connection, _state: (
            lambda sink: consume_lines(sys.stdin.buffer, sink, source="stdin")
        ),
        trigger="singer-target",
        batch_size=batch_size or int(options.get("batch_size") or settings().sync_batch_size),
        on_state_committed=emit_state,
    )
    from api.cli.sync import format_counts

    status.print(f"l2c singer target: {report.status}  {format_counts(report.counts)}")
    for stream, count in sorted(report.unmapped.items()):
        status.print(f"  {count:,} records of stream {stream!r} had no mapping")
    if report.error:
        status.print(f"  {report.error}")
    if report.status == "failed":
        raise typer.Exit(1)


@app.command("tap")
@reports_errors
def tap(
    entities: Annotated[
        str | None, typer.Option(help="Comma-separated entities, e.g. account,contact.")
    ] = None,
    state: Annotated[
        Path | None, typer.Option(help="Singer state JSON from the previous run.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Singer config JSON: {entities}.")] = None,
    discover: Annotated[
        bool, typer.Option("--discover", help="Print the catalog and exit.")
    ] = False,
) -> None:
    """Emit canonical records as Singer streams on stdout, incrementally with STATE.

    Example: l2c singer tap --entities account --state state.json | target-csv
    """
    from core.model.entities import ENTITIES
    from core.store.tenants import get_tenant
    from core.sync.export import export_messages, singer_schema

    options = _read_json(config, "config")
    chosen = entities or ",".join(options.get("entities") or []) or ",".join(sorted(ENTITIES))
    names = [n.strip() for n in chosen.split(",") if n.strip()]
    unknown = sorted(set(names) - set(ENTITIES))
    if unknown:
        fail(
            f"unknown entities: {', '.join(unknown)}", f"choose from {', '.join(sorted(ENTITIES))}"
        )
    out = sys.stdout.buffer
    if discover:
        streams = [
            {
                "tap_stream_id": n,
                "stream": n,
                "schema": singer_schema(ENTITIES[n].read),  # type: ignore[arg-type]
                "key_properties": ["id"],
                "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
            }
            for n in names
        ]
        out.write(orjson.dumps({"streams": streams}, option=orjson.OPT_INDENT_2) + b"\n")
        return
    previous = _read_json(state, "state") or None
    count = 0
    with transaction() as session:
        tenant = get_tenant(session, settings().tenant)
        for message in export_messages(session, tenant.id, names, previous):
            out.write(orjson.dumps(message, default=_decimal_as_number) + b"\n")
            count += message["type"] == "RECORD"
    out.flush()
    status.print(f"l2c singer tap: {count:,} records")


def _decimal_as_number(value: Any) -> Any:
    """Decimals are written as exact JSON numbers (no float rounding)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"cannot serialise {type(value).__name__}")
