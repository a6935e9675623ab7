"""What a changed object's text looks like before and after, as a unified diff for ``pipe plan``.

Queries are compared in a normalised layout (sqlglot's pretty Snowflake SQL, comments dropped), so
the diff shows what changed in meaning, not in whitespace or keyword case; generator modules are
compared as written.
"""

from __future__ import annotations

import difflib

from engine.planner import Change


def pretty_sql(sql: str) -> str:
    """``sql`` laid out one clause per line by sqlglot, without comments; as written if it does
    not parse."""
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    try:
        tree = sqlglot.parse_one(sql.strip().rstrip(";"), read="snowflake")
        return tree.sql(dialect="snowflake", pretty=True, comments=False)
    except (ParseError, TokenError):
        return sql.strip()


def change_diff(name: str, change: Change) -> list[str] | None:
    """The unified diff of one change (without its ---/+++ header), or None when there is no
    text to compare."""
    if change.after is None or change.before is None:
        return None
    if change.property == "query":
        before, after = pretty_sql(change.before), pretty_sql(change.after)
    else:
        before, after = change.before.rstrip(), change.after.rstrip()
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm=""))
    return lines[2:] or None


def plan_diffs(the_plan) -> list[tuple[str, list[str]]]:
    """Each distinct diff of a plan's changes, with what it is about: ``("ENGAGEMENT_DASHBOARD
    query", lines)``. Functions made from one module, changed the same way, share one diff."""
    found: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for action in the_plan.changes:
        for change in action.changes:
            lines = change_diff(action.name, change)
            if lines:
                what = "query" if change.property == "query" else "module"
                found.setdefault((what, tuple(lines)), []).append(action.name)
    return [(f"{', '.join(names)} {what}", list(lines)) for (what, lines), names in found.items()]
