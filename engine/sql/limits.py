"""How deep a query pipe compiles, and the interpreter room that takes (no sqlglot needed here)."""

from __future__ import annotations

import sys

# How deeply a query's syntax tree may nest (a subquery in FROM is three levels: SELECT, FROM,
# subquery). sqlglot's parser, optimizer and generator recurse about three Python frames per level;
# the interpreter's recursion limit is raised to fit a query up to this depth (measured: 200 nested
# subqueries, depth 600, validate and translate; see tests/sql/test_nesting.py). Deeper queries are
# refused by name rather than failing with a RecursionError.
MAX_DEPTH = 1500
_FRAMES_PER_LEVEL = 6


def allow_deep_queries() -> None:
    """Raise the interpreter's recursion limit to fit queries up to :data:`MAX_DEPTH`: before any
    parse, copy or print of a compiled query's trees, including those read back from the cache
    without parsing the query here."""
    frames = _FRAMES_PER_LEVEL * MAX_DEPTH
    if sys.getrecursionlimit() < frames + 1000:
        sys.setrecursionlimit(frames + 1000)
