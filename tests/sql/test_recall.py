"""Compiled queries read back from the cache: the same facts as compiling again, parsed only when a
tree is read, and a miss whenever what the compile depends on changes."""

from __future__ import annotations

import pytest
from sqlglot import exp

from helpers import ENGAGEMENT, graph_of

from engine.sql.recall import RecalledQuery

HEADER = """\
version: 1
name: recalled
snowflake: {database: DB, schema: SC, warehouse: WH}
tables:
  ORDERS: {columns: {%s}}
dynamic_tables:
  TOTALS:
    target_lag: 1 minute
    sql: SELECT %s FROM ORDERS
"""
COLUMNS = "id: number, amount: 'number(10,2)', day: date"


def _totals(columns: str = COLUMNS, select: str = "*"):
    return graph_of(HEADER % (columns, select)).queries["TOTALS"]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _facts(compiled):
    return (
        compiled.name, compiled.sql, compiled.reads, compiled.columns, compiled.decision,
        compiled.problems, compiled.catalog, compiled.tree.sql(), compiled.bound.sql(),
    )


def test_engagement_recalled_equals_compiled(folder, monkeypatch):
    import engine

    fresh = engine.validate(ENGAGEMENT).graph
    again = engine.validate(ENGAGEMENT).graph
    assert all(isinstance(q, RecalledQuery) for q in again.queries.values())
    assert not any(isinstance(q, RecalledQuery) for q in fresh.queries.values())
    # Compiled a third time with the cache off: the same facts, trees and refresh modes.
    monkeypatch.setenv("PIPE_CACHE_DIR", "off")
    uncached = engine.validate(ENGAGEMENT).graph
    for name in fresh.dynamic_tables:
        assert _facts(again.queries[name]) == _facts(uncached.queries[name])
        assert again.refresh_mode(name) == uncached.refresh_mode(name)
        assert again.queries[name].partitioning.keys.keys() == uncached.queries[name].partitioning.keys.keys()
    assert again.create_order == uncached.create_order
    assert again.warnings == uncached.warnings


def test_a_recalled_query_is_parsed_only_when_its_tree_is_read(folder):
    _totals()
    recalled = _totals()
    assert isinstance(recalled, RecalledQuery)
    assert "tree" not in vars(recalled) and "bound" not in vars(recalled)
    assert [c.name for c in recalled.columns] == ["ID", "AMOUNT", "DAY"]
    assert "tree" not in vars(recalled)
    assert recalled.tree.sql(dialect="snowflake") == "SELECT * FROM ORDERS"
    # Bound again: the star expanded to the declared columns, each qualified by its table.
    bound = [(c.table, c.name) for c in recalled.bound.selects[0].parent.find_all(exp.Column)]
    assert bound == [("ORDERS", "ID"), ("ORDERS", "AMOUNT"), ("ORDERS", "DAY")]


def test_a_change_of_what_a_query_reads_misses(folder):
    assert [str(c) for c in _totals().columns] == ["ID NUMBER(38,0)", "AMOUNT NUMBER(10,2)", "DAY DATE"]
    # Another type, then another order of the same columns: SELECT * follows each.
    retyped = _totals("id: number, amount: float, day: date")
    assert [str(c) for c in retyped.columns] == ["ID NUMBER(38,0)", "AMOUNT FLOAT", "DAY DATE"]
    reordered = _totals("day: date, id: number, amount: 'number(10,2)'")
    assert [c.name for c in reordered.columns] == ["DAY", "ID", "AMOUNT"]
    assert not isinstance(retyped, RecalledQuery) and not isinstance(reordered, RecalledQuery)


def test_a_query_snowflake_rejects_is_never_kept(folder):
    from engine.errors import PipeError

    for _ in range(2):
        with pytest.raises(PipeError, match="ORDERS has no column AMT|column AMT"):
            _totals(select="amt")
    assert not (folder / "compiled").exists()
