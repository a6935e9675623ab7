"""Incremental refresh equals full recompute, after any sequence of inserts, updates and deletes.

The oracle is the dynamic table's defining property: after a refresh, its rows equal its query
evaluated over the current base tables. Each example builds a fresh local database, runs a
random sequence of writes through the engine (so change tracking sees them), refreshes
incrementally at random points and at the end, and compares every dynamic table with its query.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import project as api
from engine.report import Reporter

ROOT = Path(__file__).resolve().parents[3]
SHOP = ROOT / "tests" / "fixtures" / "incremental" / "shop.yaml"

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _normal(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, Decimal):
        return round(float(value), 6)
    return value


def _rows(result, skip: set[str] = frozenset()):
    keep = [i for i, c in enumerate(result.columns) if c not in skip]
    return sorted((tuple(_normal(row[i]) for i in keep) for row in result.rows), key=repr)


def assert_tables_equal_queries(project, backend, skip_columns: dict[str, set[str]] | None = None) -> None:
    """Every dynamic table holds exactly the rows of its query now."""
    store = backend.store
    for name in project.graph.dynamic_tables:
        skip = (skip_columns or {}).get(name, set())
        table = store.con.execute(f"SELECT * FROM {store.qualified(name)}")
        have = _rows(_result(table), skip)
        query = store.con.execute(backend.queries[name])
        want = _rows(_result(query), skip)
        assert have == want, f"{name} differs from its query"


def _result(cursor):
    from engine.backends.base import QueryResult

    return QueryResult([d[0] for d in cursor.description], cursor.fetchall())


def _sql_list(rows) -> str:
    return ", ".join("(" + ", ".join(_sql(v) for v in row) + ")" for row in rows)


def _sql(value) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


regions = st.sampled_from(["West", "East", "North"])
customers = st.lists(
    st.tuples(st.integers(1, 6), st.sampled_from(["ann", "bo", "cy"]), regions), min_size=1, max_size=3
)
orders = st.lists(
    st.tuples(
        st.integers(1, 25),
        st.integers(1, 7),
        st.integers(0, 30000).map(lambda c: c / 100),
        st.sampled_from(["ok", "returned", "cancelled"]),
        st.integers(1, 5),
    ),
    min_size=1,
    max_size=5,
)
shop_ops = st.lists(
    st.one_of(
        st.tuples(st.just("insert_customers"), customers),
        st.tuples(st.just("insert_orders"), orders),
        st.tuples(st.just("update_order"), st.integers(1, 25), st.integers(0, 30000), st.sampled_from(["ok", "returned", "cancelled"])),
        st.tuples(st.just("delete_orders_of"), st.integers(1, 7)),
        st.tuples(st.just("delete_customer"), st.integers(1, 6)),
        st.tuples(st.just("move_customer"), st.integers(1, 6), regions),
        st.tuples(st.just("refresh")),
    ),
    min_size=1,
    max_size=10,
)


def _shop_statement(op) -> str | None:
    kind = op[0]
    if kind == "insert_customers":
        return f"INSERT INTO CUSTOMERS VALUES {_sql_list(op[1])}"
    if kind == "insert_orders":
        rows = [(i, c, a, s, f"'2026-01-0{d} 10:00:00'::TIMESTAMP") for i, c, a, s, d in op[1]]
        return "INSERT INTO ORDERS VALUES " + ", ".join(
            f"({i}, {c}, {a}, '{s}', {ts})" for i, c, a, s, ts in rows
        )
    if kind == "update_order":
        return f"UPDATE ORDERS SET amount = {op[2] / 100}, status = '{op[3]}' WHERE order_id = {op[1]}"
    if kind == "delete_orders_of":
        return f"DELETE FROM ORDERS WHERE customer_id = {op[1]}"
    if kind == "delete_customer":
        return f"DELETE FROM CUSTOMERS WHERE customer_id = {op[1]}"
    if kind == "move_customer":
        return f"UPDATE CUSTOMERS SET region = '{op[2]}' WHERE customer_id = {op[1]}"
    return None


@pytest.fixture(scope="module")
def shop_project():
    return api.validate(SHOP)


@SETTINGS
@given(ops=shop_ops)
def test_shop_incremental_refresh_equals_full_recompute(shop_project, tmp_path_factory, ops):
    db = tmp_path_factory.mktemp("shop") / "shop.duckdb"
    with shop_project.backend("local", db=db) as backend:
        api.apply(shop_project, backend)
        quiet = Reporter()
        for op in ops:
            statement = _shop_statement(op)
            if statement is None:
                api.refresh(shop_project, backend, reporter=quiet)
                assert_tables_equal_queries(shop_project, backend)
            else:
                backend.query(statement)
        records = api.refresh(shop_project, backend, reporter=quiet)
        assert all(r.state == "SUCCEEDED" for r in records)
        assert_tables_equal_queries(shop_project, backend)


def test_shop_refreshes_are_incremental_where_the_query_allows(shop_project, tmp_path):
    """The property above must not pass merely by falling back to FULL."""
    with shop_project.backend("local", db=tmp_path / "shop.duckdb") as backend:
        api.apply(shop_project, backend)
        backend.query("INSERT INTO CUSTOMERS VALUES (1, 'ann', 'West'), (2, 'bo', 'East')")
        backend.query("INSERT INTO ORDERS VALUES (1, 1, 10.5, 'ok', '2026-01-01'::TIMESTAMP)")
        api.refresh(shop_project, backend, reporter=Reporter())
        backend.query("INSERT INTO ORDERS VALUES (2, 2, 99.5, 'returned', '2026-01-02'::TIMESTAMP)")
        records = {r.name: r for r in api.refresh(shop_project, backend, reporter=Reporter())}
    for name in ("CUSTOMER_ORDERS", "TOP_ORDERS", "ORDER_DETAIL", "STATUS_MIX", "Clients par région", "grosses Régions"):
        assert records[name].refresh_action == "INCREMENTAL", (name, records[name].state_message)
    assert records["REGION_TOTALS"].refresh_action == "FULL"  # a subquery outside FROM
    assert records["ORDER_DETAIL"].inserted_rows == 1 and records["ORDER_DETAIL"].deleted_rows == 0


# -- the engagement pipeline ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def engagement_project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engagement")
    shutil.copytree(ROOT / "pipelines", folder / "pipelines")
    path = folder / "pipelines" / "engagement.yaml"
    path.write_text(path.read_text().replace("args: [10000, 30]", "args: [600, 30]"))
    return api.validate(path)


engagement_ops = st.lists(
    st.one_of(
        st.tuples(st.just("stream"), st.integers(1, 60)),
        st.tuples(st.just("delete_member_events"), st.integers(10001, 11000)),
        st.tuples(st.just("move_events"), st.integers(10001, 11000), st.integers(10001, 11000)),
        st.tuples(st.just("rename_member"), st.integers(10001, 11000), st.sampled_from(["West", "Midwest"])),
        st.tuples(st.just("delete_member"), st.integers(10001, 11000)),
        st.tuples(st.just("retopic"), st.integers(100, 199), st.sampled_from(["focus", "school"])),
        st.tuples(st.just("refresh")),
    ),
    min_size=1,
    max_size=6,
)

# The dashboard's report time is CURRENT_TIMESTAMP: it differs from any later evaluation.
ENGAGEMENT_CLOCK = {"ENGAGEMENT_DASHBOARD": {"REPORT_GENERATED_AT"}}


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=engagement_ops)
def test_engagement_incremental_refresh_equals_full_recompute(engagement_project, tmp_path_factory, ops):
    db = tmp_path_factory.mktemp("eng") / "engagement.duckdb"
    with engagement_project.backend("local", db=db) as backend:
        api.apply(engagement_project, backend)
        quiet = Reporter()
        for op in ops:
            kind = op[0]
            if kind == "stream":
                backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [op[1], 1])
            elif kind == "delete_member_events":
                backend.query(f"DELETE FROM RAW_INTERACTIONS WHERE member_id = {op[1]}")
            elif kind == "move_events":
                backend.query(f"UPDATE RAW_INTERACTIONS SET member_id = {op[2]} WHERE member_id = {op[1]}")
            elif kind == "rename_member":
                backend.query(f"UPDATE MEMBERS SET region = '{op[2]}' WHERE member_id = {op[1]}")
            elif kind == "delete_member":
                backend.query(f"DELETE FROM MEMBERS WHERE member_id = {op[1]}")
            elif kind == "retopic":
                backend.query(f"UPDATE RESOURCES SET topic = '{op[2]}' WHERE resource_id = {op[1]}")
            else:
                api.refresh(engagement_project, backend, reporter=quiet)
                assert_tables_equal_queries(engagement_project, backend, ENGAGEMENT_CLOCK)
        records = api.refresh(engagement_project, backend, reporter=quiet)
        assert all(r.state == "SUCCEEDED" for r in records), [r.state_message for r in records]
        assert_tables_equal_queries(engagement_project, backend, ENGAGEMENT_CLOCK)
