"""The terminal: the two consoles, one-line messages and errors, and how a value is shown.

Plain (no colours, no boxes) when the output is not a terminal.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

from rich.console import Console

if TYPE_CHECKING:
    from rich.table import Table  # imported where a table is drawn: piped, validate and plan draw none


def _make_console(**kwargs) -> Console:
    # No emoji codes: in SQL and data ':key:' is a variant path, not a picture of a key.
    console = Console(highlight=False, soft_wrap=True, emoji=False, **kwargs)
    if not console.is_terminal:
        # Piped output is read by programs and wide logs: do not wrap tables at 80 columns.
        console = Console(highlight=False, soft_wrap=True, emoji=False, width=240, **kwargs)
    return console


stdout = _make_console()
stderr = _make_console(stderr=True)

ACTION_STYLE = {"create": "green", "alter": "yellow", "replace": "magenta", "drop": "red", "unchanged": "dim", "conflict": "bold red"}
STATE_STYLE = {"SUCCEEDED": "green", "FAILED": "red", "UPSTREAM_FAILED": "red", "SKIPPED": "yellow", "CANCELLED": "yellow"}


_REWRITTEN = re.compile("[\t\a\b\v\f\r]")
"""What rich changes in plain text: tabs (expanded) and the control codes it strips."""


def plain(text: str) -> None:
    """Print text as-is."""
    if _REWRITTEN.search(text) is None:
        # Unstyled and never wrapped, such text is written by rich as it is, after laying out each
        # line: time a plan's script of thousands of lines does not need.
        stdout.file.write(text + "\n")
        stdout.file.flush()
        return
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


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def grid(columns: list[str], rows: list[list[Any]], title: str | None = None) -> "Table | _PlainGrid":
    if title is None:
        return _PlainGrid(columns, [[cell(v) for v in row] for row in rows])
    return _table(columns, [[cell(v) for v in row] for row in rows], title)


def unstyled_grid(table: Callable[[], Table], columns: list[str], rows: list[list[str]]) -> "_PlainGrid":
    """The rich table ``table()`` makes where it is styled (on a terminal); elsewhere its cells'
    text, ``rows``, drawn as :func:`grid` draws them: as rich lays the table out, without
    measuring each cell."""
    return _PlainGrid(columns, rows, table)


def _table(columns: list[str], rows: list[list[str]], title: str | None = None) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_edge=False, header_style="bold", title_justify="left")
    for column in columns:
        table.add_column(Text(column), overflow="fold")
    for row in rows:
        table.add_row(*(Text(text) for text in row))  # data, never markup: '[undefined,1]' is printed as is
    return table


class _PlainGrid:
    """:func:`grid`'s table; its cells are text, never markup. Where nothing is styled (piped
    output) and no cell needs wrapping, its lines are written directly, as rich lays them out: rich measures and wraps every
    cell, which takes seconds for the 10,000 rows of a wide pipeline. Otherwise rich draws it."""

    def __init__(self, columns: list[str], rows: list[list[str]], table: Callable[[], Table] | None = None):
        self.columns, self.rows, self.table = columns, rows, table

    def __rich_console__(self, console, options):
        from rich.segment import Segment

        lines = self._lines(console, options.max_width)
        if lines is None:
            yield self.table() if self.table is not None else _table(self.columns, self.rows)
            return
        for line in lines:
            yield Segment(line)
            yield Segment.line()

    def _lines(self, console, max_width: int) -> list[str] | None:
        from rich.cells import cell_len

        if console.color_system is not None or not self.columns:
            return None  # styles to draw (the bold header): rich's own table
        texts = [self.columns, *self.rows]
        widths = [0] * len(self.columns)
        for row in texts:
            if len(row) != len(widths):
                return None
            for i, text in enumerate(row):
                if "\n" in text or "\t" in text or "\r" in text:
                    return None
                widths[i] = max(widths[i], cell_len(text))
        if sum(widths) + 3 * len(widths) - 1 > max_width:
            return None  # rich would wrap or fold cells to fit

        def line(row: list[str], bar: str) -> str:
            return " " + f" {bar} ".join(t + " " * (w - cell_len(t)) for t, w in zip(row, widths)) + " "

        rule = "╇".join("━" * (w + 2) for w in widths)
        return [line(self.columns, "┃"), rule, *(line(row, "│") for row in self.rows)]
