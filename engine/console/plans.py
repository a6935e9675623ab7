"""What validate, plan, apply and destroy show, and the questions they ask."""

from __future__ import annotations

import json
import re
import sys

from engine.console.base import ACTION_STYLE, grid, plain, stdout, unstyled_grid, warn


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
    if len(rows) > WIDE:
        rows = _grouped(rows)
    stdout.print(grid(["dynamic table", "target lag", "refresh mode", "why"], rows))
    order = graph.create_order
    if len(order) > WIDE:
        order = [*order[:3], f"… {len(order) - 4:,} more …", order[-1]]
    stdout.print(f"create order: {' → '.join(order)}", markup=False)


# A pipeline with more dynamic tables than this is summarized: one row per target lag, refresh
# mode and reason, naming the first and last of its tables and how many there are; the create
# order shows its ends (pipe graph draws every object).
WIDE = 100


def _grouped(rows: list[list[str]]) -> list[list[str]]:
    """``rows`` (name, lag, mode, why) with those of equal lag, mode and why merged into one, in
    the order of each group's first table."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, *rest in rows:
        groups.setdefault(tuple(rest), []).append(name)
    merged = []
    for rest, names in groups.items():
        label = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]} ({len(names):,} tables)"
        merged.append([label, *rest])
    return merged


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
    columns = ["action", "kind", "object", "detail"]
    rows = [[a.kind.value, a.object_type.replace("_", " "), a.name, _detail(a)] for a in the_plan.actions]

    def table():
        from rich.table import Table

        drawn = Table(show_edge=False, header_style="bold")
        for column in columns:
            drawn.add_column(column, overflow="fold")
        for kind, *cells in rows:
            drawn.add_row(f"[{ACTION_STYLE[kind]}]{kind}[/]", *cells)
        return drawn

    # Its cells are markup: where one holds a bracket, only rich knows what it shows.
    stdout.print(table() if any("[" in text for row in rows for text in row) else unstyled_grid(table, columns, rows))
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
        style = ACTION_STYLE[action.kind.value]
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
    from rich.table import Table

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
