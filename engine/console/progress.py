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
    """Progress bars and warnings on stderr; keeps the refreshes it is told of."""

    def __init__(self):
        self.refreshes = []

    def event(self, kind: str, **data: Any) -> None:
        if kind == "refresh":
            self.refreshes.append(data["record"])

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
        self.project, self.settings = project, settings
        self.batches_done, self.rows_kept = 0, 0

    def event(self, kind: str, **data: Any) -> None:
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


def stream_stopped(reporter: StreamReporter, settings) -> None:
    """The line a Ctrl-C of ``pipe stream`` ends with: what it kept."""
    if reporter.batches_done:
        stderr.print(
            f"stopped after batch {reporter.batches_done} of {settings.batches}; {reporter.rows_kept:,} rows kept",
            markup=False,
        )
    else:
        stderr.print("stopped before the first batch; nothing was inserted", markup=False)
