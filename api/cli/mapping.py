"""Mappings: list the built-in ones, check a document, test it on sample records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.syntax import Syntax

from api.cli.context import console, err_console, read_json_file, reports_errors

app = typer.Typer(
    help="Mapping documents (source stream -> canonical entity).", no_args_is_help=True
)


@app.command("list")
@reports_errors
def list_() -> None:
    """Built-in mappings shipped with L2C Hub."""
    from mappings.catalog import list_builtin

    for name in list_builtin():
        console.print(name)


@app.command("check")
@reports_errors
def check(spec: Annotated[str, typer.Argument(help="Mapping file or built-in name.")]) -> None:
    """Compile a mapping and report every problem with file, line and field."""
    from mappings.catalog import load_mapping

    mapping = load_mapping(spec)
    console.print(f"[green]ok[/] {mapping.name}: {mapping.stream} -> {mapping.entity}")


@app.command("test")
@reports_errors
def test(
    spec: Annotated[str, typer.Argument(help="Mapping file or built-in name.")],
    sample: Annotated[Path, typer.Argument(help="JSON file: one source record or a list of them.")],
) -> None:
    """Show what sample records become: the canonical record, or the precise error."""
    from mappings.catalog import load_mapping
    from scheduler.mapping_docs import preview_records

    mapping = load_mapping(spec)
    loaded = read_json_file(sample, "sample")
    records = loaded if isinstance(loaded, list) else [loaded]
    failures = 0
    for number, result in enumerate(preview_records(mapping, records), start=1):
        label = f"record {number}" if len(records) > 1 else "record"
        if result.shown is not None:
            body = orjson.dumps(result.shown, option=orjson.OPT_INDENT_2).decode()
            console.print(f"[bold]{label}[/] -> {mapping.entity}")
            console.print(Syntax(body, "json", word_wrap=True))
        for problem in result.problems:
            failures += 1
            where = f" [bold]{problem.field}[/]" if problem.field else ""
            err_console.print(f"[red]{label}{where}:[/] {problem.message}")
            if problem.hint:
                err_console.print(f"  [dim]hint:[/] {problem.hint}")
    if failures:
        raise typer.Exit(65)
