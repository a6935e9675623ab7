"""Deep and wide queries: no RecursionError anywhere, and a refusal by name past the documented
depth (engine.sql.parsing.MAX_DEPTH)."""

from __future__ import annotations

import duckdb
import pytest

from engine.errors import SqlError
from engine.sql.parsing import MAX_DEPTH, depth, parse_select
from engine.sql.translate import to_duckdb


def nested(levels: int) -> str:
    """``levels`` subqueries in FROM, each adding one to the value of the one inside."""
    sql = "SELECT 0 AS v"
    for i in range(levels):
        sql = f"SELECT v + 1 AS v FROM ({sql}) AS s{i}"
    return sql


def test_a_query_nested_beyond_the_interpreters_default_depth_translates_and_runs():
    # 120 levels: past the 90 at which translation used to fail with RecursionError.
    sql = nested(120)
    assert depth(parse_select(sql)) > 300
    assert duckdb.connect().execute(to_duckdb(sql)).fetchall() == [(120,)]


def test_a_query_nested_past_the_limit_is_refused_by_name():
    with pytest.raises(SqlError) as info:
        parse_select(nested(MAX_DEPTH // 3 + 10))
    assert f"up to {MAX_DEPTH} levels" in info.value.message
    assert "WITH" in info.value.hint


def test_depth_counts_without_recursion():
    assert depth(parse_select("SELECT 1")) < depth(parse_select(nested(1))) < depth(parse_select(nested(2)))
