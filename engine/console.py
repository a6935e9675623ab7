"""Everything the CLI shows, with rich: tables, plans, progress, errors.

Plain (no colours, no boxes) when the output is not a terminal.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from contextlib import contextmanager
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from engine.report import Progress, Reporter

def _console(**kwargs) -> Console:
    console = Console(highlight=False, soft_wrap=True, **kwargs)
    if not console.is_terminal:
        # Piped output is read by programs and wide logs: do not wrap tables at 80 columns.
        console = Console(highlight=False, soft_wrap=True, width=240, **kwargs)
    return console


stdout = _console()
stderr = _console(stderr=True)

_ACTION_STYLE = {"create": "green", "alter": "yellow", "replace": "magenta", "drop": "red", "unchanged": "dim"}
_STATE_STYLE = {"SUCCEEDED": "green", "FAILED": "red", "UPSTREAM_FAILED": "red", "SKIPPED": "yellow", "CANCELLED": "yellow"}


def plain(text: str) -> None:
    """Print text as-is."""
    stdout.print(text, markup=False, highlight=False)


def note(text: str) -> None:
    """A short informational line on stderr."""
    stderr.print(text, style="dim", markup=False)


def warn(text: str) -> None:
    """A warning on stderr."""
    stderr.print(f"warning: {text}", style="yellow", markup=False)


def error(exc: Exception | str) -> None:
    """The one red line of an error, with the SQL excerpt under it when there is one."""
    stderr.print(f"error: {exc}", style="bold red", markup=False)
    excerpt = getattr(exc, "excerpt", lambda: None)()
    if excerpt:
        stderr.print(excerpt, style="red", markup=False)


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def _table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> Table:
    table = Table(title=title, show_edge=False, header_style="bold", title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[_value(v) for v in row])
    return table


def validated(project) -> None:
    """The summary of a valid pipeline."""
    pipeline, graph = project.pipeline, project.graph
    stdout.print(
        f"[green]✓[/] {pipeline.name}: valid — {len(pipeline.generators)} generators, "
        f"{len(pipeline.tables)} tables, {len(pipeline.dynamic_tables)} dynamic tables"
    )
    rows = []
    for name in graph.dynamic_tables:
        dt = pipeline.dynamic_tables[name]
        decision = graph.decisions[name]
        mode = f"{dt.refresh_mode.upper()} → {decision.mode}" if dt.refresh_mode == "auto" else dt.refresh_mode.upper()
        rows.append([name, dt.target_lag.upper() if dt.lag_seconds is None else dt.target_lag, mode, decision.reason])
    stdout.print(_table(["dynamic table", "target lag", "refresh mode", "why"], rows))
    stdout.print(f"create order: {' → '.join(graph.create_order)}", markup=False)


def plan(the_plan) -> None:
    """The actions of a plan, then its SQL."""
    rows = []
    for action in the_plan.actions:
        detail = "; ".join(str(c) for c in action.changes)
        if action.consumers:
            detail = (detail + "; " if detail else "") + "reinitialises " + ", ".join(action.consumers)
        if action.reason and not action.changes:
            detail = (detail + "; " if detail else "") + action.reason
        style = _ACTION_STYLE[action.kind.value]
        rows.append([f"[{style}]{action.kind.value}[/]", action.object_type.replace("_", " "), action.name, detail])
    table = Table(show_edge=False, header_style="bold")
    for column in ("action", "kind", "object", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    stdout.print(table)
    if not the_plan.has_changes:
        stdout.print("[green]no changes[/]: the target matches the file")
        return
    counts = {}
    for action in the_plan.changes:
        counts[action.kind.value] = counts.get(action.kind.value, 0) + 1
    stdout.print(", ".join(f"{n} to {k}" for k, n in counts.items()))
    stdout.print()
    script = the_plan.script()
    if stdout.is_terminal:
        from rich.syntax import Syntax

        stdout.print(Syntax(script, "sql", theme="ansi_dark", word_wrap=True))
    else:
        plain(script.rstrip())


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


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        from engine.errors import PlanError

        raise PlanError(f"{question.rstrip('?')}: cannot ask without a terminal", hint="pass --yes to confirm")
    import typer

    return typer.confirm(question, default=False, err=True)


def confirm_plan(the_plan) -> bool:
    """Ask before an apply replaces or drops data."""
    for action in the_plan.destructive:
        warn(f"{action.kind.value} {action.object_type.replace('_', ' ')} {action.name}: {action.reason or 'its data is lost'}")
    return _confirm("Replace or drop the data above?")


def confirm_destroy(the_plan) -> bool:
    """Ask before destroy drops anything."""
    names = ", ".join(a.name for a in the_plan.actions)
    return _confirm(f"Drop {len(the_plan.actions)} objects ({names})?")


def applied(the_plan, results, refreshes=()) -> None:
    """The summary of an apply: each object, its action, rows and time, then the dynamic tables
    it reinitialised because something they read was replaced."""
    if not results:
        stdout.print("[green]no changes[/]: the target already matches the file")
        for record in refreshes:
            stdout.print(f"reinitialised {record.name}: {record.refresh_action}, {record.inserted_rows or 0:,} rows")
        return
    rows = []
    by_name = {(r.action.object_type, r.action.name): r for r in results}
    for action in the_plan.actions:
        result = by_name.get((action.object_type, action.name))
        style = _ACTION_STYLE[action.kind.value]
        rows.append(
            [
                action.name,
                action.object_type.replace("_", " "),
                f"[{style}]{action.kind.value}[/]",
                "" if result is None or result.rows is None else f"{result.rows:,}",
                "" if result is None or result.refresh_action is None else result.refresh_action,
                "" if result is None else f"{result.seconds:.2f}s",
            ]
        )
    table = Table(show_edge=False, header_style="bold")
    for column in ("object", "kind", "action", "rows", "refresh", "time"):
        table.add_column(column, justify="right" if column in ("rows", "time") else "left")
    for row in rows:
        table.add_row(*row)
    stdout.print(table)
    total = sum(r.seconds for r in results)
    stdout.print(f"[green]applied[/] {len(the_plan.changes)} change(s) in {total:.1f}s")
    for record in refreshes:
        stdout.print(
            f"reinitialised {record.name} (it reads a replaced table): {record.refresh_action}, "
            f"{record.inserted_rows or 0:,} rows, {record.milliseconds or 0:.0f} ms"
        )


def destroyed(the_plan, results) -> None:
    """The summary of a destroy."""
    if not the_plan.actions:
        stdout.print("nothing to drop")
        return
    for action in the_plan.actions:
        stdout.print(f"[red]dropped[/] {action.object_type.replace('_', ' ')} {action.name}")


def sinks(project, backend) -> None:
    """The rows of each dynamic table nothing reads, when it is small (the dashboard)."""
    graph = project.graph
    for name in graph.dynamic_tables:
        if graph.downstream(name):
            continue
        result = backend.query(f"SELECT * FROM {name} LIMIT 6")
        if 0 < len(result.rows) <= 5:
            rows = [[c, _value(v)] for c, v in zip(result.columns, result.rows[0])] if len(result.rows) == 1 else None
            if rows:
                stdout.print(_table(["column", "value"], rows, title=name))
            else:
                stdout.print(_table(result.columns, [list(r) for r in result.rows], title=name))


def status(statuses, fmt: str) -> None:
    """Each object's status."""
    records = [
        {
            "name": s.name,
            "kind": s.kind,
            "rows": s.rows,
            "target_lag": s.target_lag,
            "refresh_mode": s.refresh_mode,
            "refresh_mode_reason": s.refresh_mode_reason,
            "data_timestamp": s.data_timestamp,
            "lag_seconds": None if s.lag_seconds is None else round(s.lag_seconds, 1),
            "state": s.state,
            "last_refresh_action": s.last_refresh_action,
            "checks": s.checks,
        }
        for s in statuses
    ]
    if fmt == "json":
        plain(json.dumps(records, default=_json_default, indent=2))
        return
    columns = ["name", "kind", "rows", "target_lag", "refresh_mode", "data_timestamp", "lag_seconds", "state", "last_refresh_action"]
    if any(r["checks"] for r in records):
        columns.append("checks")
    stdout.print(_table(columns, [[r[c] for c in columns] for r in records]))
    for r in records:
        if r["refresh_mode_reason"]:
            stdout.print(f"[dim]{r['name']}: {r['refresh_mode']} — {r['refresh_mode_reason']}[/]", markup=True)


def history(records, fmt: str) -> None:
    """Refresh history rows."""
    rows = [r.as_snowflake_row() for r in records]
    if fmt == "json":
        plain(json.dumps(rows, default=_json_default, indent=2))
        return
    if not rows:
        stdout.print("no refreshes")
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("NAME", "STATE", "ACTION", "TRIGGER", "DATA_TIMESTAMP", "ms", "+rows", "-rows", "message"):
        table.add_column(column, justify="right" if column in ("ms", "+rows", "-rows") else "left", overflow="fold")
    for r in records:
        style = _STATE_STYLE.get(r.state, "")
        table.add_row(
            r.name,
            f"[{style}]{r.state}[/]" if style else r.state,
            r.refresh_action or "",
            r.refresh_trigger,
            _value(r.data_timestamp),
            "" if r.milliseconds is None else f"{r.milliseconds:.0f}",
            _value(r.inserted_rows),
            _value(r.deleted_rows),
            r.state_message or "",
        )
    stdout.print(table)


def query_result(result, fmt: str) -> None:
    """A query's rows as a table, CSV (with a header) or JSON (objects keyed by column)."""
    if fmt == "json":
        plain(json.dumps([dict(zip(result.columns, row)) for row in result.rows], default=_json_default, indent=2))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[_value(v) for v in row] for row in result.rows])
        sys.stdout.write(buffer.getvalue())
    else:
        stdout.print(_table(result.columns, [list(r) for r in result.rows]))
        stdout.print(f"[dim]{len(result.rows)} row(s)[/]")


class StreamReporter(CliReporter):
    """Shows each batch and the refreshes it sets off, as they happen."""

    def __init__(self, project, settings):
        self.project, self.settings = project, settings

    def event(self, kind: str, **data: Any) -> None:
        if kind == "batch":
            stdout.print(
                f"[bold]batch {data['batch']}/{data['batches']}[/]: inserted {data['rows']:,} rows into "
                f"{data['table']}" + (f" (now {data['total']:,})" if data.get("total") is not None else "")
            )
        elif kind == "refresh":
            record = data["record"]
            style = _STATE_STYLE.get(record.state, "")
            ms = "" if record.milliseconds is None else f" {record.milliseconds:.0f} ms"
            counts = ""
            if record.inserted_rows is not None:
                counts = f" +{record.inserted_rows:,}/-{record.deleted_rows or 0:,}"
            message = f" — {record.state_message}" if record.state_message and record.state != "SUCCEEDED" else ""
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


_CHECK_STYLE = {"PASSED": "green", "FAILED": "red", "ERROR": "red"}


def test_report(report, fmt: str) -> None:
    """The results of ``pipe test``: one row per check, then one per unit test with its row diff."""
    if fmt == "json":
        data = {"ok": report.ok, "checks": [r.as_row() for r in report.checks], "unit_tests": [u.as_row() for u in report.units]}
        plain(json.dumps(data, default=_json_default, indent=2))
        return
    if report.checks:
        table = Table(show_edge=False, header_style="bold")
        for column in ("check", "table", "severity", "status", "failing rows", "sample"):
            table.add_column(column, overflow="fold", justify="right" if column == "failing rows" else "left")
        for r in report.checks:
            status = r.status if r.status == "PASSED" or r.severity == "error" else "WARN"
            style = "yellow" if status == "WARN" else _CHECK_STYLE.get(r.status, "")
            sample = r.message or ""
            if r.sample and r.kind not in ("row_count", "freshness"):
                sample = "; ".join(", ".join(f"{k.lower()}={_value(v)}" for k, v in row.items()) for row in r.sample[:3])
            table.add_row(r.check, r.table, r.severity, f"[{style}]{status}[/]", f"{r.failing_rows:,}", sample)
        stdout.print(table)
    if report.units:
        table = Table(show_edge=False, header_style="bold")
        for column in ("unit test", "table", "status", "refreshes", "ms"):
            table.add_column(column, justify="right" if column == "ms" else "left")
        for u in report.units:
            status = "[green]PASSED[/]" if u.passed else "[red]FAILED[/]"
            table.add_row(u.name, u.table, status, " → ".join(u.refresh_actions), f"{u.milliseconds:.0f}")
        stdout.print(table)
        for u in report.units:
            if not u.passed:
                stdout.print(f"[red]{u.name}[/] ({u.table}): - expected, not returned; + returned, not expected")
                plain(u.diff())
    failed = sum(r.blocks for r in report.checks) + sum(not u.passed for u in report.units)
    warned = sum(r.status != "PASSED" and not r.blocks for r in report.checks)
    total = len(report.checks) + len(report.units)
    line = f"{total - failed - warned} passed, {failed} failed" + (f", {warned} warned" if warned else "")
    stdout.print(f"[{'green' if report.ok else 'red'}]{line}[/]")
