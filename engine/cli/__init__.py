"""The ``pipe`` command line: thin commands over the library, one error boundary.

The commands live by what they do (:mod:`.define`, :mod:`.deploy`, :mod:`.live`,
:mod:`.inspect`); they are registered here, in the order ``pipe --help`` lists them, and
:func:`main` runs them inside the error boundary of :mod:`.entry`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from engine import console as out
from engine.cli import define, deploy, inspect, live

app = typer.Typer(
    name="pipe",
    help="Declare Snowflake Dynamic Table pipelines in YAML; plan, run locally on DuckDB, deploy to Snowflake.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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


for _command in (
    define.validate, define.plan, deploy.apply, deploy.destroy, live.stream, live.ui, define.graph,
    inspect.status, inspect.history, deploy.refresh, inspect.query, define.init, define.schema, inspect.test,
):
    app.command()(_command)


def main() -> None:
    """Entry point: run the app, turning library errors into one red line and an exit code."""
    from engine.cli.entry import run

    run(app)


__all__ = ["app", "main"]
