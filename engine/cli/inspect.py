"""Commands that read the target: status, history, query and test."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine import console as out
from engine.cli.common import (
    MemoryLimitOpt,
    ConnOpt, DbOpt, DebugOpt, FileArg, QueryFormat, TableFormat, Target, TargetOpt, ctrl_c_cancels, on_ctrl_c, open_pipeline,
    target_options,
)
import engine


def status(
    file: FileArg,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    format: Annotated[TableFormat, typer.Option("--format", "-f", help="table or json.")] = TableFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Each object's rows, target lag, refresh mode, data timestamp and state."""
    project, backend = open_pipeline(file, target, db, connection, read_only=True, forward=True)
    with backend:
        out.status(engine.status(backend), format.value)


def history(
    file: FileArg,
    names: Annotated[Optional[list[str]], typer.Argument(help="Only these dynamic tables.", show_default=False)] = None,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    limit: Annotated[Optional[int], typer.Option(help="At most this many rows.")] = None,
    format: Annotated[TableFormat, typer.Option("--format", "-f", help="table or json.")] = TableFormat.table,
    debug: DebugOpt = False,
) -> None:
    """The refresh history, newest first."""
    project, backend = open_pipeline(file, target, db, connection, read_only=True, forward=True)
    with backend:
        out.history(engine.history(backend, names=names or [], limit=limit), format.value)


def query(
    file: FileArg,
    sql: Annotated[
        Optional[str],
        typer.Argument(help="A Snowflake SQL statement (or several, separated by ;), or - to read it from stdin.",
                       show_default=False),
    ] = None,
    sql_file: Annotated[
        Optional[Path],
        typer.Option("--filename", "-f", help="Read the SQL from this file.", show_default=False, dir_okay=False),
    ] = None,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    format: Annotated[QueryFormat, typer.Option("--format", help="table, csv or json.")] = QueryFormat.table,
    memory_limit: MemoryLimitOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Run a Snowflake SQL query against the target (SQL as an argument, from -f FILE or from - for stdin)."""
    text = _read_sql(sql, sql_file)
    project, backend = open_pipeline(file, target, db, connection, forward=True, memory_limit=memory_limit)
    result = None
    with backend, ctrl_c_cancels(backend), on_ctrl_c(lambda: QUERY_CANCELLED if result is None else QUERY_FINISHED):
        result = engine.query(backend, text)
        out.query_result(result, format.value)


QUERY_CANCELLED = "stopped; the statement was cancelled and nothing it did was kept"
QUERY_FINISHED = "stopped while printing; the statement had finished (whatever it changed is kept)"


def _read_sql(sql: str | None, sql_file: Path | None) -> str:
    if (sql is None) == (sql_file is None):
        raise engine.PlanError(
            "pipe query needs the SQL once", hint='give it as an argument ("SELECT …"), with -f FILE, or - for stdin'
        )
    if sql_file is not None:
        try:
            text = sql_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise engine.PlanError(f"cannot read {sql_file}: {exc.strerror or exc}", hint="check the path") from None
    elif sql == "-":
        text = sys.stdin.read()
    else:
        text = sql
    if not text.strip():
        raise engine.PlanError("the SQL is empty", hint="write a statement, e.g. SELECT COUNT(*) FROM MY_TABLE")
    return text


def test(
    file: FileArg,
    names: Annotated[
        Optional[list[str]], typer.Argument(help="Only these tables, checks or unit tests.", show_default=False)
    ] = None,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    format: Annotated[TableFormat, typer.Option("--format", "-f", help="table or json.")] = TableFormat.table,
    memory_limit: MemoryLimitOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Run the declared checks and query unit tests now; exit 1 when an error check or a unit test fails."""
    project = engine.validate(file, target=target.value)
    options = target_options(target, db, connection, project, memory_limit=memory_limit)
    if target is Target.local:  # unit tests need no database: without one, checks report it
        options.update(read_only=not Path(options["db"]).exists(), create=False)
    with project.backend(target.value, **options) as backend:
        report = engine.run_tests(project, backend, names or [])
    out.test_report(report, format.value)
    if not report.ok:
        raise typer.Exit(1)
