"""Everything the CLI shows, with rich: tables, plans, progress, errors.

Plain (no colours, no boxes) when the output is not a terminal.
"""

from __future__ import annotations

import csv
import io
import json
import re
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

_ACTION_STYLE = {"create": "green", "alter": "yellow", "replace": "magenta", "drop": "red", "unchanged": "dim", "conflict": "bold red"}
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


def warnings(found, *, full: bool) -> None:
    """Lint warnings: each in full, or one line counting them."""
    if full:
        for warning in found:
            warn(str(warning))
    elif found:
        n = len(found)
        stderr.print(f"{n} lint warning{'s' if n > 1 else ''} (pipe validate shows them)", style="yellow", markup=False)


def error(exc: Exception | str) -> None:
    """The one red line of an error, with the SQL excerpt under it when there is one (a line
    each when the error holds several)."""
    for each in getattr(exc, "errors", None) or ():
        error(each)
    if getattr(exc, "errors", None):
        if exc.more:
            stderr.print(f"error: … and {exc.more} more", style="bold red", markup=False)
        return
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


def _detail(action) -> str:
    """The detail column of a plan row: what changed, what it reinitialises, why."""
    parts = []
    for change in action.changes:
        if change.after is not None and change.before is not None:
            parts.append(f"{change.property} changed (diff below)")
        else:
            parts.append(str(change))
    if action.consumers:
        parts.append("reinitialises " + ", ".join(action.consumers))
    if action.reason and not action.changes:
        parts.append(action.reason)
    return "; ".join(parts)


_FUNCTION_BODY = re.compile(r"^AS \$\$\n(.*?)\n\$\$", re.S | re.M)


def collapse_function_bodies(script: str) -> str:
    """The script with each UDTF body (a whole generator module) shortened to one line."""

    def one_line(match: re.Match) -> str:
        lines = match.group(1).count("\n") + 1
        return f"AS $$\n# … {lines} lines: the generator module (pipe plan --out FILE writes them)\n$$"

    return _FUNCTION_BODY.sub(one_line, script)


def plan(the_plan, fmt: str = "table") -> None:
    """A plan: a summary table, the diff of each changed query or module, then the SQL.

    On a terminal, function bodies are collapsed; piped output has the full script.
    """
    if fmt == "json":
        plain(json.dumps(plan_record(the_plan), indent=2))
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("action", "kind", "object", "detail"):
        table.add_column(column, overflow="fold")
    for action in the_plan.actions:
        style = _ACTION_STYLE[action.kind.value]
        table.add_row(f"[{style}]{action.kind.value}[/]", action.object_type.replace("_", " "), action.name, _detail(action))
    stdout.print(table)
    for action in the_plan.actions:
        if action.columns:
            stdout.print(f"[dim]{action.name}: {', '.join(action.columns)}[/]", markup=True, highlight=False)
    if not the_plan.has_changes:
        stdout.print("[green]no changes[/]: the target matches the file")
        return
    counts: dict[str, int] = {}
    for action in the_plan.changes:
        counts[action.kind.value] = counts.get(action.kind.value, 0) + 1
    stdout.print(", ".join(f"{n} to {k}" for k, n in counts.items()))
    from engine.plandiff import plan_diffs

    for what, lines in plan_diffs(the_plan):
        stdout.print()
        stdout.print(f"--- {what} on the target", style="red", markup=False)
        stdout.print(f"+++ {what} in the file", style="green", markup=False)
        for line in lines:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else ""
            stdout.print(line, style=style or None, markup=False, highlight=False)
    stdout.print()
    script = the_plan.script()
    if stdout.is_terminal:
        from rich.syntax import Syntax

        stdout.print(Syntax(collapse_function_bodies(script).rstrip(), "sql", theme="ansi_dark", word_wrap=True))
    else:
        plain(script.rstrip())


def plan_record(the_plan) -> dict:
    """A plan as plain data, for ``pipe plan --format json``."""
    from engine.plandiff import change_diff

    counts: dict[str, int] = {}
    for action in the_plan.changes:
        counts[action.kind.value] = counts.get(action.kind.value, 0) + 1
    return {
        "pipeline": the_plan.pipeline_name,
        "target": the_plan.target,
        "summary": counts,
        "actions": [
            {
                "action": a.kind.value,
                "kind": a.object_type,
                "name": a.name,
                "changes": [
                    {
                        "property": c.property,
                        "current": c.current,
                        "desired": c.desired,
                        "diff": "\n".join(change_diff(a.name, c) or []) or None,
                    }
                    for c in a.changes
                ],
                "reason": a.reason or None,
                "reinitialises": list(a.consumers),
                "destroys_data": a.destroys_data,
                "columns": list(a.columns),
                "statements": list(a.statements),
            }
            for a in the_plan.actions
        ],
        "script": the_plan.script() if the_plan.has_changes else "",
    }


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
        if project.pipeline.dynamic_tables[name].initialize == "on_schedule" and backend.name == "snowflake":
            continue  # not readable until its first scheduled refresh: Snowflake refuses the query
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
    columns = ["name", "kind", "rows", "target_lag", "refresh_mode", "data_timestamp", "lag", "state", "last_refresh_action"]
    shown = {
        "rows": lambda v: "" if v is None else f"{v:,}",
        "lag": lambda v: "" if v is None else f"{v:.1f}s",
        "kind": lambda v: v.replace("_", " "),
    }
    if any(r["checks"] for r in records):
        columns.append("checks")
    rows = []
    for r in records:
        values = {**r, "lag": r["lag_seconds"]}
        rows.append([shown[c](values[c]) if c in shown else values[c] for c in columns])
    stdout.print(_table(columns, rows))
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
            style = _STATE_STYLE.get(record.state, "")
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


def initialised(paths) -> None:
    """What ``pipe init`` wrote, and what to run next."""
    for path in paths:
        stdout.print(f"[green]wrote[/] {path}")
    stdout.print(f"next: pipe validate {paths[0]} && pipe apply {paths[0]} && pipe stream {paths[0]}", markup=False)


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
