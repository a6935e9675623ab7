"""Commands about the pipeline file itself: validate, plan, graph, init and schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from engine import console as out
from engine.cli.common import (
    ConnOpt, DbOpt, DebugOpt, FileArg, GraphFormat, TableFormat, Target, TargetOpt, open_pipeline,
)
import engine


def validate(file: FileArg, target: TargetOpt = Target.local, debug: DebugOpt = False) -> None:
    """Load the file, type-check it, build the graph and lint every query."""
    project = engine.validate(file, target=target.value)
    out.warnings(project.warnings, full=True)
    out.validated(project)


def plan(
    file: FileArg,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    out_file: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Also write the SQL script to this file.", show_default=False)
    ] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Also drop objects the file no longer declares.")] = False,
    format: Annotated[TableFormat, typer.Option("--format", "-f", help="table (with the SQL) or json.")] = TableFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Show what apply would do, and the Snowflake SQL of it, in order."""
    project, backend = open_pipeline(file, target, db, connection, read_only=True, warn=format is TableFormat.table)
    with backend:
        the_plan = engine.plan(project, backend, prune=prune)
    out.plan(the_plan, format.value)
    if out_file:
        out_file.write_text(the_plan.script(), encoding="utf-8")
        out.note(f"wrote {out_file}")


def graph(
    file: FileArg,
    format: Annotated[GraphFormat, typer.Option("--format", "-f", help="text, mermaid, dot, html or json (with columns and types).")] = GraphFormat.text,
    out_file: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Write to this file instead of the terminal.", show_default=False)
    ] = None,
    columns: Annotated[bool, typer.Option("--columns", help="List each dynamic table's columns and types.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Draw the DAG: a text diagram, or Mermaid / DOT / a self-contained HTML page / JSON."""
    from engine import diagram

    project = engine.validate(file, target="snowflake")
    out.warnings(project.warnings, full=False)
    render = {"text": diagram.text, "mermaid": diagram.mermaid, "dot": diagram.dot, "json": diagram.as_json}.get(
        format.value
    )
    if render is None:
        from engine.ui.page import standalone_html

        render = standalone_html
    text = diagram.text(project.graph, columns=columns) if format is GraphFormat.text else render(project.graph)
    if out_file:
        out_file.write_text(text + "\n", encoding="utf-8")
        out.note(f"wrote {out_file}")
    else:
        out.plain(text)


def init(
    name: Annotated[str, typer.Argument(help="The new pipeline's name (letters, digits and _).", show_default=False)],
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write NAME.yaml and generators/NAME.py.", file_okay=False)
    ] = Path("."),
    debug: DebugOpt = False,
) -> None:
    """Start a new pipeline: NAME.yaml and its generator module, ready to validate, apply and stream."""
    from engine.scaffold import init_pipeline

    written = init_pipeline(name, directory)
    out.initialised(written)


def schema(
    tests: Annotated[
        bool, typer.Option("--tests", help="The JSON Schema of a unit tests file (tests/*.yaml beside a pipeline file).")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Print the JSON Schema of the pipeline file (or of a unit tests file), for editors."""
    import json

    from engine.spec.schema import json_schema, tests_json_schema

    out.plain(json.dumps(tests_json_schema() if tests else json_schema(), indent=2))
