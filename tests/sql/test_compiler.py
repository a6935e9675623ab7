"""The compiled query model: output schemas, types and the one refresh-mode decision."""

from __future__ import annotations

import json

import pytest

from helpers import ENGAGEMENT, graph_of

HEADER = """\
version: 1
name: compiled
snowflake: {database: DB, schema: SC, warehouse: WH}
tables:
  ORDERS: {columns: {id: number, customer_id: number, amount: 'number(10,2)', attrs: variant, day: date}}
  SCORES: {columns: {player: varchar, score: number}}
  EXT: {external: true}
dynamic_tables:
"""


def _compiled(sql: str, name: str = "X"):
    graph = graph_of(HEADER + f"  {name}:\n    target_lag: 1 minute\n    sql: |\n" + "".join(f"      {l}\n" for l in sql.splitlines()))
    return graph.queries[name]


def test_engagement_output_schemas_follow_the_seed_plan():
    import engine

    graph = engine.validate(ENGAGEMENT, target="snowflake").graph
    names = {n: [c.name for c in q.columns] for n, q in graph.queries.items()}
    # The seed plan's columns, written out by hand.
    assert names["MEMBER_SESSIONS"] == [
        "SESSION_ID", "MEMBER_ID", "SESSION_START", "SESSION_END", "EVENT_COUNT",
        "TOTAL_ENGAGEMENT_SECONDS", "RESOURCES_VIEWED", "DEVICE_TYPE",
    ]
    assert names["ENGAGEMENT_DASHBOARD"][:2] == ["REPORT_GENERATED_AT", "ACTIVE_MEMBERS"]
    assert len(names["SESSION_ENGAGEMENT_DETAIL"]) == 15
    types = {(n, c.name): c.type for n, q in graph.queries.items() for c in q.columns}
    # Types that follow from a cast or a declared column (generators declare member_id: number).
    assert types["MEMBER_SESSIONS", "SESSION_ID"] == "VARCHAR"
    assert types["MEMBER_SESSIONS", "MEMBER_ID"] == "NUMBER(38,0)"
    assert types["MEMBER_SESSIONS", "SESSION_START"] == "TIMESTAMP_NTZ"
    assert types["MEMBER_SESSIONS", "RESOURCES_VIEWED"] == "ARRAY"
    assert types["RESOURCE_CATALOG", "PUBLISH_DATE"] == "DATE"
    assert types["SESSION_ENGAGEMENT_DETAIL", "RESOURCE_ID"] == "NUMBER(38,0)"
    assert types["SESSION_ENGAGEMENT_DETAIL", "SESSION_START"] == "TIMESTAMP_NTZ"  # through MEMBER_SESSIONS
    assert types["ENGAGEMENT_DASHBOARD", "MEMBERS_BY_REGION"] == "OBJECT"


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("SELECT id, amount FROM ORDERS", [("ID", "NUMBER(38,0)"), ("AMOUNT", "NUMBER(10,2)")]),
        ("SELECT attrs:color AS color, attrs:size::NUMBER AS size FROM ORDERS", [("COLOR", "VARIANT"), ("SIZE", "NUMBER(38,0)")]),
        ("SELECT DATEADD(day, 1, day) AS next_day FROM ORDERS", [("NEXT_DAY", "DATE")]),
        ("SELECT id * 2 AS doubled, doubled + 1 AS more FROM ORDERS", [("DOUBLED", "NUMBER(38,0)"), ("MORE", "NUMBER(38,0)")]),
        ("SELECT * EXCLUDE (attrs, day) FROM ORDERS", [("ID", "NUMBER(38,0)"), ("CUSTOMER_ID", "NUMBER(38,0)"), ("AMOUNT", "NUMBER(10,2)")]),
        ("SELECT o.id, f.value AS v, f.index AS i FROM ORDERS o, LATERAL FLATTEN(input => o.attrs) f", None),
    ],
)
def test_output_columns(sql, expected):
    compiled = _compiled(sql)
    if expected is None:
        assert [c.name for c in compiled.columns] == ["ID", "V", "I"]
    else:
        assert [(c.name, c.type) for c in compiled.columns] == expected


def test_star_over_a_table_of_unknown_columns_has_no_schema_and_its_readers_bind_leniently():
    graph = graph_of(
        HEADER
        + "  A:\n    target_lag: 1 minute\n    sql: SELECT * FROM EXT\n"
        + "  B:\n    target_lag: 1 minute\n    sql: SELECT anything FROM A\n"
    )
    assert graph.queries["A"].columns is None
    assert graph.queries["B"].problems == ()


def test_external_table_may_declare_its_columns():
    from engine.errors import SqlError

    text = HEADER.replace("EXT: {external: true}", "EXT: {external: true, columns: {k: number}}")
    with pytest.raises(SqlError, match="unknown column NOPE"):
        graph_of(text + "  A:\n    target_lag: 1 minute\n    sql: SELECT nope FROM EXT\n")


def test_global_window_is_incremental_on_snowflake_but_full_locally_and_validate_says_why():
    compiled = _compiled("SELECT player, RANK() OVER (ORDER BY score DESC) AS place FROM SCORES")
    modes = compiled.modes("auto")
    assert (modes.snowflake, modes.local) == ("INCREMENTAL", "FULL")
    assert "SCORES" in modes.local_reason


def test_partitioned_window_is_incremental_in_both():
    compiled = _compiled("SELECT player, RANK() OVER (PARTITION BY player ORDER BY score) AS place FROM SCORES")
    modes = compiled.modes("auto")
    assert (modes.snowflake, modes.local) == ("INCREMENTAL", "INCREMENTAL")
    assert not modes.differs


def test_declared_full_mode_is_full_everywhere():
    modes = _compiled("SELECT player FROM SCORES").modes("full")
    assert (modes.snowflake, modes.local, modes.snowflake_reason) == ("FULL", "FULL", "refresh_mode is full")


def test_validate_warns_where_the_local_engine_refreshes_fully(tmp_path, run_pipe):
    (tmp_path / "rank.yaml").write_text(
        HEADER + "  RANKED:\n    target_lag: 1 minute\n    sql: SELECT player, RANK() OVER (ORDER BY score) AS r FROM SCORES\n"
    )
    result = run_pipe("validate", "rank.yaml", cwd=tmp_path)
    assert result.code == 0
    assert "RANKED: Snowflake: INCREMENTAL; locally: FULL, because" in result.stderr


def test_graph_json_carries_columns_and_modes(run_pipe):
    result = run_pipe("graph", str(ENGAGEMENT), "--format", "json")
    data = json.loads(result.stdout)
    nodes = {n["name"]: n for n in data["nodes"]}
    assert nodes["MEMBERS"]["kind"] == "table"
    assert {"name": "MEMBER_ID", "type": "NUMBER"} in nodes["MEMBERS"]["columns"]
    sessions = nodes["MEMBER_SESSIONS"]
    assert sessions["reads"] == ["RAW_INTERACTIONS"]
    assert sessions["columns"][0] == {"name": "SESSION_ID", "type": "VARCHAR"}
    assert sessions["refresh_mode_snowflake"]["mode"] == "INCREMENTAL"
    assert nodes["ENGAGEMENT_DASHBOARD"]["refresh_mode_local"]["mode"] == "FULL"
    assert {"from": "MEMBER_ENGAGEMENT_SUMMARY", "to": "ENGAGEMENT_DASHBOARD"} in data["edges"]


def test_graph_text_lists_columns_on_request(run_pipe):
    result = run_pipe("graph", str(ENGAGEMENT), "--columns")
    assert "(SESSION_ID VARCHAR, MEMBER_ID NUMBER(38,0), SESSION_START TIMESTAMP_NTZ," in result.stdout
    assert "SESSION_ID VARCHAR" not in run_pipe("graph", str(ENGAGEMENT)).stdout


@pytest.mark.parametrize("sql", [
    "SELECT id, amount * 2 AS twice FROM orders WHERE day > '2024-01-01'",
    "SELECT customer_id, SUM(amount) AS total, COUNT(*) AS n FROM orders GROUP BY customer_id",
    "SELECT o.attrs:color::varchar AS color, o.id FROM orders o",  # a VARIANT path: typed on a copy
])
def test_typing_the_output_leaves_the_bound_tree_as_binding_made_it(sql):
    from sqlglot import exp

    from engine.sql.binder import bind
    from engine.sql.compiler import compile_query, parse

    catalog = {"ORDERS": {"ID": "NUMBER", "CUSTOMER_ID": "NUMBER", "AMOUNT": "NUMBER(10,2)", "ATTRS": "VARIANT", "DAY": "DATE"}}
    compiled = compile_query("X", sql, *parse(sql), catalog)
    assert compiled.columns is not None and compiled.types  # typed ...
    again, problems = bind(compiled.tree, compiled.catalog)  # ... yet the bound tree is as a fresh bind gives it
    assert not problems and compiled.bound.sql(dialect="snowflake") == again.sql(dialect="snowflake")
    assert [node._type for node in compiled.bound.walk()] == [node._type for node in again.walk()]
    notes = {key for node in compiled.bound.walk() for key in (node._meta or {})}
    assert not notes & {"nonnull", "query_type"}
    assert isinstance(compiled.types[next(iter(compiled.types))], exp.DataType)
