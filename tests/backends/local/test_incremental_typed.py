"""An incremental refresh computes its keys with the same types as the query: a FLOAT turned into
text is '5' in the table and in the keys of the change (it once was '5' in one and '5.0' in the
other, and the row was lost)."""

from __future__ import annotations

import json

import pytest

from .conftest import Applied, pipeline_dir

PIPELINE = """\
version: 1
name: typed
snowflake: {database: D, schema: S, warehouse: W}
tables:
  T: {columns: {x: float}}
dynamic_tables:
  A:
    target_lag: 1 minute
    sql: SELECT x FROM T
  B:
    target_lag: 1 minute
    sql: SELECT x::VARCHAR AS s FROM SOURCE
"""


@pytest.mark.parametrize("source", ["T", "A"])  # keyed on a base table, and on a dynamic table
def test_a_float_key_turned_into_text_refreshes_incrementally_as_the_full_query(tmp_path, source):
    folder = pipeline_dir(tmp_path / "pipeline")
    (folder / "typed.yaml").write_text(PIPELINE.replace("SOURCE", source))
    run = Applied(folder, tmp_path / "typed.duckdb")
    run.pipe("apply", "--yes", file="typed.yaml", ok=True)
    run.pipe("query", "INSERT INTO T VALUES (5.0), (2.5)", file="typed.yaml", ok=True)
    refreshed = run.pipe("refresh", "B", file="typed.yaml", ok=True)
    assert "INCREMENTAL" in refreshed.stdout

    def rows(sql):
        return json.loads(run.pipe("query", sql, "--format", "json", file="typed.yaml", ok=True).stdout)

    table = rows("SELECT s FROM B ORDER BY s")
    assert table == rows(f"SELECT x::VARCHAR AS s FROM {source} ORDER BY s")
    assert table == [{"S": "2.5"}, {"S": "5"}]  # Snowflake writes a FLOAT 5.0 as text '5'
