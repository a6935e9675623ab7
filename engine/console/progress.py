"""Progress while work runs: bars on stderr, and the stream's one line per batch and refresh."""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

from typing import Any

from engine.console.base import STATE_STYLE, note, stderr, stdout, warn
from engine.report import Progress, Reporter


class _RichProgress(Progress):
    def __init__(self, bar, task):
        self._bar, self._task = bar, task

    def advance(self, amount: int = 1, *, description: str | None = None) -> None:
        if description:
            self._bar.update(self._task, advance=amount, description=description)
        else:
            self._bar.update(self._task, advance=amount)


class CliReporter(Reporter):
    """Progress bars and warnings on stderr; keeps the refreshes and the applied actions it is
    told of (what a Ctrl-C leaves behind is said from them)."""

    def __init__(self):
        self.refreshes = []
        self.actions = []

    def event(self, kind: str, **data: Any) -> None:
        if kind == "refresh":
            self.refreshes.append(data["record"])
        elif kind == "action":
            self.actions.append(data["action"])

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Progress]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

        with Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
            disable=not stderr.is_terminal,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield _RichProgress(bar, task)

    def step(self, message: str) -> None:
        note(message)

    def warn(self, message: str) -> None:
        warn(message)


def reporter() -> Reporter:
    """The CLI's reporter."""
    return CliReporter()


class StreamReporter(CliReporter):
    """Shows each batch and the refreshes it sets off, as they happen."""

    def __init__(self, project, settings):
        super().__init__()
        self.project, self.settings = project, settings
        self.batches_done, self.rows_kept = 0, 0

    def event(self, kind: str, **data: Any) -> None:
        if kind == "refresh":
            self.refreshes.append(data["record"])
        if kind == "batch":
            self.batches_done = data["batch"]
            self.rows_kept += data["rows"]
            stdout.print(
                f"[bold]batch {data['batch']}/{data['batches']}[/]: inserted {data['rows']:,} rows into "
                f"{data['table']}" + (f" (now {data['total']:,})" if data.get("total") is not None else "")
            )
        elif kind == "refresh":
            record = data["record"]
            style = STATE_STYLE.get(record.state, "")
            ms = "" if record.milliseconds is None else f" {record.milliseconds:.0f} ms"
            counts = ""
            if record.inserted_rows is not None:
                counts = f" +{record.inserted_rows:,}/-{record.deleted_rows or 0:,}"
            # a failure says why; so does a FULL refresh of a table that is otherwise incremental
            explained = record.state != "SUCCEEDED" or record.refresh_action in ("FULL", "REINITIALIZE")
            message = f" — {record.state_message}" if record.state_message and explained else ""
            if record.state == "SUCCEEDED" and "check failed: " in (record.state_message or ""):
                message = f" [red]✗ {record.state_message[record.state_message.index('check failed: '):]}[/]"
            stdout.print(
                f"  ↳ {record.name:<28} [{style}]{record.state}[/] {record.refresh_action or ''}{counts}{ms}{message}"
            )


@contextmanager


def stream_display(project, settings) -> Iterator[Reporter]:
    """The live display of ``pipe stream``."""
    stdout.print(
        f"streaming {settings.batches} batch(es) of {settings.records:,} rows into {settings.table}, "
        f"{settings.delay:g}s apart (Ctrl-C stops between batches)"
    )
    yield StreamReporter(project, settings)


def stopped(line: str) -> None:
    """The one line a Ctrl-C ends a command with: what it kept (no "error": a stop is no failure)."""
    stderr.print(line, markup=False, soft_wrap=True)


def stream_kept(reporter: StreamReporter, settings) -> str:
    """What a Ctrl-C of ``pipe stream`` kept: whole batches only."""
    if reporter.batches_done:
        return f"stopped after batch {reporter.batches_done} of {settings.batches}; {reporter.rows_kept:,} rows kept"
    return "stopped before the first batch; nothing was inserted"


def refresh_kept(reporter: CliReporter) -> str:
    """What a Ctrl-C of ``pipe refresh`` kept: the refreshes that ended before it."""
    done = [r.name for r in reporter.refreshes if r.state == "SUCCEEDED"]
    if not done:
        return "stopped before any table refreshed; every table keeps its contents"
    return f"stopped after refreshing {', '.join(done)}; any other table keeps its contents"


def changes_kept(reporter: CliReporter, *, finished: bool, atomic: bool, verb: str) -> str:
    """What a Ctrl-C of ``pipe apply`` (``verb`` "applied") or ``pipe destroy`` ("dropped") kept.

    Args:
        finished: the changes were all made before the stop (it came while the result printed).
        atomic: the target makes them in one transaction (local), so an unfinished run kept none.
    """
    if finished:
        return f"stopped; every change was {verb} before the stop"
    done = [f"{a.kind.value} {a.name}" for a in reporter.actions]
    if atomic or not done:
        why = " (a local run is all or nothing)" if atomic else ""
        return f"stopped; nothing was {verb}{why}"
    return f"stopped after {len(done)} change(s) were {verb}: {', '.join(done)}; run the command again to finish"


def ui_kept(reporter: StreamReporter, command: str) -> str:
    """What a Ctrl-C of ``pipe ui`` kept: everything it streamed and refreshed."""
    return (
        f"stopped {command}; kept {reporter.rows_kept:,} rows streamed and {len(reporter.refreshes)} refreshes "
        "(every batch and refresh it made is committed)"
    )
