"""``pipe status``, ``query``, ``history`` and ``destroy`` on the local target, through the
command line in a subprocess: exit codes, output formats, column names as Snowflake returns
them, and the DuckDB file as any DuckDB client sees it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timezone

import duckdb
import pytest

from .conftest import (
    BASE_TABLES,
    DYNAMIC_TABLES,
    EDGES,
    SCHEMA,
    Applied,
    as_json,
    connect,
    pipeline_dir,
    row_counts,
    table_names,
)

ENGAGEMENT_TABLES = set(BASE_TABLES) | set(DYNAMIC_TABLES)


# -- the file ----------------------------------------------------------------------------------


def test_the_file_is_a_plain_duckdb_database_with_the_yaml_names(engagement_db):
    with duckdb.connect(str(engagement_db.db), read_only=True) as con:
        schemas = {r[0] for r in con.execute("SELECT DISTINCT schema_name FROM duckdb_tables()").fetchall()}
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [SCHEMA]
        ).fetchall()}
        members = [r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = 'MEMBERS' "
            "ORDER BY column_index", [SCHEMA]
        ).fetchall()]
        count = con.execute(f"SELECT count(*) FROM {SCHEMA}.RAW_INTERACTIONS").fetchone()[0]
    assert tables == ENGAGEMENT_TABLES
    assert SCHEMA in schemas
    assert members == ["MEMBER_ID", "EMAIL", "NAME", "MEMBER_TYPE", "SIGNUP_DATE", "REGION"]  # generator returns:
    assert count == 10000


# -- status ------------------------------------------------------------------------------------


def test_status_json_describes_every_object(engagement_db):
    statuses = as_json(engagement_db.pipe("status", "--format", "json", ok=True))
    assert [s["name"] for s in statuses][:3] == BASE_TABLES
    assert {s["name"] for s in statuses} == ENGAGEMENT_TABLES
    counts = row_counts(engagement_db.db)
    for s in statuses:
        assert s["rows"] == counts[s["name"]], s
        assert s["state"] == "ACTIVE", s
        if s["name"] in BASE_TABLES:
            assert s["kind"] == "table"
            continue
        assert s["kind"] == "dynamic_table"
        assert s["refresh_mode"] in ("INCREMENTAL", "FULL"), s
        assert s["refresh_mode_reason"], s
        assert datetime.fromisoformat(s["data_timestamp"]) <= datetime.now(timezone.utc).replace(tzinfo=None)
    by_name = {s["name"]: s for s in statuses}
    assert by_name["ENGAGEMENT_DASHBOARD"]["target_lag"].lower() == "1 minute"
    assert by_name["MEMBER_SESSIONS"]["target_lag"].upper() == "DOWNSTREAM"
    # non-incremental constructs, as the design lists them, force FULL with the reason
    assert by_name["RESOURCE_CATALOG"]["refresh_mode"] == "FULL"
    assert "CURRENT_DATE" in by_name["RESOURCE_CATALOG"]["refresh_mode_reason"]
    assert by_name["ENGAGEMENT_DASHBOARD"]["refresh_mode"] == "FULL"
    assert "CURRENT_TIMESTAMP" in by_name["ENGAGEMENT_DASHBOARD"]["refresh_mode_reason"]
    # one apply, one data timestamp for the whole DAG
    assert len({by_name[n]["data_timestamp"] for n in DYNAMIC_TABLES}) == 1


def test_status_table_shows_every_object_and_the_refresh_mode_reasons(engagement_db):
    run = engagement_db.pipe("status", ok=True)
    for name in ENGAGEMENT_TABLES:
        assert name in run.stdout
    assert "CURRENT_DATE" in run.stdout and "DOWNSTREAM" in run.stdout


@pytest.mark.parametrize(
    "command",
    [["status"], ["history"], ["query", "SELECT 1 AS x"], ["refresh"], ["destroy", "--yes"],
     ["stream", "--batches", "1", "--delay", "0"]],
    ids=lambda c: c[0],
)
def test_commands_on_a_missing_database_say_to_apply_first_and_create_nothing(tmp_path, command):
    engagement = Applied(pipeline_dir(tmp_path / "pipeline"), tmp_path / "state" / "nothing.duckdb")
    run = engagement.pipe(*command, ok=False)
    assert "does not exist" in run.errors[0] and "pipe apply" in run.errors[0]
    assert not engagement.db.exists() and not engagement.db.parent.exists()


def test_plan_on_a_missing_database_shows_everything_to_create_and_creates_nothing(tmp_path):
    engagement = Applied(pipeline_dir(tmp_path / "pipeline"), tmp_path / "state" / "nothing.duckdb")
    run = engagement.pipe("plan", ok=True)
    for name in ENGAGEMENT_TABLES:
        assert name in run.stdout
    assert "CREATE OR REPLACE DYNAMIC TABLE" in run.stdout.upper() or "CREATE DYNAMIC TABLE" in run.stdout.upper()
    assert not engagement.db.parent.exists()


# -- query -------------------------------------------------------------------------------------


def _direct(db, sql: str) -> list[tuple]:
    with connect(db) as con:
        return con.execute(sql).fetchall()


def test_query_csv_has_a_header_row_and_the_rows(engagement_db):
    run = engagement_db.pipe(
        "query", "select member_id, region from members order by member_id limit 5", "--format", "csv", ok=True
    )
    rows = list(csv.reader(io.StringIO(run.stdout)))
    assert rows[0] == ["MEMBER_ID", "REGION"]
    expected = _direct(engagement_db.db, "SELECT MEMBER_ID, REGION FROM MEMBERS ORDER BY MEMBER_ID LIMIT 5")
    assert rows[1:] == [[str(m), r] for m, r in expected]


def test_query_csv_quotes_values_with_commas(engagement_db):
    run = engagement_db.pipe("query", "SELECT 'a, b' AS x, 2 AS y", "--format", "csv", ok=True)
    assert list(csv.reader(io.StringIO(run.stdout))) == [["X", "Y"], ["a, b", "2"]]


def test_query_json_is_an_array_of_objects_keyed_by_column_name(engagement_db):
    run = engagement_db.pipe(
        "query",
        "SELECT member_type, COUNT(*) AS members, MIN(signup_date) AS first_signup "
        "FROM members GROUP BY member_type ORDER BY member_type",
        "--format", "json", ok=True,
    )
    rows = json.loads(run.stdout)
    expected = _direct(
        engagement_db.db,
        "SELECT MEMBER_TYPE, count(*), min(SIGNUP_DATE) FROM MEMBERS GROUP BY 1 ORDER BY 1",
    )
    assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    assert [list(r) for r in rows] == [["MEMBER_TYPE", "MEMBERS", "FIRST_SIGNUP"]] * len(expected)
    assert [(r["MEMBER_TYPE"], r["MEMBERS"], date.fromisoformat(r["FIRST_SIGNUP"])) for r in rows] == expected


def test_query_runs_a_script_in_one_session(engagement_db):
    # ALTER SESSION and SET hold for the rest of the script; the last statement's rows are shown.
    # 2025-04-05 is a Saturday: day 7 of a week starting on Sunday (WEEK_START = 7).
    run = engagement_db.pipe(
        "query",
        "ALTER SESSION SET WEEK_START = 7; SET (day, low) = ('2025-04-05'::DATE, 3);\n"
        "SELECT DAYOFWEEK($day) AS dow, COUNT(*) AS members FROM members WHERE member_id <= $low",
        "--format", "csv", ok=True,
    )
    expected = _direct(engagement_db.db, "SELECT count(*) FROM MEMBERS WHERE MEMBER_ID <= 3")[0][0]
    assert list(csv.reader(io.StringIO(run.stdout))) == [["DOW", "MEMBERS"], ["7", str(expected)]]


def test_query_script_sets_the_time_zone_of_ltz_values_for_itself_only(engagement_db):
    # sql-reference/parameters, TIMEZONE: TIMESTAMP_LTZ values show in the session's time zone.
    instant = "'2024-01-15 12:00:00 +00:00'::TIMESTAMP_TZ::TIMESTAMP_LTZ"
    run = engagement_db.pipe("query", f"ALTER SESSION SET TIMEZONE = 'Asia/Tokyo'; SELECT HOUR({instant}) AS h",
                             "--format", "csv", ok=True)
    assert list(csv.reader(io.StringIO(run.stdout))) == [["H"], ["21"]]
    run = engagement_db.pipe("query", f"ALTER SESSION SET TIMEZONE = 'UTC'; SELECT HOUR({instant}) AS h",
                             "--format", "csv", ok=True)
    assert list(csv.reader(io.StringIO(run.stdout))) == [["H"], ["12"]]


def test_query_of_a_variable_never_set_fails_in_one_line(engagement_db):
    run = engagement_db.pipe("query", "SELECT $nowhere", ok=False)
    assert run.errors == ["error: Session variable '$NOWHERE' does not exist [SQL line 1, col 8] "
                          "(set it first in the same script: SET NOWHERE = ...;)"]
    assert "Traceback" not in run.stderr


def test_query_json_of_no_rows_is_an_empty_array(engagement_db):
    run = engagement_db.pipe("query", "SELECT * FROM members WHERE member_id < 0", "--format", "json", ok=True)
    assert json.loads(run.stdout) == []


@pytest.mark.parametrize(
    "sql, columns",
    [
        ("SELECT member_id, m.Region FROM members m LIMIT 1", ["MEMBER_ID", "REGION"]),
        ('SELECT 1 AS "mixedCase", 2 AS lower_alias, 3 AS "UPPER"', ["mixedCase", "LOWER_ALIAS", "UPPER"]),
        ("SELECT COUNT(*) FROM members", ["COUNT(*)"]),
        ("SELECT * FROM resources LIMIT 1", [
            "RESOURCE_ID", "TITLE", "CONTENT_TYPE", "TOPIC", "DIFFICULTY_LEVEL", "PUBLISH_DATE", "ESTIMATED_MINUTES",
        ]),
    ],
)
def test_query_column_names_are_as_snowflake_returns_them(engagement_db, sql, columns):
    rows = json.loads(engagement_db.pipe("query", sql, "--format", "json", ok=True).stdout)
    assert list(rows[0]) == columns


def test_query_translates_snowflake_sql(engagement_db):
    """Variant paths, IFF and COUNT_IF, checked against the same result in plain DuckDB SQL."""
    run = engagement_db.pipe(
        "query",
        "SELECT event_data:device_type::VARCHAR AS device, COUNT(*) AS events, "
        "COUNT_IF(event_data:engagement_seconds::NUMBER > 60) AS long_events, "
        "IFF(COUNT(*) > 3000, 'many', 'few') AS size "
        "FROM raw_interactions GROUP BY event_data:device_type ORDER BY device",
        "--format", "json", ok=True,
    )
    expected = _direct(
        engagement_db.db,
        "SELECT json_extract_string(EVENT_DATA, '$.device_type') AS d, count(*), "
        "count(*) FILTER (WHERE CAST(json_extract(EVENT_DATA, '$.engagement_seconds') AS INT) > 60), "
        "CASE WHEN count(*) > 3000 THEN 'many' ELSE 'few' END "
        "FROM RAW_INTERACTIONS GROUP BY 1 ORDER BY 1",
    )
    assert [tuple(r.values()) for r in json.loads(run.stdout)] == expected


def test_query_table_format_counts_the_rows(engagement_db):
    run = engagement_db.pipe("query", "SELECT resource_id FROM resources WHERE resource_id < 103", ok=True)
    assert "RESOURCE_ID" in run.stdout and "3 row(s)" in run.stdout


@pytest.mark.parametrize(
    "sql, words",
    [
        ("SELEC 1", ["syntax"]),
        ("SELECT * FROM no_such_table", ["NO_SUCH_TABLE"]),
        ("INSERT INTO MEMBER_SESSIONS SELECT * FROM MEMBER_SESSIONS", ["MEMBER_SESSIONS", "dynamic table"]),
    ],
)
def test_query_errors_are_one_line_without_traceback(engagement_db, sql, words):
    run = engagement_db.pipe("query", sql, ok=False)
    for word in words:
        assert word.lower() in run.errors[0].lower(), run.errors[0]


def test_query_current_date(engagement_db):
    rows = json.loads(engagement_db.pipe("query", "SELECT CURRENT_DATE()", "--format", "json", ok=True).stdout)
    assert list(rows[0]) == ["CURRENT_DATE()"]
    assert abs((date.fromisoformat(rows[0]["CURRENT_DATE()"]) - date.today()).days) <= 1


# 17 ones and 3 twos: AVG = 23/20 = 1.15 exactly; Snowflake's AVG of NUMBER is a NUMBER (scale 6),
# so ROUND(1.150000, 1) = 1.2 (half away from zero). As a DOUBLE, 1.15 is 1.1499999… and rounds to 1.1.
_AVG_115 = (
    "SELECT ROUND(AVG(v), 1) AS r FROM ("
    "SELECT 1 AS v FROM members WHERE member_id < 10018 UNION ALL SELECT 2 FROM members WHERE member_id < 10004)"
)


def test_query_round_of_an_exact_average_rounds_half_away_from_zero(engagement_db):
    rows = json.loads(engagement_db.pipe("query", _AVG_115, "--format", "json", ok=True).stdout)
    assert rows == [{"R": 1.2}]


# -- history -----------------------------------------------------------------------------------


def test_history_json_has_snowflakes_columns(engagement_db):
    records = as_json(engagement_db.pipe("history", "--format", "json", ok=True))
    assert sorted(r["NAME"] for r in records) == sorted(DYNAMIC_TABLES)
    counts = row_counts(engagement_db.db)
    for r in records:
        assert {"NAME", "STATE", "STATE_MESSAGE", "REFRESH_ACTION", "REFRESH_TRIGGER", "DATA_TIMESTAMP",
                "REFRESH_START_TIME", "REFRESH_END_TIME", "STATISTICS"} <= set(r)
        assert (r["STATE"], r["REFRESH_TRIGGER"]) == ("SUCCEEDED", "CREATION")
        assert r["STATISTICS"]["numInsertedRows"] == counts[r["NAME"]]
        assert r["REFRESH_START_TIME"] <= r["REFRESH_END_TIME"]
    # newest first: created in dependency order, so listed in reverse
    order = [r["NAME"] for r in records]
    for up, down in EDGES:
        if up in order and down in order:
            assert order.index(down) < order.index(up), order


def test_history_filters_by_name_and_limits(engagement_db):
    one = as_json(engagement_db.pipe("history", "member_sessions", "--format", "json", ok=True))
    assert [r["NAME"] for r in one] == ["MEMBER_SESSIONS"]
    two = as_json(engagement_db.pipe("history", "--limit", "2", "--format", "json", ok=True))
    assert len(two) == 2
    table = engagement_db.pipe("history", ok=True)
    assert all(name in table.stdout for name in DYNAMIC_TABLES) and "SUCCEEDED" in table.stdout


# -- destroy -----------------------------------------------------------------------------------


def test_destroy_without_yes_and_without_a_terminal_refuses(applied):
    run = applied.pipe("destroy", ok=False)
    assert "--yes" in run.errors[0]
    assert table_names(applied.db) == ENGAGEMENT_TABLES  # nothing dropped


@pytest.mark.slow
def test_destroy_with_yes_drops_everything_in_reverse_dependency_order(applied):
    run = applied.pipe("destroy", "--yes", ok=True)
    dropped = [line.split()[-1] for line in run.stdout.splitlines() if line.startswith("dropped")]
    assert set(ENGAGEMENT_TABLES) <= set(dropped)
    for up, down in EDGES:
        assert dropped.index(down) < dropped.index(up), f"{down} must be dropped before {up}: {dropped}"

    assert table_names(applied.db) == set()  # as any DuckDB client sees the file
    statuses = as_json(applied.pipe("status", "--format", "json", ok=True))
    assert {s["state"] for s in statuses} == {"NOT CREATED"}
    assert "nothing to drop" in applied.pipe("destroy", "--yes", ok=True).stdout

    again = applied.pipe("apply", "--yes", ok=True)  # and the pipeline can be applied again
    assert "create" in again.stdout
    assert table_names(applied.db) == ENGAGEMENT_TABLES


def test_destroy_forgets_the_refresh_history_of_what_it_dropped(tmp_path):
    """After destroy and apply, the history holds the new tables' refreshes only."""
    from pathlib import Path

    from engine import project as api

    tiny = Path(__file__).resolve().parents[2] / "fixtures" / "cli" / "tiny.yaml"
    project = api.validate(tiny)
    with project.backend("local", db=tmp_path / "tiny.duckdb", create=True) as backend:
        api.apply(project, backend)
        api.refresh(project, backend)
        assert [(r.name, r.refresh_trigger) for r in api.history(backend)] == [
            ("COLOURS", "MANUAL"), ("COLOURS", "CREATION")
        ]
        api.destroy(project, backend)
        assert api.history(backend) == []
        api.apply(project, backend)
        assert [(r.name, r.refresh_trigger) for r in api.history(backend)] == [("COLOURS", "CREATION")]
