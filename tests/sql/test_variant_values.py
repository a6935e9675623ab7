"""VARIANT values as Snowflake holds and prints them: the *undefined* array element, apart from a
JSON null and printed ``undefined``; TO_JSON's text; dates and times put in a VARIANT.

Expected values come from Snowflake's documentation: a SQL NULL put in an ARRAY is undefined and
printed ``undefined`` (array_construct, array_compact pages); ARRAY_COMPACT removes undefined and
JSON null alike ("missing and null values removed", array_compact page); an undefined element
read by position is a SQL NULL while a JSON null is a VARIANT null whose TYPEOF is NULL_VALUE
(data-types-semistructured, typeof pages); FLATTEN yields no row for a missing element (flatten
page, PARSE_JSON('[1, ,77]')); ARRAY_CONTAINS(NULL, a) is TRUE only for an array holding undefined
and NULL otherwise (array_contains page). Rows are read the way ``pipe query`` shows them.
"""

from __future__ import annotations

import duckdb
import pytest

from engine.backends.local.queries import cursor_result
from engine.sql import local_functions
from engine.sql.translate import to_duckdb


@pytest.fixture()
def con():
    connection = duckdb.connect()
    local_functions.register(connection)
    yield connection
    connection.close()


def _shown(con, sql: str, catalog: dict | None = None) -> list[tuple]:
    return cursor_result(con.execute(to_duckdb(sql, catalog=catalog))).rows


def test_a_sql_null_in_an_array_is_printed_undefined_and_compacted_away(con) -> None:
    rows = _shown(con, "SELECT ARRAY_CONSTRUCT(10, NULL, 30) AS a, ARRAY_COMPACT(ARRAY_CONSTRUCT(10, NULL, 30)) AS c")
    assert rows == [("[10,undefined,30]", "[10,30]")]


def test_undefined_and_json_null_stay_apart(con) -> None:
    rows = _shown(con, "SELECT ARRAY_CONSTRUCT(NULL, PARSE_JSON('null')) AS a, "
                       "a[0] IS NULL AS first_is_sql_null, TYPEOF(a[1]) AS second_type, "
                       "ARRAY_COMPACT(a) AS compacted")
    assert rows == [("[undefined,null]", True, "NULL_VALUE", "[]")]


def test_array_contains_null_looks_for_undefined(con) -> None:
    rows = _shown(con, "SELECT ARRAY_CONTAINS(NULL, ARRAY_CONSTRUCT('hola', NULL)) AS with_undefined, "
                       "ARRAY_CONTAINS(NULL, ARRAY_CONSTRUCT('hola', PARSE_JSON('null'))) AS with_json_null")
    assert rows == [(True, None)]


def test_flatten_skips_undefined_elements_stored_in_a_table(con) -> None:
    catalog = {"T": {"A": "ARRAY"}}
    con.execute("CREATE TABLE T (A JSON)")
    con.execute(to_duckdb("INSERT INTO t SELECT ARRAY_CONSTRUCT(1, NULL, 3)", catalog=catalog))
    con.execute(to_duckdb("INSERT INTO t SELECT PARSE_JSON('[4, , 6,]')", catalog=catalog))
    rows = _shown(con, "SELECT f.index, f.value FROM t, LATERAL FLATTEN(input => t.a) f ORDER BY f.value",
                  catalog)
    assert [(index, int(value)) for index, value in rows] == [(0, 1), (2, 3), (0, 4), (2, 6)]
    shown = sorted(a.replace(" ", "") for (a,) in _shown(con, "SELECT a FROM t", catalog))
    assert shown == ["[1,undefined,3]", "[4,undefined,6,undefined]"]


def test_the_reserved_element_never_shows(con) -> None:
    # ARRAY_INSERT past the end fills the gap with undefined (array_insert page); ARRAY_SORT puts
    # undefined last by default (array_sort page); ARRAY_TO_STRING writes it as '' (array_to_string page)
    rows = _shown(con, "SELECT ARRAY_INSERT(ARRAY_CONSTRUCT(5), 2, 1) AS a, ARRAY_APPEND(a, NULL) AS b, "
                       "ARRAY_SORT(b) AS sorted, ARRAY_TO_STRING(b, ',') AS text, b[1] AS gap")
    assert rows == [("[5,undefined,1]", "[5,undefined,1,undefined]", "[1,5,undefined,undefined]", "5,,1,", None)]
    assert all("\\u0000" not in str(v) and "\x00" not in str(v) for v in rows[0])


def test_to_json_sorts_keys_and_drops_white_space(con) -> None:
    # to_json page: TO_JSON(PARSE_JSON('{"b":1,"a":2}')) is '{"a":2,"b":1}'; TO_JSON('null'::VARIANT) is '"null"'
    rows = _shown(con, """SELECT TO_JSON(PARSE_JSON('{"b": 1, "a": {"d": [1, "x"], "c": null}}')) AS j,
                                 TO_JSON('null'::VARIANT) AS s, TO_JSON(NULL) AS n""")
    assert rows == [('{"a":{"c":null,"d":[1,"x"]},"b":1}', '"null"', None)]


def test_an_array_as_text_writes_undefined(con) -> None:
    # Snowflake prints an undefined element `undefined` (array_construct page); as text it stays so,
    # never as the reserved element
    rows = _shown(con, "SELECT ARRAY_CONSTRUCT(1, NULL)::VARCHAR AS cast_text, TO_VARCHAR(ARRAY_CONSTRUCT(1, NULL)) AS "
                       "to_text, 'a' || ARRAY_CONSTRUCT(NULL) AS joined, UPPER(ARRAY_CONSTRUCT(NULL)) AS upper_text")
    assert rows == [("[1,undefined]", "[1,undefined]", "a[undefined]", "[UNDEFINED]")]


def test_dates_and_times_put_in_a_variant_are_written_as_snowflake_writes_them(con) -> None:
    # is_date-value page ("typeof_dates_and_times"), session time zone America/Los_Angeles
    con.execute("SET TimeZone = 'America/Los_Angeles'")
    rows = _shown(con, """SELECT TO_VARIANT(TO_DATE('2024-02-24')) AS d, TYPEOF(TO_VARIANT(TO_DATE('2024-02-24'))) AS dt,
                                 TO_VARIANT(TO_TIME('20:57:01.123456789+07:00')) AS t,
                                 TYPEOF(TO_VARIANT(TO_TIME('20:57:01.123456789+07:00'))) AS tt,
                                 TO_VARIANT(TO_TIMESTAMP_LTZ('2022-02-24 13:00:00.123 +01:00')) AS ltz""")
    assert rows == [('"2024-02-24"', "DATE", '"20:57:01"', "TIME", '"2022-02-24 04:00:00.123 -0800"')]


def test_a_stored_array_cast_to_text_writes_undefined_not_the_local_marker(con) -> None:
    """A dynamic table keeps ARRAY_CONSTRUCT(NULL, 1); a reader casting that column to VARCHAR
    gets Snowflake's text (the cast of the same array written in place, above), never the
    local marker of an undefined element."""
    con.execute(f"CREATE TABLE T AS {to_duckdb('SELECT ARRAY_CONSTRUCT(NULL, 1) AS A')}")
    rows = _shown(con, "SELECT a::varchar AS t, CAST(a AS VARCHAR) AS u, TO_VARCHAR(a) AS v FROM t")
    assert rows == [("[undefined,1]",) * 3]
    assert rows == _shown(con, "SELECT ARRAY_CONSTRUCT(NULL, 1)::varchar AS t, CAST(ARRAY_CONSTRUCT(NULL, 1) AS VARCHAR) AS u, "
                               "TO_VARCHAR(ARRAY_CONSTRUCT(NULL, 1)) AS v")
