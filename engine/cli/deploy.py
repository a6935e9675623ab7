"""Commands that change the target: apply, destroy and refresh."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from engine import console as out
from engine.cli.common import ConnOpt, DbOpt, DebugOpt, FileArg, Target, TargetOpt, YesOpt, ctrl_c_cancels, open_pipeline
import engine


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
    project, backend = open_pipeline(file, target, db, connection, create=True)
    with backend, ctrl_c_cancels(backend):
        reporter = out.reporter()
        the_plan, results = engine.apply(
            project, backend, reporter=reporter, confirm=None if yes else out.confirm_plan, prune=prune,
            adopt=adopt or (),
        )
        out.applied(the_plan, results, reporter.refreshes)
        if results:
            out.sinks(project, backend)


def destroy(
    file: FileArg,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    yes: YesOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Drop everything the file declares, in reverse dependency order."""
    project, backend = open_pipeline(file, target, db, connection)
    with backend, ctrl_c_cancels(backend):
        the_plan, results = engine.destroy(
            project, backend, reporter=out.reporter(), confirm=None if yes else out.confirm_destroy
        )
    out.destroyed(the_plan, results)


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
    project, backend = open_pipeline(file, target, db, connection)
    with backend, ctrl_c_cancels(backend):
        out.history(engine.refresh(project, backend, names or [], full=full, reporter=out.reporter()), "table")
