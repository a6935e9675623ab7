"""How deep a query pipe compiles, and the interpreter room that takes (no sqlglot needed here)."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


_COMPILING = {"depth": 0, "full": None}
_COMPILING_LOCK = threading.Lock()


@contextmanager
def few_full_collections() -> Iterator[None]:
    """Hold off Python's full garbage collections while a pipeline's queries are compiled.

    A full collection walks every live object, and each compiled query keeps its trees alive: with
    the default thresholds a 10,000-table file was walked in full a dozen times. Young collections
    still run (the copies a compile throws away are young), so memory does not grow; the threshold
    is restored when the outermost use ends.
    """
    with _COMPILING_LOCK:
        if _COMPILING["depth"] == 0:
            young, middle, full = gc.get_threshold()
            _COMPILING["full"] = full
            gc.set_threshold(young, middle, 1_000_000)
        _COMPILING["depth"] += 1
    try:
        yield
    finally:
        with _COMPILING_LOCK:
            _COMPILING["depth"] -= 1
            if _COMPILING["depth"] == 0:
                young, middle, _ = gc.get_threshold()
                gc.set_threshold(young, middle, _COMPILING["full"])
