"""What every command shares: the target and format choices, the option types, and opening a
pipeline file with its backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine import console as out
from engine.errors import InUseError, is_interrupt
import engine


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
MemoryLimitOpt = Annotated[
    Optional[str],
    typer.Option(
        "--memory-limit",
        help="Memory the local engine may use, e.g. 8GB or 500MB (default $PIPE_MEMORY_LIMIT, else 3GB); "
        "beyond it DuckDB spills to <db>.tmp/ beside the database.",
        show_default=False,
    ),
]


def target_options(
    target: Target,
    db: Path | None,
    connection: str | None,
    project,
    *,
    read_only: bool = False,
    create: bool = False,
    memory_limit: str | None = None,
) -> dict:
    if target is Target.local:
        path = db or Path(".pipe") / f"{project.pipeline.name}.duckdb"
        return {"db": path, "read_only": read_only, "create": create, "memory_limit": memory_limit}
    return {"connection": connection}


def open_pipeline(
    file: Path,
    target: Target,
    db: Path | None,
    connection: str | None,
    *,
    read_only: bool = False,
    warn: bool = False,
    create: bool = False,
    forward: bool = False,
    memory_limit: str | None = None,
):
    """Validate the file and open the target. ``plan`` shows the lint warnings in full; the other
    commands count them in one line rather than repeating them before every output.

    A local database held by pipe ui is read through it when ``forward`` (status, history, query);
    other commands are told how to go on."""
    project = engine.validate(file, target=target.value)
    out.warnings(project.warnings, full=warn)
    options = target_options(
        target, db, connection, project, read_only=read_only, create=create, memory_limit=memory_limit
    )
    try:
        backend = project.backend(target.value, **options)
    except InUseError as exc:
        from engine.ui.client import through_owner

        backend = through_owner(options["db"], exc, read=forward)
    return project, backend


def ctrl_c_cancels(backend):
    """Ctrl-C cancels the statement the backend runs at once, rather than when it ends."""
    from engine import interrupts

    return interrupts.cancelling(backend.interrupt)


class Stopped(Exception):
    """A Ctrl-C the command handled; ``kept`` is its one line: what remains of its work."""

    def __init__(self, kept: str):
        super().__init__(kept)
        self.kept = kept


@contextmanager
def on_ctrl_c(kept: Callable[[], str]) -> Iterator[None]:
    """A Ctrl-C within the block (or a confirmation prompt answered with one) ends the command
    with ``kept()``'s line and exit 130, never as an error."""
    try:
        yield
    except (KeyboardInterrupt, typer.Abort):
        raise Stopped(kept()) from None
    except Exception as exc:
        if is_interrupt(exc):
            raise Stopped(kept()) from None
        raise
