"""The ``pipe`` command line: thin commands over the library, one error boundary."""

from __future__ import annotations

import re
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine import console as out
from engine.errors import InUseError, is_interrupt
import engine

app = typer.Typer(
    name="pipe",
    help="Declare Snowflake Dynamic Table pipelines in YAML; plan, run locally on DuckDB, deploy to Snowflake.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Target(str, Enum):
    local = "local"
    snowflake = "snowflake"


class TableFormat(str, Enum):
    table = "table"
    json = "json"


class QueryFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class GraphFormat(str, Enum):
    text = "text"
    mermaid = "mermaid"
    dot = "dot"
    html = "html"
    json = "json"


FileArg = Annotated[Path, typer.Argument(help="The pipeline YAML file.", show_default=False)]
TargetOpt = Annotated[Target, typer.Option("--target", "-t", help="Where to run: local (DuckDB) or snowflake.")]
DbOpt = Annotated[
    Optional[Path], typer.Option("--db", help="Local DuckDB file (default .pipe/<name>.duckdb).", show_default=False)
]
ConnOpt = Annotated[
    Optional[str],
    typer.Option("--connection", "-c", help="Snowflake connection name from connections.toml.", show_default=False),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]
PortOpt = Annotated[
    Optional[int],
    typer.Option("--port", help="Port on 127.0.0.1 (default 8765, or any free port if taken; 0 = any).", show_default=False),
]
NoBrowserOpt = Annotated[bool, typer.Option("--no-browser", help="Do not open the page in a browser.")]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            out.plain(f"pipe {version('pipe')}")
        except PackageNotFoundError:
            out.plain("pipe (not installed: run pip install -e .)")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", help="Show the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """Declare Snowflake Dynamic Table pipelines in YAML; plan, run locally on DuckDB, deploy to Snowflake."""


def _options(
    target: Target, db: Path | None, connection: str | None, project, *, read_only: bool = False, create: bool = False
) -> dict:
    if target is Target.local:
        path = db or Path(".pipe") / f"{project.pipeline.name}.duckdb"
        return {"db": path, "read_only": read_only, "create": create}
    return {"connection": connection}


def _open(
    file: Path,
    target: Target,
    db: Path | None,
    connection: str | None,
    *,
    read_only: bool = False,
    warn: bool = False,
    create: bool = False,
    forward: bool = False,
):
    """Validate the file and open the target. ``plan`` shows the lint warnings in full; the other
    commands count them in one line rather than repeating them before every output.

    A local database held by pipe ui is read through it when ``forward`` (status, history, query);
    other commands are told how to go on."""
    project = engine.validate(file, target=target.value)
    out.warnings(project.warnings, full=warn)
    options = _options(target, db, connection, project, read_only=read_only, create=create)
    try:
        backend = project.backend(target.value, **options)
    except InUseError as exc:
        from engine.ui.client import through_owner

        backend = through_owner(options["db"], exc, read=forward)
    return project, backend


def _ctrl_c_cancels(backend):
    """Ctrl-C cancels the statement the backend runs at once, rather than when it ends."""
    from engine import interrupts

    return interrupts.cancelling(backend.interrupt)


@app.command()
def validate(file: FileArg, target: TargetOpt = Target.local, debug: DebugOpt = False) -> None:
    """Load the file, type-check it, build the graph and lint every query."""
    project = engine.validate(file, target=target.value)
    out.warnings(project.warnings, full=True)
    out.validated(project)


@app.command()
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
    project, backend = _open(file, target, db, connection, read_only=True, warn=format is TableFormat.table)
    with backend:
        the_plan = engine.plan(project, backend, prune=prune)
    out.plan(the_plan, format.value)
    if out_file:
        out_file.write_text(the_plan.script(), encoding="utf-8")
        out.note(f"wrote {out_file}")


@app.command()
def apply(
    file: FileArg,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    yes: YesOpt = False,
    prune: Annotated[bool, typer.Option("--prune", help="Also drop objects the file no longer declares.")] = False,
    adopt: Annotated[
        Optional[list[str]],
        typer.Option("--adopt", help="Take over a table of this declared name that pipe did not create, keeping its rows (repeatable).", metavar="NAME"),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Make the target match the file (idempotent: a second apply changes nothing)."""
    project, backend = _open(file, target, db, connection, create=True)
    with backend, _ctrl_c_cancels(backend):
        reporter = out.reporter()
        the_plan, results = engine.apply(
            project, backend, reporter=reporter, confirm=None if yes else out.confirm_plan, prune=prune,
            adopt=adopt or (),
        )
        out.applied(the_plan, results, reporter.refreshes)
        if results:
            out.sinks(project, backend)


@app.command()
def destroy(
    file: FileArg,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    yes: YesOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Drop everything the file declares, in reverse dependency order."""
    project, backend = _open(file, target, db, connection)
    with backend, _ctrl_c_cancels(backend):
        the_plan, results = engine.destroy(
            project, backend, reporter=out.reporter(), confirm=None if yes else out.confirm_destroy
        )
    out.destroyed(the_plan, results)


@app.command()
def stream(
    file: FileArg,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    batches: Annotated[Optional[int], typer.Option(help="Number of batches (default: the file's).")] = None,
    records: Annotated[Optional[int], typer.Option(help="Rows per batch (default: the file's).")] = None,
    delay: Annotated[Optional[float], typer.Option(help="Seconds between batches (default: the file's).")] = None,
    until_fresh: Annotated[
        bool, typer.Option("--until-fresh", help="At the end, wait until every dynamic table is within its lag.")
    ] = False,
    ui: Annotated[bool, typer.Option("--ui", help="Also serve the live page (as pipe ui) while streaming; it stays up until Ctrl-C.")] = False,
    port: PortOpt = None,
    no_browser: NoBrowserOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Insert generated batches and watch the dynamic tables refresh as they cascade."""
    project, backend = _open(file, target, db, connection)
    settings = engine.stream_settings(project, batches=batches, records=records, delay=delay)
    with backend:
        with out.stream_display(project, settings) as reporter:
            try:
                if ui:
                    _serve_page(project, backend, reporter, port, not no_browser, settings, until_fresh)
                else:
                    with _ctrl_c_cancels(backend):
                        engine.stream(project, backend, settings, reporter=reporter, until_fresh=until_fresh)
            except BaseException as exc:
                if not (isinstance(exc, KeyboardInterrupt) or is_interrupt(exc)):
                    raise
                # A clean stop, not a failure: say what was kept.
                out.stream_stopped(reporter, settings)
                sys.exit(130)
        out.sinks(project, backend)


def _serve_page(project, backend, reporter, port, browser: bool, settings=None, until_fresh: bool = False) -> None:
    from engine.ui import UiServer

    command = "pipe stream --ui" if settings is not None else "pipe ui"
    with UiServer(project, backend, port=port, reporter=reporter, command=command) as server:
        out.plain(f"pipe ui: serving {server.url} (Ctrl-C stops)")
        if browser and not server.open_browser():
            out.note("no desktop browser here: open the address above")
        if settings is not None:
            server.run_stream(settings, until_fresh=until_fresh)
            out.note(f"the page stays live at {server.url} until Ctrl-C")
        server.wait()


@app.command()
def ui(
    file: FileArg,
    port: PortOpt = None,
    no_browser: NoBrowserOpt = False,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Serve a live page on 127.0.0.1: the DAG, refresh states, history and dashboard; stream batches from it.

    This process is the database's writer while it runs: stream from the page (or use pipe stream --ui).
    """
    project, backend = _open(file, target, db, connection)
    with backend:
        _serve_page(project, backend, out.StreamReporter(project, None), port, not no_browser)


@app.command()
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


@app.command()
def status(
    file: FileArg,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    format: Annotated[TableFormat, typer.Option("--format", "-f", help="table or json.")] = TableFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Each object's rows, target lag, refresh mode, data timestamp and state."""
    project, backend = _open(file, target, db, connection, read_only=True, forward=True)
    with backend:
        out.status(engine.status(backend), format.value)


@app.command()
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
    project, backend = _open(file, target, db, connection, read_only=True, forward=True)
    with backend:
        out.history(engine.history(backend, names=names or [], limit=limit), format.value)


@app.command()
def refresh(
    file: FileArg,
    names: Annotated[Optional[list[str]], typer.Argument(help="Dynamic tables to refresh (default: all).", show_default=False)] = None,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Recompute fully instead of incrementally.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Refresh now, upstream first at one data timestamp, like ALTER DYNAMIC TABLE … REFRESH."""
    project, backend = _open(file, target, db, connection)
    with backend, _ctrl_c_cancels(backend):
        out.history(engine.refresh(project, backend, names or [], full=full, reporter=out.reporter()), "table")


@app.command()
def query(
    file: FileArg,
    sql: Annotated[
        Optional[str],
        typer.Argument(help="A Snowflake SQL statement, or - to read it from stdin.", show_default=False),
    ] = None,
    sql_file: Annotated[
        Optional[Path],
        typer.Option("--filename", "-f", help="Read the SQL from this file.", show_default=False, dir_okay=False),
    ] = None,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    format: Annotated[QueryFormat, typer.Option("--format", help="table, csv or json.")] = QueryFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Run a Snowflake SQL query against the target (SQL as an argument, from -f FILE or from - for stdin)."""
    text = _read_sql(sql, sql_file)
    project, backend = _open(file, target, db, connection, forward=True)
    with backend, _ctrl_c_cancels(backend):
        out.query_result(engine.query(backend, text), format.value)


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


@app.command()
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


@app.command()
def schema(debug: DebugOpt = False) -> None:
    """Print the JSON Schema of the pipeline file, for editors."""
    import json

    from engine.spec.schema import json_schema

    out.plain(json.dumps(json_schema(), indent=2))


@app.command()
def test(
    file: FileArg,
    names: Annotated[
        Optional[list[str]], typer.Argument(help="Only these tables, checks or unit tests.", show_default=False)
    ] = None,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    format: Annotated[TableFormat, typer.Option("--format", "-f", help="table or json.")] = TableFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Run the declared checks and query unit tests now; exit 1 when an error check or a unit test fails."""
    project = engine.validate(file, target=target.value)
    options = _options(target, db, connection, project)
    if target is Target.local:  # unit tests need no database: without one, checks report it
        options.update(read_only=not Path(options["db"]).exists(), create=False)
    with project.backend(target.value, **options) as backend:
        report = engine.run_tests(project, backend, names or [])
    out.test_report(report, format.value)
    if not report.ok:
        raise typer.Exit(1)


def _usage_error_class() -> type[Exception]:
    """Click's ClickException as this Typer raises it (recent Typer versions vendor Click)."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # Typer on the real Click
        from click.exceptions import ClickException
    return ClickException


def _sql_comments_are_arguments(args: list[str]) -> list[str]:
    """SQL that opens with a ``-- comment`` is an argument, not an unknown option: a leading
    newline (which SQL ignores) keeps the parser from reading it as one."""
    return ["\n" + a if re.match(r"--\s", a) else a for a in args]


def main() -> None:
    """Entry point: run the app, turning library errors into one red line and exit code 1."""
    usage_error = _usage_error_class()
    debug = "--debug" in sys.argv
    if debug:  # cleanup failures that never replace the first error are logged
        import logging

        logging.basicConfig(level=logging.DEBUG, format="debug: %(message)s")
    try:
        code = app(args=_sql_comments_are_arguments(sys.argv[1:]), prog_name="pipe", standalone_mode=False)
    except engine.PipeError as exc:
        if debug:
            raise
        out.error(exc)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        out.error("interrupted")
        sys.exit(130)
    except usage_error as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug, not bad input: say so in one line
        if is_interrupt(exc):
            out.error("interrupted")
            sys.exit(130)
        if debug:
            raise
        out.error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
        sys.exit(2)
    # Without standalone mode, Typer returns the exit code of an Exit it caught, e.g. 130 for a
    # Ctrl-C that arrived outside any pipe code.
    if isinstance(code, int) and code:
        if code == 130:
            out.error("interrupted")
        sys.exit(code)


if __name__ == "__main__":
    main()
