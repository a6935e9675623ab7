"""ALTER SESSION and SET in a local script (engine.sql.session): what they change, what they refuse."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from engine.errors import SqlError
from engine.sql import local_functions
from engine.sql.session import Session, split_statements
from engine.sql.translate import to_duckdb


def _run(script: str) -> list[tuple]:
    """Run a script the way ``pipe query`` runs one: session statements kept, the last one's rows."""
    con = duckdb.connect()
    local_functions.register(con)
    session = Session()

    def evaluate(select: str):
        return con.execute(to_duckdb(select, session=session))

    rows = None
    for statement in split_statements(script):
        if session.apply(sqlglot.parse_one(statement, read="snowflake"), evaluate, statement) is None:
            rows = con.execute(to_duckdb(statement, session=session)).fetchall()
    return rows


def test_split_statements_ignores_semicolons_in_strings_and_comments() -> None:
    script = "SET a = 'x;y';\n-- one; two\nSELECT $a;  ; -- done"
    assert split_statements(script) == ["SET a = 'x;y'", "-- one; two\nSELECT $a"]
    assert split_statements("SELECT $$a;b$$ /* ; */") == ["SELECT $$a;b$$ /* ; */"]


def test_a_variable_holds_the_value_its_expression_had_when_set() -> None:
    # sql-reference/session-variables: SET evaluates the expression; $name reads the value.
    assert _run("SET x = 6 * 7; SET y = $x + 1; SET x = 0; SELECT $x, $y") == [(0, 43)]


def test_week_start_changes_dayofweek_and_unset_restores_the_default() -> None:
    # 2025-04-05 is a Saturday: 6 with weeks from Sunday = 0 (the default), 7 with WEEK_START = 7 (Sunday).
    assert _run("ALTER SESSION SET WEEK_START = 7; SELECT DAYOFWEEK('2025-04-05'::DATE)") == [(7,)]
    assert _run("ALTER SESSION SET WEEK_START = 7; ALTER SESSION UNSET WEEK_START; "
                "SELECT DAYOFWEEK('2025-04-05'::DATE)") == [(6,)]


def test_an_unknown_variable_is_an_error_at_its_position() -> None:
    with pytest.raises(SqlError) as raised:
        _run("SELECT 1,\n       $missing + 1")
    assert str(raised.value).startswith("Session variable '$MISSING' does not exist")
    assert (raised.value.sql_line, raised.value.sql_column) == (2, 8)


def test_timezone_is_kept_for_the_caller_to_apply() -> None:
    session = Session()
    session.apply(sqlglot.parse_one("ALTER SESSION SET TIMEZONE = 'Europe/Madrid'", read="snowflake"), None)
    assert session.timezone == "Europe/Madrid"
    session.apply(sqlglot.parse_one("ALTER SESSION UNSET TIMEZONE", read="snowflake"), None)
    assert session.timezone is None


@pytest.mark.parametrize(("statement", "message", "column"), [
    ("ALTER SESSION SET QUERY_TAG = 'x'", "session parameter QUERY_TAG is not supported locally", 19),
    ("ALTER SESSION SET TIMEZONE = 'Mars/Olympus'", "invalid value 'Mars/Olympus' for parameter TIMEZONE", 30),
    ("ALTER SESSION SET WEEK_START = 8", "invalid value 8 for parameter WEEK_START", 32),
    ("ALTER SESSION SET WEEK_OF_YEAR_POLICY = 2", "invalid value 2 for parameter WEEK_OF_YEAR_POLICY", 41),
])
def test_a_parameter_the_local_engine_cannot_follow_is_refused_naming_it(statement, message, column) -> None:
    with pytest.raises(SqlError) as raised:
        _run(statement)
    assert raised.value.message == message
    assert raised.value.sql_column == column


def test_a_variable_cannot_hold_a_variant_locally() -> None:
    with pytest.raises(SqlError, match="a session variable holding a VARIANT, OBJECT or ARRAY is not supported locally"):
        _run("SET v = PARSE_JSON('{\"a\": 1}')")


def test_set_needs_one_value_per_variable() -> None:
    with pytest.raises(SqlError, match="SET assigns 1 values to 2 variables"):
        _run("SET (a, b) = (1)")
