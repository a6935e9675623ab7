"""The DAG: dependencies inferred from SQL, create/drop order, cycles, lag rules and warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine.errors import CycleError, GraphError, SqlError
from engine.graph import DYNAMIC_TABLE, EXTERNAL, TABLE, build_graph
from engine.spec.loader import load_pipeline
from helpers import ENGAGEMENT, ROOT, SHOP, graph_of

HEAD = """\
version: 1
name: t
snowflake: {database: DB, schema: SC, warehouse: WH}
tables:
  BASE: {columns: {id: number, arr: array}}
  EXT: {external: true}
dynamic_tables:
"""  # dynamic tables start on line 8


def dts(body: str):
    return graph_of(HEAD + body)


def edges(graph) -> set[tuple[str, str]]:
    return set(graph.graph.edges)


# -- inference --------------------------------------------------------------------------------


def test_engagement_edges():
    graph = build_graph(load_pipeline(ENGAGEMENT))
    assert edges(graph) == {
        ("RAW_INTERACTIONS", "MEMBER_SESSIONS"),
        ("RESOURCES", "RESOURCE_CATALOG"),
        ("MEMBERS", "SESSION_ENGAGEMENT_DETAIL"),
        ("MEMBER_SESSIONS", "SESSION_ENGAGEMENT_DETAIL"),
        ("RESOURCE_CATALOG", "SESSION_ENGAGEMENT_DETAIL"),
        ("SESSION_ENGAGEMENT_DETAIL", "MEMBER_ENGAGEMENT_SUMMARY"),
        ("MEMBER_ENGAGEMENT_SUMMARY", "ENGAGEMENT_DASHBOARD"),
    }
    assert graph.kind("MEMBERS") == TABLE and graph.kind("ENGAGEMENT_DASHBOARD") == DYNAMIC_TABLE


def test_shop_edges_cover_every_way_of_naming_a_table():
    graph = build_graph(load_pipeline(SHOP))
    assert edges(graph) == {
        ("ORDERS", "ORDER_ITEMS"),  # SHOP_DB.SALES.ORDERS, next to LATERAL FLATTEN
        ("ORDER_ITEMS", "CUSTOMER_TOTALS"),  # inside the CTE
        ("CUSTOMERS", "CUSTOMER_TOTALS"),  # sales.customers: schema-qualified, lower case
        ("CUSTOMER_TOTALS", "REGION_REPORT"),
        ("FX_RATES", "REGION_REPORT"),  # "FX_RATES", quoted, external
        ("RETURNS_LOG", "REGION_REPORT"),  # an empty table declared with columns
    }
    assert graph.kind("FX_RATES") == EXTERNAL


@pytest.mark.parametrize(
    ("sql", "reads"),
    [
        ("SELECT id FROM BASE", {"BASE"}),
        ("SELECT id FROM base", {"BASE"}),
        ('SELECT id FROM "BASE"', {"BASE"}),
        ("SELECT id FROM sc.base", {"BASE"}),
        ("SELECT id FROM db.sc.base", {"BASE"}),
        ('SELECT id FROM "DB"."SC"."BASE"', {"BASE"}),
        ("WITH base2 AS (SELECT id FROM BASE) SELECT id FROM base2", {"BASE"}),
        ("WITH ext AS (SELECT id FROM BASE) SELECT id FROM ext", {"BASE"}),  # the CTE shadows EXT
        ("SELECT id FROM (SELECT id FROM BASE) s", {"BASE"}),
        ("SELECT b.id, f.value FROM BASE b, LATERAL FLATTEN(input => b.arr) f", {"BASE"}),
        ("SELECT f.value FROM BASE b, TABLE(FLATTEN(input => b.arr)) f", {"BASE"}),
        ("SELECT a.id FROM BASE a JOIN BASE b ON a.id = b.id", {"BASE"}),
        ("SELECT id FROM BASE UNION ALL SELECT id FROM EXT", {"BASE", "EXT"}),
        ("SELECT id FROM BASE WHERE id IN (SELECT id FROM EXT)", {"BASE", "EXT"}),
        ("SELECT 1 AS one", set()),
    ],
)
def test_inferred_dependencies(sql, reads):
    graph = dts(f"  D:\n    target_lag: 1 minute\n    sql: {json.dumps(sql)}\n")
    assert set(graph.graph.predecessors("D")) == reads


@pytest.mark.parametrize(
    ("sql", "written", "column"),
    [
        ("SELECT id FROM MISSING", "MISSING", 26),
        ("SELECT id FROM OTHER.BASE", "OTHER.BASE", 26),
        ("SELECT id FROM PROD.SC.BASE", "PROD.SC.BASE", 26),
        ('SELECT id FROM "base"', '"base"', 26),  # shown quoted, as written: another name than BASE
        ("SELECT id FROM BASE JOIN NOPE USING (id)", "NOPE", 36),
    ],
)
def test_unknown_names_are_errors_naming_the_table_and_the_name(sql, written, column):
    # "    sql: '": the quote is column 10 of line 10, so the SQL's column 1 is file column 11.
    with pytest.raises(GraphError) as info:
        dts(f"  D:\n    target_lag: 1 minute\n    sql: '{sql}'\n")
    assert info.value.message == f"unknown table {written} in the SQL of D"
    loc = info.value.location
    assert (loc.file, loc.line, loc.column, loc.table) == ("test.yaml", 10, column, "D")


def test_unknown_name_hints():
    with pytest.raises(GraphError) as info:
        dts("  D:\n    target_lag: 1 minute\n    sql: SELECT id FROM BASS\n")
    assert info.value.hint == "did you mean BASE?"
    with pytest.raises(GraphError) as info:
        dts('  D:\n    target_lag: 1 minute\n    sql: SELECT id FROM "base"\n')
    assert info.value.hint == 'unquote it or write "BASE"'
    with pytest.raises(GraphError) as info:
        dts("  D:\n    target_lag: 1 minute\n    sql: SELECT id FROM OTHER.BASE\n")
    assert "DB.SC" in info.value.hint


def test_sql_syntax_error_names_the_table_and_sql_position():
    with pytest.raises(SqlError) as info:
        dts("  D:\n    target_lag: 1 minute\n    sql: |\n      SELECT id\n      FROM BASE WHERE (id\n")
    error = info.value
    assert error.location.table == "D" and error.location.line == 12
    assert error.sql_line == 2
    assert "SQL line 2" in str(error)


# -- order ------------------------------------------------------------------------------------


ENGAGEMENT_ORDER = [
    "MEMBERS",
    "RESOURCES",
    "RAW_INTERACTIONS",
    "MEMBER_SESSIONS",
    "RESOURCE_CATALOG",
    "SESSION_ENGAGEMENT_DETAIL",
    "MEMBER_ENGAGEMENT_SUMMARY",
    "ENGAGEMENT_DASHBOARD",
]


def test_engagement_create_and_drop_order():
    graph = build_graph(load_pipeline(ENGAGEMENT))
    assert graph.create_order == ENGAGEMENT_ORDER
    assert graph.drop_order == list(reversed(ENGAGEMENT_ORDER))
    assert graph.dynamic_tables == ENGAGEMENT_ORDER[3:]


def test_create_order_puts_every_object_after_what_it_reads():
    # Declared consumers first: the order must still follow the edges.
    graph = dts(
        "  C:\n    target_lag: 1 minute\n    sql: SELECT id FROM B\n"
        "  B:\n    target_lag: 1 minute\n    sql: SELECT id FROM A\n"
        "  A:\n    target_lag: 1 minute\n    sql: SELECT id FROM BASE\n"
        "  Z:\n    target_lag: 1 minute\n    sql: SELECT id FROM EXT\n"
    )
    order = graph.create_order
    for source, target in graph.graph.edges:
        assert order.index(source) < order.index(target)
    # Ties are broken by declaration order (BASE, EXT, C, B, A, Z): A becomes ready first, then
    # Z (declared last) waits behind B and C, declared before it.
    assert order == ["BASE", "EXT", "A", "B", "C", "Z"]
    assert graph.drop_order == ["Z", "C", "B", "A", "EXT", "BASE"]


def test_create_order_is_the_same_in_every_process():
    script = (
        "from engine.graph import build_graph; from engine.spec.loader import load_pipeline; "
        f"print(','.join(build_graph(load_pipeline({str(SHOP)!r})).create_order))"
    )
    orders = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        orders.add(out.stdout.strip())
    assert orders == {"CUSTOMERS,ORDERS,FX_RATES,RETURNS_LOG,ORDER_ITEMS,CUSTOMER_TOTALS,REGION_REPORT"}


def test_neighbours_and_levels():
    graph = build_graph(load_pipeline(ENGAGEMENT))
    assert graph.upstream("SESSION_ENGAGEMENT_DETAIL") == ["MEMBERS", "MEMBER_SESSIONS", "RESOURCE_CATALOG"]
    assert graph.downstream("MEMBERS") == ["SESSION_ENGAGEMENT_DETAIL"]
    assert graph.all_downstream("RESOURCES") == [
        "RESOURCE_CATALOG",
        "SESSION_ENGAGEMENT_DETAIL",
        "MEMBER_ENGAGEMENT_SUMMARY",
        "ENGAGEMENT_DASHBOARD",
    ]
    assert graph.all_upstream("MEMBER_ENGAGEMENT_SUMMARY") == ENGAGEMENT_ORDER[:6]
    assert graph.levels() == {
        "MEMBERS": 0,
        "RESOURCES": 0,
        "RAW_INTERACTIONS": 0,
        "MEMBER_SESSIONS": 1,
        "RESOURCE_CATALOG": 1,
        "SESSION_ENGAGEMENT_DETAIL": 2,
        "MEMBER_ENGAGEMENT_SUMMARY": 3,
        "ENGAGEMENT_DASHBOARD": 4,
    }


# -- cycles -----------------------------------------------------------------------------------


def test_cycle_is_printed_from_the_first_declared():
    with pytest.raises(CycleError) as info:
        dts(
            "  B:\n    target_lag: 1 minute\n    sql: SELECT id FROM C\n"
            "  C:\n    target_lag: 1 minute\n    sql: SELECT id FROM A\n"
            "  A:\n    target_lag: 1 minute\n    sql: SELECT id FROM B JOIN BASE USING (id)\n"
        )
    assert info.value.message == "dependency cycle: B → A → C → B"
    assert info.value.cycle == ["B", "A", "C"]
    assert info.value.location.table == "B" and info.value.location.line == 10


def test_two_table_cycle():
    with pytest.raises(CycleError, match="dependency cycle: A → B → A"):
        dts("  A:\n    target_lag: 1 minute\n    sql: SELECT id FROM B\n  B:\n    target_lag: 1 minute\n    sql: SELECT id FROM A\n")


def test_self_reference_is_a_cycle():
    with pytest.raises(CycleError) as info:
        dts("  A:\n    target_lag: 1 minute\n    sql: SELECT id FROM BASE UNION ALL SELECT id FROM a\n")
    assert info.value.message == "dependency cycle: A → A"
    # "    sql: SELECT id FROM BASE UNION ALL SELECT id FROM a": the SQL starts at column 10 and
    # its "a" is SQL column 46, so file column 55.
    assert (info.value.location.line, info.value.location.column) == (10, 55)


def test_cte_named_like_the_table_itself_is_not_a_cycle():
    graph = dts("  A:\n    target_lag: 1 minute\n    sql: WITH a AS (SELECT id FROM BASE) SELECT id FROM a\n")
    assert set(graph.graph.predecessors("A")) == {"BASE"}


# -- lags -------------------------------------------------------------------------------------


def test_lag_shorter_than_upstream_is_an_error():
    with pytest.raises(GraphError) as info:
        dts(
            "  A:\n    target_lag: 2 hours\n    sql: SELECT id FROM BASE\n"
            "  B:\n    target_lag: 90 minutes\n    sql: SELECT id FROM A\n"
        )
    assert info.value.message == "target lag 90 minutes of B is shorter than the 2 hours of A, which it reads"
    assert (info.value.location.line, info.value.location.column) == (12, 17)
    assert "at least A's" in info.value.hint


@pytest.mark.parametrize(
    ("upstream", "downstream"),
    [("1 minute", "1 minute"), ("60 seconds", "1 minute"), ("1 minute", "1 hour"), ("downstream", "1 minute"), ("1 hour", "downstream")],
)
def test_allowed_lag_pairs(upstream, downstream):
    graph = dts(
        f"  A:\n    target_lag: {upstream}\n    sql: SELECT id FROM BASE\n"
        f"  B:\n    target_lag: {downstream}\n    sql: SELECT id FROM A\n"
    )
    assert graph.dynamic_tables == ["A", "B"]


def test_downstream_without_time_lagged_consumer_is_a_warning():
    graph = dts(
        "  A:\n    target_lag: downstream\n    sql: SELECT id FROM BASE\n"
        "  B:\n    target_lag: downstream\n    sql: SELECT id FROM A\n"
    )
    warned = {w.location.table: w for w in graph.warnings}
    assert set(warned) == {"A", "B"}
    assert "no dynamic table with a time lag reads it" in warned["B"].message
    assert "never refresh" in warned["B"].message
    assert (warned["A"].location.line, warned["A"].location.column) == (9, 17)
    assert str(warned["B"]).startswith("test.yaml:12:17: B: target_lag is downstream")
    assert graph.effective_lag("A") is None


def test_downstream_with_a_time_lagged_consumer_is_fine():
    graph = dts(
        "  A:\n    target_lag: downstream\n    sql: SELECT id FROM BASE\n"
        "  B:\n    target_lag: downstream\n    sql: SELECT id FROM A\n"
        "  C:\n    target_lag: 5 minutes\n    sql: SELECT id FROM B\n"
        "  D:\n    target_lag: 2 minutes\n    sql: SELECT id FROM A\n"
    )
    assert graph.warnings == []
    assert graph.effective_lag("B") == 300
    assert graph.effective_lag("A") == 120  # the most demanding consumer


def test_engagement_warnings_are_the_two_non_deterministic_functions():
    graph = build_graph(load_pipeline(ENGAGEMENT))
    assert [(w.location.table, w.location.line, w.location.column) for w in graph.warnings] == [
        ("RESOURCE_CATALOG", 120, 41),  # CURRENT_DATE() in DATEDIFF, in the select list
        ("ENGAGEMENT_DASHBOARD", 205, 11),  # CURRENT_TIMESTAMP() in the select list
    ]
    assert all(graph.effective_lag(name) == 60 for name in graph.dynamic_tables)


def test_refresh_decisions_are_recorded():
    graph = build_graph(load_pipeline(ENGAGEMENT))
    modes = {name: d.mode for name, d in graph.decisions.items()}
    assert modes == {
        "MEMBER_SESSIONS": "INCREMENTAL",
        "RESOURCE_CATALOG": "FULL",
        "SESSION_ENGAGEMENT_DETAIL": "INCREMENTAL",
        "MEMBER_ENGAGEMENT_SUMMARY": "INCREMENTAL",
        "ENGAGEMENT_DASHBOARD": "FULL",
    }


def test_incremental_that_cannot_be_is_an_error():
    with pytest.raises(SqlError) as info:
        dts("  A:\n    target_lag: 1 minute\n    refresh_mode: incremental\n    sql: SELECT id FROM BASE INTERSECT SELECT id FROM EXT\n")
    assert "refresh_mode incremental is not possible: INTERSECT" in info.value.message
    assert info.value.location.table == "A"


def test_full_refresh_mode_accepts_anything_incremental_cannot_do():
    graph = dts("  A:\n    target_lag: 1 minute\n    refresh_mode: full\n    sql: SELECT id FROM BASE LIMIT 5\n")
    assert graph.decisions["A"].mode == "FULL"


# -- large and deep pipelines: no recursion limit ---------------------------------------------


def _chain(n: int, last_lag: str = "5 minutes") -> str:
    lines = []
    for i in range(n):
        source = "BASE" if i == 0 else f"C{i - 1}"
        lag = last_lag if i == n - 1 else "downstream"
        lines.append(f"  C{i}:\n    target_lag: {lag}\n    sql: SELECT id FROM {source}\n")
    return "".join(lines)


def test_a_chain_of_1500_tables_builds_in_order_with_the_last_lag_everywhere():
    # deeper than Python's default recursion limit of 1000
    graph = dts(_chain(1500))
    assert graph.dynamic_tables == [f"C{i}" for i in range(1500)]
    assert graph.upstream("C700") == ["C699"] and graph.downstream("C700") == ["C701"]
    assert graph.all_upstream("C3") == ["BASE", "C0", "C1", "C2"]
    assert len(graph.all_downstream("C0")) == 1499
    assert graph.levels()["C1499"] == 1500
    # every DOWNSTREAM table is kept within the lag of the one time-lagged table at the end
    assert {graph.effective_lag(n) for n in graph.dynamic_tables} == {300}
    assert not graph.warnings


def test_a_chain_ending_downstream_warns_about_every_table():
    graph = dts(_chain(1200, last_lag="downstream"))
    assert graph.effective_lag("C0") is None
    assert len([w for w in graph.warnings if "never refresh" in w.message]) == 1200


def test_a_cycle_at_the_end_of_a_long_chain_is_found():
    body = _chain(1100).replace("SELECT id FROM BASE", "SELECT id FROM C1099")
    with pytest.raises(CycleError) as caught:
        dts(body)
    assert len(caught.value.cycle) == 1100 and caught.value.cycle[0] == "C0"


def test_a_fan_takes_the_smallest_consumer_lag():
    consumers = "".join(
        f"  F{i}:\n    target_lag: {60 * (i + 1)} seconds\n    sql: SELECT id FROM HUB\n" for i in range(3000)
    )
    graph = dts("  HUB:\n    target_lag: downstream\n    sql: SELECT id FROM BASE\n" + consumers)
    assert graph.effective_lag("HUB") == 60
    assert graph.downstream("HUB") == [f"F{i}" for i in range(3000)]
    assert graph.upstream("F2999") == ["HUB"]


# -- scale: no recursion limit, nothing per table that grows with the pipeline ------------------



def test_each_query_is_compiled_against_only_what_it_reads():
    body = "".join(f"  F_{i}:\n    target_lag: 1 minute\n    sql: SELECT id FROM BASE WHERE id > {i}\n" for i in range(50))
    graph = dts(body)
    assert {tuple(q.catalog) for q in graph.queries.values()} == {("BASE",)}
    assert graph.types()["F_49"] == {"ID": "NUMBER(38,0)"}
