"""Binding queries against a catalog: what Snowflake accepts binds, what it rejects is a Problem.

Each accepted query here is one the binder once rejected although Snowflake's documentation runs it
(the page is cited); the rejected twin shows the check still works there.
"""

from __future__ import annotations

from engine.graph import build_graph
from engine.spec.loader import load_pipeline_text
from engine.sql.binder import bind, output_names
from engine.sql.parsing import parse_select

# sql-reference/constructs/unpivot.md, "Use UNPIVOT with joins"
MONTHLY_SALES = {
    "MONTHLY_SALES": {"EMPID": "INT", "DEPT": "TEXT", "JAN": "INT", "FEB": "INT", "MAR": "INT", "APR": "INT"},
    "EMPLOYEES": {"EMPID": "INT", "LAST_NAME": "TEXT", "REGION": "TEXT"},
}


def problems(sql: str, catalog) -> list[str]:
    _, found = bind(parse_select(sql), catalog)
    return [p.message for p in found]


def test_an_unpivot_alias_names_the_unpivoted_rows():
    sql = """
        SELECT e.region, u.month, SUM(u.sales) AS total_sales
          FROM monthly_sales
            UNPIVOT (sales FOR month IN (jan, feb, mar, apr)) u
          JOIN employees e
            ON u.empid = e.empid
          GROUP BY e.region, u.month
          ORDER BY e.region, u.month"""
    assert problems(sql, MONTHLY_SALES) == []


def test_an_unpivot_alias_offers_the_kept_name_and_value_columns_only():
    sql = """
        SELECT u.dept, u.jan, u.salez
          FROM monthly_sales UNPIVOT (sales FOR month IN (jan, feb, mar, apr)) u"""
    assert problems(sql, MONTHLY_SALES) == ["unknown column U.JAN", "unknown column U.SALEZ"]


# sql-reference/constructs/with.md: the music tables its examples read
MUSIC = {
    "MUSICIANS": {"MUSICIAN_ID": "INT", "MUSICIAN_NAME": "TEXT"},
    "MUSICIANS_AND_ALBUMS": {"MUSICIAN_ID": "INT", "ALBUM_ID": "INT"},
}


def test_order_by_after_intersect_names_the_output_columns():
    sql = """
        select distinct musicians.musician_id, musician_name
         from musicians inner join musicians_and_albums
         where musicians.musician_ID = musicians_and_albums.musician_ID
        intersect
        select distinct musicians.musician_id, musician_name
         from musicians
        order by musician_ID"""
    assert problems(sql, MUSIC) == []


def test_order_by_after_union_still_rejects_a_name_it_does_not_output():
    sql = "select musician_id from musicians union select musician_id from musicians order by musician_name"
    assert problems(sql, MUSIC) == ["unknown column MUSICIAN_NAME"]


# sql-reference/sql/select.md: employee_table and department_table as the examples create them
EMPLOYEES = {
    "EMPLOYEE_TABLE": {"EMPLOYEE_ID": "INT", "LAST_NAME": "TEXT", "FIRST_NAME": "TEXT", "DEPARTMENT_ID": "INT"},
    "DEPARTMENT_TABLE": {"DEPARTMENT_ID": "INT", "DEPARTMENT_NAME": "TEXT"},
}


def test_a_select_alias_is_usable_in_later_expressions_and_every_clause():
    # select.md, usage notes: a column alias may be used "in other parts of the same query (in JOIN,
    # FROM, WHERE, GROUP BY, other column expressions, etc.)"
    sql = """
        SELECT employee_id * 2 AS doubled, doubled + 1 AS next_one
          FROM employee_table
          WHERE next_one > 3
          GROUP BY doubled, next_one
          HAVING next_one > 1"""
    assert problems(sql, EMPLOYEES) == []


def test_a_select_alias_does_not_hide_an_unknown_column():
    sql = "SELECT employee_id * 2 AS doubled, doubled + salary AS pay FROM employee_table"
    assert problems(sql, EMPLOYEES) == ["unknown column SALARY"]


# sql-reference/constructs/values.md: "You can reference values either by column name (implicit) or
# column position"; the implicit names are COLUMN1, COLUMN2, …
def test_values_columns_are_named_column1_column2_with_or_without_a_table_alias():
    assert problems("SELECT column1, $2 FROM (VALUES (1, 'one'), (2, 'two'))", {}) == []
    assert problems("SELECT v1.column2 FROM (VALUES (1, 'one'), (2, 'two')) AS v1", {}) == []
    assert problems("SELECT e.*, v.column2 FROM employee_table e JOIN (VALUES (101, 'x')) v "
                    "ON v.column1 = e.employee_id", EMPLOYEES) == []


def test_a_values_clause_offers_only_as_many_columns_as_its_rows_hold():
    assert problems("SELECT column3 FROM (VALUES (1, 'one'))", {}) == ["unknown column COLUMN3"]
    assert problems("SELECT v.column3 FROM (VALUES (1, 'one')) v", {}) == ["unknown column V.COLUMN3"]
    assert problems("SELECT c3 FROM (VALUES (1, 'one')) AS v (c1, c2)", {}) == ["unknown column C3"]


def test_a_column_position_may_be_qualified_by_its_table_alias():
    sql = """
        SELECT v1.$2, v2.$2
          FROM (VALUES (1, 'one'), (2, 'two')) AS v1
                INNER JOIN (VALUES (1, 'One'), (3, 'three')) AS v2
          WHERE v2.$1 = v1.$1"""
    assert problems(sql, {}) == []
    assert problems("SELECT e.$2 FROM employee_table e", EMPLOYEES) == []


# user-guide/data-engineering/row-timestamps.md: a dynamic table selects its source's
# METADATA$ROW_LAST_COMMIT_TIME, a column no table declares
RAW_EVENTS = {"RAW_EVENTS": {"EVENT_ID": "INT", "EVENT_TYPE": "TEXT", "EVENT_DATA": "TEXT"}}


def test_metadata_columns_bind_without_being_declared():
    sql = """
        SELECT event_id, METADATA$ROW_LAST_COMMIT_TIME AS source_last_commit_time,
               e.METADATA$ROW_LAST_COMMIT_TIME AS qualified
          FROM raw_events e"""
    assert problems(sql, RAW_EVENTS) == []


def test_metadata_columns_do_not_hide_an_unknown_column():
    sql = "SELECT event_idd, METADATA$ROW_LAST_COMMIT_TIME FROM raw_events"
    assert problems(sql, RAW_EVENTS) == ["unknown column EVENT_IDD"]


def test_a_qualified_column_position_beyond_the_source_is_reported():
    assert problems("SELECT e.$5 FROM employee_table e", EMPLOYEES) == ["unknown column E.$5"]


def test_an_unaliased_expression_is_named_by_its_text_as_written():
    # sql-reference/functions/listagg.md prints the column as written, across lines:
    # LISTAGG(O_CLERK, ', ')\n     WITHIN GROUP (ORDER BY O_TOTALPRICE DESC)
    sql = """SELECT o_orderstatus,
   LISTAGG(o_clerk, ', ')
     WITHIN GROUP (ORDER BY o_totalprice DESC)
  FROM orders
  GROUP BY o_orderstatus"""
    orders = {"ORDERS": {"O_ORDERSTATUS": "TEXT", "O_CLERK": "TEXT", "O_TOTALPRICE": "NUMBER(12,2)"}}
    tree = parse_select(sql)
    bound, found = bind(tree, orders)
    assert found == []
    assert output_names(bound, tree, sql) == [
        "O_ORDERSTATUS",
        "LISTAGG(O_CLERK, ', ')\n     WITHIN GROUP (ORDER BY O_TOTALPRICE DESC)",
    ]


def test_a_dynamic_table_may_read_an_upstream_column_named_by_its_expression():
    pipeline = load_pipeline_text(
        """
version: 1
name: named
snowflake: {database: D, schema: S, warehouse: W}
tables:
  SALES: {columns: {product_id: integer, quantity: integer}}
dynamic_tables:
  TOTALS:
    target_lag: downstream
    sql: SELECT product_id, SUM(quantity), COUNT(*) FROM sales GROUP BY product_id
  BIG_SELLERS:
    target_lag: 1 hour
    sql: SELECT product_id, "SUM(QUANTITY)" AS sold FROM totals WHERE "COUNT(*)" > 1
"""
    )
    graph = build_graph(pipeline)
    assert [c.name for c in graph.queries["TOTALS"].columns] == ["PRODUCT_ID", "SUM(QUANTITY)", "COUNT(*)"]
    assert [c.name for c in graph.queries["BIG_SELLERS"].columns] == ["PRODUCT_ID", "SOLD"]


def test_a_recursive_cte_with_an_anchor_binds_without_the_recursive_keyword():
    """sql-reference/constructs/with: "CTEs can be recursive whether or not RECURSIVE was specified"."""
    from helpers import graph_of

    graph_of(
        "version: 1\nname: r\nsnowflake: {database: D, schema: S, warehouse: W}\n"
        "tables:\n  PARTS: {columns: {id: number, parent: number}}\n"
        "dynamic_tables:\n  TREE:\n    target_lag: 1 minute\n    sql: |\n"
        "      WITH tree (id, parent) AS (\n"
        "          SELECT id, parent FROM PARTS WHERE parent IS NULL\n"
        "          UNION ALL\n"
        "          SELECT p.id, p.parent FROM PARTS p JOIN tree c ON p.parent = c.id\n"
        "      )\n"
        "      SELECT id FROM tree\n"
    )
