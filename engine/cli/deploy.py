"""Commands that change the target: apply, destroy and refresh."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from engine import console as out
from engine.cli.common import (
    MemoryLimitOpt,
    ConnOpt, DbOpt, DebugOpt, FileArg, Target, TargetOpt, YesOpt, ctrl_c_cancels, on_ctrl_c,
    open_pipeline,
)
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
    memory_limit: MemoryLimitOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Make the target match the file (idempotent: a second apply changes nothing)."""
    project, backend = open_pipeline(file, target, db, connection, create=True, memory_limit=memory_limit)
    reporter = out.reporter()
    results = None
    with backend, ctrl_c_cancels(backend), on_ctrl_c(lambda: _apply_kept(project, backend, reporter, results)):
        the_plan, results = engine.apply(
            project, backend, reporter=reporter, confirm=None if yes else out.confirm_plan, prune=prune,
            adopt=adopt or (),
        )
        out.applied(the_plan, results, reporter.refreshes)
        if results:
            out.sinks(project, backend)


def _apply_kept(project, backend, reporter, results) -> str:
    """What an apply stopped by Ctrl-C kept. A local apply commits as a whole, then reinitialises
    what a replace left pending: whether it committed is read back from the database."""
    atomic = backend.name == "local"
    finished = results is not None
    if atomic and not finished:
        try:
            finished = not engine.plan(project, backend).has_changes
        except engine.PipeError:  # unreadable after the stop: say only what is certain
            pass
    return out.changes_kept(reporter, finished=finished, atomic=atomic, verb="applied")


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
    reporter = out.reporter()
    results = None

    def kept() -> str:
        return out.changes_kept(reporter, finished=results is not None, atomic=backend.name == "local", verb="dropped")

    with on_ctrl_c(kept):
        with backend, ctrl_c_cancels(backend):
            the_plan, results = engine.destroy(
                project, backend, reporter=reporter, confirm=None if yes else out.confirm_destroy
            )
        out.destroyed(the_plan, results)


def refresh(
    file: FileArg,
    names: Annotated[Optional[list[str]], typer.Argument(help="Dynamic tables to refresh (default: all).", show_default=False)] = None,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Recompute fully instead of incrementally.")] = False,
    memory_limit: MemoryLimitOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Refresh now, upstream first at one data timestamp, like ALTER DYNAMIC TABLE … REFRESH."""
    project, backend = open_pipeline(file, target, db, connection, memory_limit=memory_limit)
    reporter = out.reporter()
    with backend, ctrl_c_cancels(backend), on_ctrl_c(lambda: out.refresh_kept(reporter)):
        out.history(engine.refresh(project, backend, names or [], full=full, reporter=reporter), "table")
