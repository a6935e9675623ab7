"""Commands that keep running: stream and ui."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from engine import console as out
from engine.cli.common import (
    MemoryLimitOpt,
    ConnOpt, DbOpt, DebugOpt, FileArg, NoBrowserOpt, PortOpt, Target, TargetOpt, ctrl_c_cancels, on_ctrl_c,
    open_pipeline,
)
import engine


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
    memory_limit: MemoryLimitOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Insert generated batches and watch the dynamic tables refresh as they cascade."""
    project, backend = open_pipeline(file, target, db, connection, memory_limit=memory_limit)
    settings = engine.stream_settings(project, batches=batches, records=records, delay=delay)
    with backend, out.stream_display(project, settings) as reporter:
        with on_ctrl_c(lambda: out.stream_kept(reporter, settings)):
            stopped = False
            if ui:
                stopped = _serve_page(project, backend, reporter, port, not no_browser, settings, until_fresh)
            else:
                _stream_answering_reads(project, backend, reporter, settings, until_fresh)
            out.sinks(project, backend)
            if stopped:  # the page was closed with Ctrl-C once the stream had ended
                raise KeyboardInterrupt


def _stream_answering_reads(project, backend, reporter, settings, until_fresh: bool) -> None:
    """Stream; meanwhile, on a local database, answer other pipe commands' reads (status, history,
    query) on loopback as pipe ui does, without a page: the stream holds DuckDB's only writer."""
    server = None
    if getattr(backend, "path", None) is not None:
        from engine.ui import UiServer

        try:
            server = UiServer(project, backend, port=0, reporter=reporter, command="pipe stream", page=False)
        except engine.PipeError:  # no loopback port: stream all the same; readers are told it is in use
            server = None
    if server is None:
        with ctrl_c_cancels(backend):
            engine.stream(project, backend, settings, reporter=reporter, until_fresh=until_fresh)
        return
    with server, ctrl_c_cancels(backend):
        server.run_stream(settings, until_fresh=until_fresh)


def _serve_page(project, backend, reporter, port, browser: bool, settings=None, until_fresh: bool = False) -> bool:
    """Serve the page (after streaming ``settings``, if any) until a signal; whether it was Ctrl-C."""
    import signal

    from engine.ui import UiServer

    command = "pipe stream --ui" if settings is not None else "pipe ui"
    with UiServer(project, backend, port=port, reporter=reporter, command=command) as server:
        out.plain(f"pipe ui: serving {server.url} (Ctrl-C stops)")
        if browser and not server.open_browser():
            out.note("no desktop browser here: open the address above")
        if settings is not None:
            server.run_stream(settings, until_fresh=until_fresh)
            out.note(f"the page stays live at {server.url} until Ctrl-C")
        return server.wait() == signal.SIGINT


def ui(
    file: FileArg,
    port: PortOpt = None,
    no_browser: NoBrowserOpt = False,
    target: TargetOpt = Target.local,
    db: DbOpt = None,
    connection: ConnOpt = None,
    memory_limit: MemoryLimitOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Serve a live page on 127.0.0.1: the DAG, refresh states, history and dashboard; stream batches from it.

    This process is the database's writer while it runs: stream from the page (or use pipe stream --ui).
    """
    project, backend = open_pipeline(file, target, db, connection, memory_limit=memory_limit)
    reporter = out.StreamReporter(project, None)
    with backend, on_ctrl_c(lambda: out.ui_kept(reporter, "pipe ui")):
        if _serve_page(project, backend, reporter, port, not no_browser):
            raise KeyboardInterrupt
