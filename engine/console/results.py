"""Results read from the target: sink tables, status, history, query results, pipe test."""

from __future__ import annotations

import csv
import io
import json
import sys

from rich.text import Text

from engine import names
from engine.console.base import STATE_STYLE, cell, grid, json_default, plain, stdout


def sinks(project, backend) -> None:
    """The rows of each dynamic table nothing reads, when it is small (the dashboard)."""
    graph = project.graph
    for name in graph.dynamic_tables:
        if graph.downstream(name):
            continue
        if project.pipeline.dynamic_tables[name].initialize == "on_schedule" and backend.name == "snowflake":
            continue  # not readable until its first scheduled refresh: Snowflake refuses the query
        result = backend.query(f"SELECT * FROM {names.sql(name)} LIMIT 6")
        if 0 < len(result.rows) <= 5:
            rows = [[c, cell(v)] for c, v in zip(result.columns, result.rows[0])] if len(result.rows) == 1 else None
            if rows:
                stdout.print(grid(["column", "value"], rows, title=name))
            else:
                stdout.print(grid(result.columns, [list(r) for r in result.rows], title=name))


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
        plain(json.dumps(records, default=json_default, indent=2))
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
    stdout.print(grid(columns, rows))
    for r in records:
        if r["refresh_mode_reason"]:
            stdout.print(f"[dim]{r['name']}: {r['refresh_mode']} — {r['refresh_mode_reason']}[/]", markup=True)


def history(records, fmt: str) -> None:
    """Refresh history rows."""
    rows = [r.as_snowflake_row() for r in records]
    if fmt == "json":
        plain(json.dumps(rows, default=json_default, indent=2))
        return
    if not rows:
        stdout.print("no refreshes")
        return
    from rich.table import Table  # here: validate and plan draw no rich table when piped

    table = Table(show_edge=False, header_style="bold")
    for column in ("NAME", "STATE", "ACTION", "TRIGGER", "DATA_TIMESTAMP", "ms", "+rows", "-rows", "message"):
        table.add_column(column, justify="right" if column in ("ms", "+rows", "-rows") else "left", overflow="fold")
    for r in records:
        style = STATE_STYLE.get(r.state, "")
        table.add_row(
            r.name,
            f"[{style}]{r.state}[/]" if style else r.state,
            r.refresh_action or "",
            r.refresh_trigger,
            cell(r.data_timestamp),
            "" if r.milliseconds is None else f"{r.milliseconds:.0f}",
            cell(r.inserted_rows),
            cell(r.deleted_rows),
            r.state_message or "",
        )
    stdout.print(table)


def query_result(result, fmt: str) -> None:
    """A query's rows as a table, CSV (with a header) or JSON (objects keyed by column)."""
    if fmt == "json":
        plain(json.dumps([dict(zip(result.columns, row)) for row in result.rows], default=json_default, indent=2))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[cell(v) for v in row] for row in result.rows])
        sys.stdout.write(buffer.getvalue())
    else:
        stdout.print(grid(result.columns, [list(r) for r in result.rows]))
        stdout.print(f"[dim]{len(result.rows)} row(s)[/]")


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
        plain(json.dumps(data, default=json_default, indent=2))
        return
    from rich.table import Table

    if report.checks:
        table = Table(show_edge=False, header_style="bold")
        for column in ("check", "table", "severity", "status", "failing rows", "sample"):
            table.add_column(column, overflow="fold", justify="right" if column == "failing rows" else "left")
        for r in report.checks:
            status = r.status if r.status == "PASSED" or r.severity == "error" else "WARN"
            style = "yellow" if status == "WARN" else _CHECK_STYLE.get(r.status, "")
            sample = r.message or ""
            if r.sample and r.kind not in ("row_count", "freshness"):
                sample = "; ".join(", ".join(f"{names.shown(str(k))}={cell(v)}" for k, v in row.items()) for row in r.sample[:3])
            table.add_row(Text(r.check), Text(r.table), r.severity, f"[{style}]{status}[/]", f"{r.failing_rows:,}",
                          Text(sample))  # the rows' values as they are, never markup
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
