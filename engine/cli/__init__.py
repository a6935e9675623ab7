"""The ``pipe`` command line: thin commands over the library, one error boundary.

The commands live by what they do (:mod:`.define`, :mod:`.deploy`, :mod:`.live`,
:mod:`.inspect`); they are registered here, in the order ``pipe --help`` lists them, and
:func:`main` runs them inside the error boundary of :mod:`.entry`.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from engine import console as out
from engine.cli import define, deploy, inspect, live

COMMANDS = (
    define.validate, define.plan, deploy.apply, deploy.destroy, live.stream, live.ui, define.graph,
    inspect.status, inspect.history, deploy.refresh, inspect.query, define.init, define.schema, inspect.test,
)
"""Every command, in the order ``pipe --help`` lists them."""


def _typer() -> typer.Typer:
    return typer.Typer(
        name="pipe",
        help="Declare Snowflake Dynamic Table pipelines in YAML; plan, run locally on DuckDB, deploy to Snowflake.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )


app = _typer()


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            out.plain(f"pipe {version('pipe')}")
        except PackageNotFoundError:
            out.plain("pipe (not installed: run pip install -e .)")
        raise typer.Exit()


def _main(
    version: Annotated[
        bool,
        typer.Option("--version", help="Show the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """Declare Snowflake Dynamic Table pipelines in YAML; plan, run locally on DuckDB, deploy to Snowflake."""


def _register(app: typer.Typer, commands) -> typer.Typer:
    app.callback()(_main)
    for command in commands:
        app.command()(command)
    return app


_register(app, COMMANDS)


def app_for(args: list[str]) -> typer.Typer:
    """The app that runs ``pipe ARGS``: for a command named first, an app of that command alone
    (the same group, options and help), since Typer builds every command's options before it
    runs one; otherwise, and when the shell asks for completions, :data:`app`."""
    named = [c for c in COMMANDS if args and c.__name__ == args[0]]
    if not named or any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        return app
    return _register(_typer(), named)


def main() -> None:
    """Entry point: run the app, turning library errors into one red line and an exit code."""
    from engine.cli.entry import run

    run(app_for(sys.argv[1:]))


__all__ = ["COMMANDS", "app", "app_for", "main"]
