"""What the terminal shows of a refresh as it happens."""

from __future__ import annotations

from datetime import datetime

import pytest

from engine.backends.base import RefreshRecord
from engine.console import StreamReporter

AT = datetime(2026, 1, 1)


def _line(capsys, action: str, state: str = "SUCCEEDED", message: str | None = None) -> str:
    record = RefreshRecord("T", state, message, action, "SCHEDULED", AT, AT, AT, 1, 0)
    StreamReporter(None, None).event("refresh", record=record)
    return capsys.readouterr().out


@pytest.mark.parametrize("action", ["FULL", "REINITIALIZE"])
def test_a_full_refresh_says_why(capsys, action):
    assert "— SRC was written outside pipe" in _line(capsys, action, message="SRC was written outside pipe")


def test_an_incremental_refresh_line_has_no_message(capsys):
    assert "—" not in _line(capsys, "INCREMENTAL", message="anything")


def test_a_failed_refresh_says_why(capsys):
    assert "— T: division by zero" in _line(capsys, None, state="FAILED", message="T: division by zero")


def _render(renderable, width: int = 240) -> str:
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, highlight=False, soft_wrap=True)
    console.print(renderable)
    return console.file.getvalue()


GRIDS = [
    (["dynamic table", "target lag", "refresh mode", "why"],
     [["MEMBER_SESSIONS", "DOWNSTREAM", "AUTO → INCREMENTAL", "every construct supports incremental refresh"],
      ["RESOURCE_CATALOG", "DOWNSTREAM", "AUTO → FULL", "not incremental: CURRENT_DATE outside WHERE/HAVING/QUALIFY"]]),
    (["name", "value"], [["Région totals", None], ["表", 12], ["", "x"]]),  # wide characters, empty cells
    (["a"], []),
    (["list", "markup-like"], [[[1, 2], "[1, 2]"], ["a:b", ":x"]]),  # brackets and colons that are not markup
    (["a", "b"], [["[bold]x[/bold]", "y"], ["x [y]", ":smile:"], ["[undefined,1]", "[b]"]]),  # data, never markup
]


def test_cells_that_look_like_markup_are_printed_as_they_are():
    """A query's value such as Snowflake's '[undefined,1]' is data: rich would read it as a tag."""
    from engine.console.base import grid

    rows = [["[undefined,1]", "[bold]x[/bold]", ":smile:"]]
    for console in (_console(), _terminal()):
        console.print(grid(["a", "b", "c"], rows))
        out = console.file.getvalue()
        assert "[undefined,1]" in out and "[bold]x[/bold]" in out and ":smile:" in out, out


def _terminal():
    import io

    from rich.console import Console

    return Console(file=io.StringIO(), width=240, color_system="truecolor", force_terminal=True)


@pytest.mark.parametrize("columns, rows", GRIDS)
def test_a_grid_is_written_as_rich_draws_it(columns, rows):
    from engine.console.base import _table, cell, grid

    # The oracle: rich's own table of the same cells.
    expected = _render(_table(columns, [[cell(v) for v in row] for row in rows]))
    assert grid(columns, rows)._lines(_console(), 240) is not None  # written directly, not by rich
    assert _render(grid(columns, rows)) == expected


def _console():
    import io

    from rich.console import Console

    return Console(file=io.StringIO(), width=240, color_system=None)


@pytest.mark.parametrize(
    "rows, width",
    [
        ([["two\nlines", "y"]], 240),
        ([["x" * 50, "y" * 50]], 60),  # too wide: rich folds the cells
    ],
)
def test_a_grid_rich_must_wrap_is_drawn_by_rich(rows, width):
    from engine.console.base import _table, grid

    assert _render(grid(["a", "b"], rows), width) == _render(_table(["a", "b"], rows), width)
    assert grid(["a", "b"], rows)._lines(_console(), width) is None


# -- plain text --------------------------------------------------------------------------------

PLAIN_TEXTS = [
    "SELECT v:key::varchar, x:smile: FROM t",  # variant paths, not emoji codes
    "[bold]not markup[/]",
    "wide 日本語 text\n  indented  \n",
    "",
    "a\tb",  # rich expands the tab
    "bell\a back\b cr\r",  # and strips these control codes
]


@pytest.mark.parametrize("text", PLAIN_TEXTS)
def test_plain_text_is_written_as_rich_writes_it_without_emoji(capsys, text):
    import io

    from rich.console import Console

    from engine.console import plain

    plain(text)
    rich = io.StringIO()
    Console(file=rich, width=240, highlight=False, soft_wrap=True, emoji=False).print(text, markup=False)
    assert capsys.readouterr().out == rich.getvalue()


def test_plain_text_keeps_what_rich_would_read_as_emoji_codes(capsys):
    from engine.console import plain

    plain("SELECT v:key::varchar, x:smile: FROM t\n")
    assert capsys.readouterr().out == "SELECT v:key::varchar, x:smile: FROM t\n\n"
    plain("a\tb")
    assert capsys.readouterr().out == "a" + " " * 7 + "b\n"  # the tab stop at column 8


# -- the plan's table --------------------------------------------------------------------------


def _plans():
    import dataclasses

    from engine.graph import build_graph
    from engine.planner import TargetState, build_destroy_plan, build_plan
    from engine.spec.loader import load_pipeline
    from helpers import ENGAGEMENT

    graph = build_graph(load_pipeline(ENGAGEMENT))
    create = build_plan(graph, TargetState.empty(), target="snowflake")
    first, *others = create.actions
    bracketed = dataclasses.replace(create, actions=(dataclasses.replace(first, reason="kept [as is]"), *others))
    return {"create": create, "destroy": build_destroy_plan(graph), "bracketed": bracketed}


@pytest.mark.parametrize("which", ["create", "destroy", "bracketed"])
def test_the_plan_table_is_written_as_rich_draws_it(which, capsys, monkeypatch):
    from engine.console import plans

    the_plan = _plans()[which]
    plans.plan(the_plan)
    written = capsys.readouterr().out
    drawn = []
    monkeypatch.setattr(plans, "unstyled_grid", lambda table, columns, rows: drawn.append(rows) or table())
    plans.plan(the_plan)  # the oracle: rich's own table, markup and all
    assert written == capsys.readouterr().out
    assert written.splitlines()[0].split() == ["action", "┃", "kind", "┃", "object", "┃", "detail"]
    # A cell holding a bracket is markup that only rich reads: that table is drawn by rich.
    assert len(drawn) == (0 if which == "bracketed" else 1)
