"""The error boundary every command runs in: library errors become one red line and exit 1,
Ctrl-C exits 130 with one line saying what was kept, usage errors are Click's, and anything else is a bug said in one line."""

from __future__ import annotations

import re
import sys

import typer

from engine import console as out
from engine.cli.common import Stopped
from engine.errors import is_interrupt
import engine

NOTHING_CHANGED = "stopped; nothing was changed"
"""The line of a Ctrl-C no command handled: it came before any change (or in a read command)."""


def usage_error_class() -> type[Exception]:
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


def run(app: typer.Typer) -> None:
    """Run ``app`` on the command line's arguments, turning library errors into one red line and exit code 1."""
    usage_error = usage_error_class()
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
    except Stopped as exc:
        out.stopped(exc.kept)
        sys.exit(130)
    except (typer.Abort, KeyboardInterrupt):
        out.stopped(NOTHING_CHANGED)
        sys.exit(130)
    except usage_error as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug, not bad input: say so in one line
        if is_interrupt(exc):
            out.stopped(NOTHING_CHANGED)
            sys.exit(130)
        if debug:
            raise
        out.error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
        sys.exit(2)
    # Without standalone mode, Typer returns the exit code of an Exit it caught, e.g. 130 for a
    # Ctrl-C that arrived outside any pipe code.
    if isinstance(code, int) and code:
        if code == 130:
            out.stopped(NOTHING_CHANGED)
        sys.exit(code)
