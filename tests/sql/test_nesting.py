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


def test_a_deep_query_read_back_from_the_cache_is_still_parsed_and_translated(tmp_path):
    # A second process reads the compiled query back without parsing it at load: a later parse of
    # its DuckDB translation (the local engine's tree) must still have room for the depth.
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    sql = nested(150).replace("SELECT 0 AS v", "SELECT id AS v FROM BASE")
    pipeline = tmp_path / "deep.yaml"
    pipeline.write_text(
        "version: 1\nname: deep\nsnowflake: {database: DB, schema: SC, warehouse: WH}\n"
        "tables:\n  BASE: {columns: {id: number}}\n"
        f"dynamic_tables:\n  DEEP:\n    target_lag: 1 minute\n    sql: {json.dumps(sql)}\n"
    )
    script = (
        "import sys, engine; from engine.sql.recall import RecalledQuery; graph = engine.validate(sys.argv[1]).graph; "
        "print(isinstance(graph.queries['DEEP'], RecalledQuery), graph.duckdb_tree('DEEP').key)"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PIPE_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(root)}
    runs = [subprocess.run([sys.executable, "-c", script, str(pipeline)], capture_output=True, text=True, env=env, cwd=root)
            for _ in range(2)]
    assert [r.stdout.split() for r in runs] == [["False", "select"], ["True", "select"]], runs[-1].stderr[-500:]
