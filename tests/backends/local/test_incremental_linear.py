"""Row-wise queries (joins, filters, projections, FLATTEN: no aggregation) apply a change of one
input as the query over that change alone; every other shape keeps recomputing its keys. The
tables always equal their queries: duplicates, NULL keys, updates and deletes included."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

from engine import project as api
from engine.backends.local.incremental import linear
from engine.report import Reporter

from .test_incremental_property import assert_tables_equal_queries


@pytest.mark.parametrize(
    "query, table, expected",
    [
        ("SELECT a.x, b.y FROM A AS a JOIN B AS b ON a.k = b.k", "A", True),
        ("SELECT a.x, b.y FROM A AS a JOIN B AS b ON a.k = b.k", "B", True),
        ("SELECT a.x, b.y FROM A AS a LEFT JOIN B AS b ON a.k = b.k", "A", True),
        ("SELECT a.x, b.y FROM A AS a LEFT JOIN B AS b ON a.k = b.k", "B", False),  # NULL-filled side
        ("SELECT a.x, b.y FROM A AS a FULL JOIN B AS b ON a.k = b.k", "A", False),
        ("SELECT a.x, r.v FROM A AS a CROSS JOIN LATERAL (SELECT unnest(a.l) AS v) AS r WHERE a.x > 1", "A", True),
        ("SELECT x, count(*) AS n FROM A GROUP BY x", "A", False),
        ("SELECT DISTINCT x FROM A", "A", False),
        ("SELECT x, row_number() OVER (ORDER BY x) AS n FROM A", "A", False),
        ("SELECT a.x FROM A AS a JOIN A AS b ON a.k = b.k", "A", False),  # read twice
        ("SELECT x FROM A WHERE x IN (SELECT x FROM A)", "A", False),
        ("SELECT x FROM A WHERE t > now()", "A", False),
        ("SELECT x, random() AS r FROM A", "A", False),
        ("SELECT * FROM A", "A", False),
        ("SELECT x FROM A LIMIT 3", "A", False),
    ],
)
def test_row_wise_shapes(query, table, expected):
    assert linear.row_wise(sqlglot.parse_one(query, read="duckdb"), table) is expected


PIPELINE = Path(__file__).resolve().parents[2] / "fixtures" / "incremental" / "rowwise.yaml"

WRITES = [
    ["INSERT INTO ORDERS SELECT 5, 1, 20, PARSE_JSON('[\"a\", \"a\", \"b\"]')",
     "INSERT INTO ORDERS SELECT 6, NULL, 3, PARSE_JSON('[]')"],
    ["UPDATE ORDERS SET amount = amount + 1 WHERE id IN (1, 5)"],
    ["DELETE FROM ORDERS WHERE id = 2"],
    ["UPDATE CUSTOMERS SET name = 'Cy' WHERE customer = 3", "INSERT INTO CUSTOMERS VALUES (NULL, 'nobody')"],
    ["DELETE FROM ORDERS WHERE customer = 1", "INSERT INTO ORDERS SELECT 7, 2, 12, PARSE_JSON('[\"b\"]')"],
]


@pytest.fixture
def applied(tmp_path):
    project = api.validate(PIPELINE)
    with project.backend("local", db=tmp_path / "rowwise.duckdb") as backend:
        api.apply(project, backend)
        backend.query("INSERT INTO CUSTOMERS VALUES (1, 'Ann'), (2, 'Bo'), (3, 'Cy')")
        for values in ["1, 1, 5, '[\"a\"]'", "2, 2, 7, '[\"a\", \"b\"]'", "3, 2, 7, '[\"a\", \"b\"]'", "4, 3, 11, 'null'"]:
            backend.query(f"INSERT INTO ORDERS SELECT id, customer, amount, PARSE_JSON(tags) FROM (SELECT {values}) AS v(id, customer, amount, tags)")
        api.refresh(project, backend, reporter=Reporter())
        yield project, backend


def test_row_wise_changes_match_the_queries(applied):
    project, backend = applied
    plans = backend.refresher.incremental.plan
    assert plans("NAMED").row_wise == {"PER_CUSTOMER"}  # CUSTOMERS fills the NULL side
    assert plans("TAGGED").row_wise == {"ORDERS"}
    assert plans("COPIES").row_wise == {"ORDERS", "CUSTOMERS"}
    for writes in WRITES:
        for statement in writes:
            backend.query(statement)
        records = {r.name: r for r in api.refresh(project, backend, reporter=Reporter())}
        for name in ("NAMED", "TAGGED", "COPIES"):
            assert records[name].refresh_action in ("INCREMENTAL", "NO_DATA"), (name, records[name].state_message)
        assert_tables_equal_queries(project, backend)


def test_rows_missing_from_the_table_are_recomputed_by_key(applied, monkeypatch):
    """A row the change deletes that the table no longer holds (here deleted behind pipe's back
    within the same process, which the outside-change check at open would otherwise catch):
    the keys are recomputed instead, and the table equals its query again."""
    project, backend = applied
    incremental = backend.refresher.incremental
    row_wise, outcomes = incremental._apply_row_wise, {}

    def recorded(name, *args):
        outcomes[name] = row_wise(name, *args)
        return outcomes[name]

    monkeypatch.setattr(incremental, "_apply_row_wise", recorded)
    store = backend.store
    store.con.execute(f"DELETE FROM {store.qualified('TAGGED')} WHERE customer = 2")
    backend.query("DELETE FROM ORDERS WHERE id = 3")
    records = {r.name: r for r in api.refresh(project, backend, reporter=Reporter())}
    assert records["TAGGED"].refresh_action == "INCREMENTAL"
    assert outcomes["TAGGED"] is None and outcomes["COPIES"] is not None  # TAGGED fell back to its keys
    assert_tables_equal_queries(project, backend)
