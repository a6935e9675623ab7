"""The snowflake backend against a connection double: the exact statements sent, in order.

Expected statement lists are golden files under tests/fixtures/snowflake/*.sql (statements end
with ``;`` and a blank line). Regenerate them after an intended change with
``PIPE_UPDATE_GOLDEN=1 pytest tests/backends -k snowflake`` and review the diff.
Every statement any test sends is checked to parse with sqlglot's Snowflake dialect.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from snowflake.connector.errors import OperationalError

from engine.backends.base import get_backend
from engine.backends.snowflake import SnowflakeBackend, plan_groups
from engine.backends.snowflake.diff import parse_arg_types, parse_dynamic_table_text
from engine.errors import BackendError
from engine.graph import build_graph
from engine.planner import ActionKind, build_destroy_plan, build_plan
from engine.report import Progress, Reporter
from engine.spec import load_pipeline, load_pipeline_text

from .snowflake_double import FakeSnowflake, check_snowflake_sql

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "snowflake"
MINI = FIXTURES / "mini.yaml"
INTROSPECTION = [
    "SHOW DATABASES LIKE 'PIPE_TEST'",
    "SHOW SCHEMAS LIKE 'MINI' IN DATABASE PIPE_TEST",
    "SHOW DYNAMIC TABLES IN SCHEMA PIPE_TEST.MINI",
    "SHOW TABLES IN SCHEMA PIPE_TEST.MINI",
    "SHOW USER FUNCTIONS IN SCHEMA PIPE_TEST.MINI",
]
USE = ["USE SCHEMA PIPE_TEST.MINI", "USE WAREHOUSE PIPE_WH"]


class Recorder(Reporter):
    """A reporter that keeps what it was told."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.events: list[tuple[str, dict]] = []

    @contextmanager
    def progress(self, description: str, total: int | None = None):
        recorder = self

        class _Bar(Progress):
            def advance(self, amount: int = 1, *, description: str | None = None) -> None:
                if amount and description:
                    recorder.steps.append(description)

        yield _Bar()

    def event(self, kind: str, **data) -> None:
        self.events.append((kind, data))


@pytest.fixture
def fake():
    """A fresh fake account; afterwards, every statement sent must be valid Snowflake SQL."""
    account = FakeSnowflake()
    yield account
    for statement in account.statements:
        check_snowflake_sql(statement)


def mini_graph(*replacements: tuple[str, str], path: Path = MINI):
    """The mini pipeline, with textual edits of its YAML."""
    text = path.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return build_graph(load_pipeline_text(text, file=str(path), base_dir=FIXTURES))


def backend(fake: FakeSnowflake, graph=None) -> SnowflakeBackend:
    return SnowflakeBackend(graph or mini_graph(), connect=fake.connect, clock=fake.now, monotonic=fake.monotonic)


def deploy(fake: FakeSnowflake, graph=None, *, prune: bool = False, reporter: Reporter | None = None):
    """What ``pipe apply --target snowflake`` does: introspect, plan, apply. Returns the plan."""
    graph = graph or mini_graph()
    with backend(fake, graph) as target:
        plan = build_plan(graph, target.read_state(), target="snowflake", prune=prune)
        target.apply(plan, reporter or Reporter())
    return plan


def golden(name: str, sent: list[str]) -> None:
    """Assert ``sent`` equals tests/fixtures/snowflake/<name>.sql (PIPE_UPDATE_GOLDEN=1 rewrites it)."""
    path = FIXTURES / f"{name}.sql"
    if os.environ.get("PIPE_UPDATE_GOLDEN"):
        path.write_text("".join(f"{s};\n\n" for s in sent), encoding="utf-8")
    expected = [s for s in path.read_text(encoding="utf-8").split(";\n\n") if s.strip()]
    assert sent == expected


# -- plan / apply ----------------------------------------------------------------------------


def test_snowflake_first_apply_creates_everything_in_order(fake):
    reporter = Recorder()
    plan = deploy(fake, reporter=reporter)
    golden("first_apply", fake.statements)
    assert fake.statements[:1] == INTROSPECTION[:1]  # no database: nothing more to look at
    assert [a.kind for a in plan.changes] == [ActionKind.CREATE] * 9
    assert [data["action"].name for kind, data in reporter.events if kind == "action"] == [a.name for a in plan.changes]
    assert "create DASHBOARD" in reporter.steps


def test_snowflake_apply_runs_exactly_the_plan_statements(fake):
    graph = mini_graph()
    with backend(fake, graph) as target:
        plan = build_plan(graph, target.read_state(), target="snowflake")
    flat = [s for _, statements in plan_groups(plan) for s in statements]
    assert flat == plan.statements()


def test_snowflake_reapply_sends_only_introspection(fake):
    deploy(fake)
    mark = fake.mark()
    plan = deploy(fake)
    assert not plan.has_changes
    golden("reapply", fake.since(mark))
    assert fake.since(mark) == INTROSPECTION


def test_snowflake_lag_change_is_an_alter(fake):
    deploy(fake)
    mark = fake.mark()
    plan = deploy(fake, mini_graph(("target_lag: 1 minute", "target_lag: 2 minutes")))
    assert [(a.kind, a.name) for a in plan.changes] == [(ActionKind.ALTER, "DASHBOARD")]
    golden("lag_change", fake.since(mark))
    assert fake.since(mark) == [*INTROSPECTION, *USE, "ALTER DYNAMIC TABLE DASHBOARD SET TARGET_LAG = '2 minutes'"]
    assert deploy(fake, mini_graph(("target_lag: 1 minute", "target_lag: 2 minutes"))).has_changes is False


def test_snowflake_lag_shown_in_other_units_is_unchanged(fake):
    deploy(fake)
    fake.dynamic_tables[("PIPE_TEST", "MINI", "DASHBOARD")]["target_lag"] = "60 seconds"
    assert not deploy(fake).has_changes


def test_snowflake_warehouse_and_comment_changes_are_alters(fake):
    deploy(fake)
    mark = fake.mark()
    graph = mini_graph(
        ("    comment: sessions\n", ""),
        ("    target_lag: 1 minute\n", "    target_lag: 1 minute\n    warehouse: BIG_WH\n"),
    )
    plan = deploy(fake, graph)
    assert {a.name: a.kind for a in plan.changes} == {"MEMBER_SESSIONS": ActionKind.ALTER, "DASHBOARD": ActionKind.ALTER}
    comment, warehouse = fake.since(mark)[len(INTROSPECTION) + 2 :]
    # The file's comment goes; pipe's fingerprint stays, or the table would no longer be pipe's.
    assert re.fullmatch(r"ALTER DYNAMIC TABLE MEMBER_SESSIONS SET COMMENT = 'pipe:[0-9a-f]{16}'", comment)
    assert warehouse == "ALTER DYNAMIC TABLE DASHBOARD SET WAREHOUSE = BIG_WH"
    sessions = fake.dynamic_tables[("PIPE_TEST", "MINI", "MEMBER_SESSIONS")]
    assert sessions["comment"] == comment.split(" = ")[1].strip("'")
    assert not deploy(fake, graph).has_changes


def test_snowflake_whitespace_comment_and_case_changes_are_unchanged(fake):
    deploy(fake)
    mark = fake.mark()
    rewritten = """    sql: |
      -- the same query, written differently
      select m.MEMBER_ID,   m.region,
             count(*) as SESSIONS,
             sum(s.seconds) as seconds  /* unchanged */
        from member_sessions s join members m on m.member_id = s.member_id
       group by m.member_id, m.region;
"""
    original = """    sql: |
      SELECT m.member_id, m.region, COUNT(*) AS sessions, SUM(s.seconds) AS seconds
      FROM MEMBER_SESSIONS s
      JOIN MEMBERS m ON m.member_id = s.member_id
      GROUP BY m.member_id, m.region
"""
    plan = deploy(fake, mini_graph((original, rewritten)))
    assert not plan.has_changes
    assert fake.since(mark) == INTROSPECTION


def test_snowflake_query_change_replaces_and_names_consumers(fake):
    deploy(fake)
    mark = fake.mark()
    plan = deploy(fake, mini_graph(("COUNT(*) AS event_count", "COUNT(DISTINCT event_data:event_id) AS event_count")))
    (replace,) = plan.changes
    assert (replace.kind, replace.name) == (ActionKind.REPLACE, "MEMBER_SESSIONS")
    assert replace.consumers == ("MEMBER_SUMMARY", "DASHBOARD")
    assert [c.property for c in replace.changes] == ["query"]
    reinitialised = {a.name: a.reason for a in plan.actions if a.kind is ActionKind.UNCHANGED and a.reason}
    assert set(reinitialised) == {"MEMBER_SUMMARY", "DASHBOARD"}
    golden("query_change", fake.since(mark))


def test_snowflake_refresh_mode_change_replaces(fake):
    deploy(fake)
    mark = fake.mark()
    summary = "  MEMBER_SUMMARY:\n    target_lag: downstream\n"
    graph = mini_graph((summary, summary + "    refresh_mode: full\n"))
    plan = deploy(fake, graph)
    (replace,) = plan.changes
    assert (replace.kind, replace.name, replace.consumers) == (ActionKind.REPLACE, "MEMBER_SUMMARY", ("DASHBOARD",))
    sent = fake.since(mark)[len(INTROSPECTION) :]
    assert sent[:2] == USE and sent[2].startswith("CREATE OR REPLACE DYNAMIC TABLE MEMBER_SUMMARY") and len(sent) == 3
    assert "REFRESH_MODE = FULL" in sent[2]
    assert not deploy(fake, graph).has_changes


def test_snowflake_destroy_drops_in_reverse_order(fake):
    deploy(fake)
    mark = fake.mark()
    graph = mini_graph()
    with backend(fake, graph) as target:
        target.apply(build_destroy_plan(graph, target.read_state(), target="snowflake"), Reporter())
        assert target.read_state().objects == {}
    golden("destroy", fake.since(mark))
    drops = [s for s in fake.since(mark) if s.startswith("DROP")]
    assert drops == [
        "DROP DYNAMIC TABLE IF EXISTS DASHBOARD",
        "DROP DYNAMIC TABLE IF EXISTS MEMBER_SUMMARY",
        "DROP DYNAMIC TABLE IF EXISTS MEMBER_SESSIONS",
        "DROP TABLE IF EXISTS RAW_INTERACTIONS",
        "DROP TABLE IF EXISTS MEMBERS",
        "DROP FUNCTION IF EXISTS GEN_INTERACTIONS(NUMBER, NUMBER, NUMBER)",  # the generator's arguments, then the seed
        "DROP FUNCTION IF EXISTS GEN_MEMBERS(NUMBER, NUMBER)",
    ]


def test_snowflake_destroy_of_nothing_sends_nothing_but_introspection(fake):
    graph = mini_graph()
    with backend(fake, graph) as target:
        plan = build_destroy_plan(graph, target.read_state(), target="snowflake")
        assert target.apply(plan, Reporter()) == []
    assert fake.statements == INTROSPECTION[:1]


def test_snowflake_prune_drops_pipe_objects_but_not_foreign_ones(fake):
    deploy(fake)
    fake.load(FIXTURES / "foreign_objects.json")
    mark = fake.mark()
    smaller = mini_graph(path=FIXTURES / "mini_smaller.yaml")
    without_prune = deploy(fake, smaller)
    assert not without_prune.has_changes
    plan = deploy(fake, smaller, prune=True)
    assert [(a.kind, a.name) for a in plan.changes] == [
        (ActionKind.DROP, "DASHBOARD"),
        (ActionKind.DROP, "MEMBER_SUMMARY"),
        (ActionKind.DROP, "MEMBERS"),
        (ActionKind.DROP, "GEN_MEMBERS"),
    ]
    golden("prune", fake.since(mark))
    left = {k[2] for k in [*fake.tables, *fake.dynamic_tables, *fake.functions]}
    assert left == {"RAW_INTERACTIONS", "MEMBER_SESSIONS", "GEN_INTERACTIONS", "FOREIGN_DT", "LOOKUP", "PARSE_REGION"}


def test_snowflake_prune_drops_readers_first_whatever_the_names(fake):
    # Renamed so that alphabetical order is the wrong order: A_SUMMARY reads ZZ_SESSIONS.
    renames = [("MEMBER_SUMMARY", "A_SUMMARY"), ("MEMBER_SESSIONS", "ZZ_SESSIONS")]
    deploy(fake, mini_graph(*renames))
    text = (FIXTURES / "mini.yaml").read_text(encoding="utf-8")
    kept = text.split("\n  MEMBER_SESSIONS:")[0]  # only the generators and base tables stay
    kept = kept.replace("dynamic_tables:", "dynamic_tables: {}")
    graph = build_graph(load_pipeline_text(kept, file="kept.yaml", base_dir=FIXTURES))
    plan = deploy(fake, graph, prune=True)
    dropped = [a.name for a in plan.changes]
    assert dropped == ["DASHBOARD", "A_SUMMARY", "ZZ_SESSIONS"]
    assert not any(k[2] in dropped for k in fake.dynamic_tables)


def test_snowflake_prune_keeps_what_a_kept_object_reads(fake):
    deploy(fake)
    fake.load(FIXTURES / "foreign_reader.json")  # someone's dynamic table reading MEMBERS
    plan = deploy(fake, mini_graph(path=FIXTURES / "mini_smaller.yaml"), prune=True)
    assert [(a.kind, a.name) for a in plan.changes] == [
        (ActionKind.DROP, "DASHBOARD"),
        (ActionKind.DROP, "MEMBER_SUMMARY"),
        (ActionKind.DROP, "GEN_MEMBERS"),
    ]
    assert ("PIPE_TEST", "MINI", "MEMBERS") in fake.tables


def test_snowflake_apply_stops_at_first_failure_with_statement_code_and_message(fake):
    fake.fail(
        r"^CREATE OR REPLACE DYNAMIC TABLE MEMBER_SUMMARY",
        errno=2003,
        sqlstate="42S02",
        message="SQL compilation error:\nObject 'PIPE_TEST.MINI.MEMBERS' does not exist or not authorized.",
    )
    with pytest.raises(BackendError) as info:
        deploy(fake)
    error = info.value
    assert str(error) == (
        "MEMBER_SUMMARY: Snowflake failed on `CREATE OR REPLACE DYNAMIC TABLE MEMBER_SUMMARY`: 002003 (42S02): "
        "SQL compilation error: Object 'PIPE_TEST.MINI.MEMBERS' does not exist or not authorized."
    )
    assert (error.code, error.transient, error.location.table) == ("002003", False, "MEMBER_SUMMARY")
    assert fake.statements[-1].startswith("CREATE OR REPLACE DYNAMIC TABLE MEMBER_SUMMARY")
    assert not any("DASHBOARD" in s for s in fake.statements)


def test_snowflake_network_failure_is_transient(fake):
    fake.fail(
        r"^CREATE OR REPLACE TABLE",
        errno=250003,
        sqlstate="08001",
        message="Failed to get the response. Hanging?",
        error=OperationalError,
    )
    with pytest.raises(BackendError) as info:
        deploy(fake)
    assert info.value.transient and info.value.code == "250003"


def test_snowflake_missing_database_or_schema_reads_as_empty(fake):
    with backend(fake) as target:
        assert target.read_state().database_exists is False
        fake.databases["PIPE_TEST"] = {"name": "PIPE_TEST"}
        state = target.read_state()
    assert (state.database_exists, state.schema_exists, dict(state.objects)) == (True, False, {})
    assert fake.statements == [INTROSPECTION[0], *INTROSPECTION[:2]]


# -- reading SHOW output ---------------------------------------------------------------------


def test_snowflake_read_state_from_canned_show_rows(fake):
    fake.load(FIXTURES / "show_dynamic_tables.json")
    graph = mini_graph()
    with backend(fake, graph) as target:
        state = target.read_state()
    sessions, dashboard = state.objects["MEMBER_SESSIONS"].properties, state.objects["DASHBOARD"].properties
    assert sessions["refresh_mode"] == "FULL"  # as declared in text; the column shows INCREMENTAL
    assert sessions["sql"].startswith("/* hand-deployed before pipe */\nselect event_data:session_id")
    assert sessions["managed"] == "false"
    assert dashboard == {
        "sql": "SELECT COUNT(*) AS members, SUM(seconds) AS seconds FROM MEMBER_SUMMARY",
        "target_lag": "1 minute",
        "warehouse": "PIPE_WH",
        "refresh_mode": "AUTO",
        "initialize": "ON_CREATE",  # the text's initialize = 'ON_CREATE'
        "comment": "one row of KPIs",
        "fingerprint": None,
        "reads": "MEMBER_SUMMARY",
        "managed": "false",
    }
    plan = build_plan(graph, state, target="snowflake")
    actions = {a.name: a for a in plan.actions}
    # Same query in other case, with a comment and a semicolon: only the refresh mode differs.
    assert [c.property for c in actions["MEMBER_SESSIONS"].changes] == ["refresh_mode"]
    assert actions["DASHBOARD"].kind is ActionKind.UNCHANGED


@pytest.mark.parametrize(
    "text, query, mode",
    [
        # As sent by pipe's template.
        ("CREATE OR REPLACE DYNAMIC TABLE X\n  TARGET_LAG = DOWNSTREAM\n  WAREHOUSE = W\n  REFRESH_MODE = AUTO\n"
         "  INITIALIZE = ON_CREATE\n  COMMENT = 'as is'\nAS\nSELECT a AS b FROM t", "SELECT a AS b FROM t", "AUTO"),
        # Snowflake's rewrite, as the Terraform provider's extractor tests record it: comment first
        # (with an escaped quote and the word "as"), lag, quoted values, qualified quoted name.
        ("create or replace dynamic table \"DB\".\"S\".\"X\" comment = 'asdf\\'s are fun as' lag = 'DOWNSTREAM' "
         "refresh_mode = 'INCREMENTAL' initialize = 'ON_CREATE' warehouse = COMPUTE_WH as select * from bar;",
         "select * from bar", "INCREMENTAL"),
        ("create dynamic table foo\nlag = 'DOWNSTREAM'\nrefresh_mode = 'AUTO'\ninitialize = 'ON_CREATE'\n"
         "warehouse = COMPUTE_WH\nas\n-- comment\nselect *\nfrom bar;", "-- comment\nselect *\nfrom bar", "AUTO"),
        ("create dynamic table x target_lag = '1 hour' warehouse = w refresh_mode = incremental as select 1;",
         "select 1", "INCREMENTAL"),
        ("CREATE DYNAMIC TABLE X (A COMMENT 'as', B) TARGET_LAG = '1 hour' EXECUTE AS USER BOB WAREHOUSE = W\n"
         "AS -- note\n  SELECT a, b FROM t", "-- note\n  SELECT a, b FROM t", "AUTO"),
        ("not sql at all 'unterminated", None, "AUTO"),
        ("SELECT a AS b FROM t;", "SELECT a AS b FROM t", "AUTO"),  # a bare query, should text ever be one
    ],
)
def test_snowflake_dynamic_table_text_is_parsed(text, query, mode):
    parsed = parse_dynamic_table_text(text)
    assert (parsed.query, parsed.refresh_mode) == (query, mode)


@pytest.mark.parametrize(
    "text, initialize",
    [
        ("create dynamic table x lag = '1 hour' initialize = 'ON_SCHEDULE' warehouse = w as select 1", "ON_SCHEDULE"),
        ("create dynamic table x target_lag = '1 hour' initialize = on_create warehouse = w as select 1", "ON_CREATE"),
        ("create dynamic table x target_lag = '1 hour' warehouse = w as select 1", "ON_CREATE"),  # the default
    ],
)
def test_snowflake_dynamic_table_text_gives_initialize(text, initialize):
    # INITIALIZE, sql-reference/sql/create-dynamic-table: ON_CREATE (default) or ON_SCHEDULE.
    assert parse_dynamic_table_text(text).initialize == initialize


@pytest.mark.parametrize(
    "arguments, types",
    [
        ("GEN_INTERACTIONS(NUMBER, NUMBER) RETURN TABLE (MEMBER_ID NUMBER, EVENT_DATA VARIANT)", "NUMBER, NUMBER"),
        ("F() RETURN TABLE (A NUMBER)", ""),
        ("F(NUMBER(38, 0), VARCHAR [, NUMBER]) RETURN VARCHAR", "NUMBER(38, 0), VARCHAR, NUMBER"),
    ],
)
def test_snowflake_function_arguments_are_parsed(arguments, types):
    assert parse_arg_types(arguments) == types


# -- status, history, refresh, stream, query -------------------------------------------------


def test_snowflake_status_reports_every_declared_object(fake):
    fake.load(FIXTURES / "show_dynamic_tables.json")
    with backend(fake) as target:
        status = {s.name: s for s in target.status()}
    assert list(status) == ["MEMBERS", "RAW_INTERACTIONS", "MEMBER_SESSIONS", "MEMBER_SUMMARY", "DASHBOARD"]
    dashboard = status["DASHBOARD"]
    assert (dashboard.rows, dashboard.target_lag, dashboard.refresh_mode, dashboard.state) == (1, "1 minute", "FULL", "SUSPENDED")
    assert dashboard.refresh_mode_reason.startswith("Query contains")
    assert dashboard.lag_seconds == (fake.now() - dashboard.data_timestamp).total_seconds()
    assert status["MEMBER_SUMMARY"].state == status["MEMBERS"].state == "NOT CREATED"
    assert fake.statements[:2] == INTROSPECTION[2:4]
    # The last refresh of each table is at or after the oldest data timestamp SHOW reported.
    assert "DATA_TIMESTAMP_START => '2025-01-06 08:58:00.000000 +0000'::TIMESTAMP_LTZ, RESULT_LIMIT => 20" in fake.statements[2]
    assert "WHERE NAME IN ('MEMBER_SESSIONS', 'DASHBOARD')" in fake.statements[2]
    assert len(fake.statements) == 3


def test_snowflake_status_and_history_before_any_apply(fake):
    with backend(fake) as target:
        assert {s.state for s in target.status()} == {"NOT CREATED"}
        assert target.history() == []


def test_snowflake_history_maps_refresh_rows(fake):
    fake.load(FIXTURES / "refresh_history.json")
    with backend(fake) as target:
        records = target.history()
        one = target.history(names=["member_sessions"], limit=1)
    assert fake.statements[0] == (
        "SELECT NAME, STATE, STATE_MESSAGE, REFRESH_ACTION, REFRESH_TRIGGER, DATA_TIMESTAMP, REFRESH_START_TIME, "
        "REFRESH_END_TIME, STATISTICS\n"
        "FROM TABLE(PIPE_TEST.INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY(NAME_PREFIX => 'PIPE_TEST.MINI.', "
        "RESULT_LIMIT => 100))\n"
        "ORDER BY DATA_TIMESTAMP DESC, REFRESH_START_TIME DESC"
    )
    assert "DYNAMIC_TABLE_REFRESH_HISTORY(NAME => 'PIPE_TEST.MINI.MEMBER_SESSIONS', RESULT_LIMIT => 1)" in fake.statements[1]
    assert [(r.name, r.state) for r in records] == [
        ("MEMBER_SUMMARY", "EXECUTING"),
        ("DASHBOARD", "FAILED"),
        ("MEMBER_SESSIONS", "SUCCEEDED"),
    ]
    running, failed, sessions = records
    assert (running.refresh_end_time, running.inserted_rows, running.milliseconds) == (None, None, None)
    # Written in the session's time zone (-08:00): the same instant as 08:58 UTC.
    assert sessions.data_timestamp == datetime(2025, 1, 6, 8, 58, tzinfo=timezone.utc)
    assert sessions.state_message is None
    assert (failed.state_message, failed.inserted_rows) == ("Numeric value 'abc' is not recognized", None)
    assert (sessions.inserted_rows, sessions.deleted_rows, sessions.milliseconds) == (33, 2, 2500.0)
    assert (sessions.refresh_action, sessions.refresh_trigger) == ("INCREMENTAL", "SCHEDULED")
    assert [r.name for r in one] == ["MEMBER_SESSIONS"]


def test_snowflake_refresh_sends_one_alter_for_the_most_downstream(fake):
    deploy(fake)
    mark = fake.mark()
    reporter = Recorder()
    with backend(fake) as target:
        records = target.refresh([], reporter=reporter)
        only = target.refresh(["member_sessions"], reporter=reporter)
    sent = fake.since(mark)
    assert sent[:3] == [*USE, "ALTER DYNAMIC TABLE DASHBOARD REFRESH"]
    assert sent[4] == "ALTER DYNAMIC TABLE MEMBER_SESSIONS REFRESH"
    assert [r.name for r in records] == ["MEMBER_SESSIONS", "MEMBER_SUMMARY", "DASHBOARD"]
    assert len({r.data_timestamp for r in records}) == 1
    assert [r.name for r in only] == ["MEMBER_SESSIONS"]
    assert [data["record"].name for kind, data in reporter.events if kind == "refresh"] == [r.name for r in records + only]


def test_snowflake_refresh_full_is_refused_clearly(fake):
    with backend(fake) as target, pytest.raises(BackendError, match="cannot force a full refresh"):
        target.refresh([], full=True, reporter=Reporter())
    assert fake.statements == []


def test_snowflake_refresh_of_an_unknown_name_suggests_one(fake):
    with backend(fake) as target, pytest.raises(BackendError, match="did you mean DASHBOARD"):
        target.refresh(["DASHBORD"], reporter=Reporter())


def test_snowflake_stream_inserts_then_follows_the_cascade(fake):
    deploy(fake)
    fake.history[0]["REFRESH_TRIGGER"] = "SCHEDULED"  # an old refresh: before the stream began
    fake.wait(300)
    mark = fake.mark()
    reporter = Recorder()
    with backend(fake) as target:
        rows = target.insert_batch("RAW_INTERACTIONS", "gen_interactions", [100, 1])
        fake.wait(2)
        before = target.tick(reporter)
        fake.run_scheduler("PIPE_TEST", "MINI", inserted=100)
        not_due = target.tick(reporter)  # polled a moment ago: the interval has not passed
        fake.wait(5)
        cascade = target.tick(reporter)
        fake.wait(5)
        again = target.tick(reporter)
        settled = target.settle(reporter)
    assert (rows, before, not_due, again) == (100, [], [], [])
    assert [(r.name, r.refresh_trigger, r.inserted_rows) for r in cascade] == [
        ("MEMBER_SESSIONS", "SCHEDULED", 100),
        ("MEMBER_SUMMARY", "SCHEDULED", 100),
        ("DASHBOARD", "SCHEDULED", 100),
    ]
    assert [r.refresh_trigger for r in settled] == ["MANUAL"] * 3
    golden("stream", fake.since(mark))
    sent = fake.since(mark)
    # the batch's seed is the pipeline's (seed: 7 in mini.yaml) plus the table's rows before it, read in the same statement
    assert sent[2] == (
        "INSERT INTO RAW_INTERACTIONS SELECT NEW_ROWS.* FROM (SELECT COUNT(*) AS N FROM RAW_INTERACTIONS) AS BEFORE_BATCH, "
        "TABLE(GEN_INTERACTIONS(100, 1, 7 + BEFORE_BATCH.N)) AS NEW_ROWS"
    )
    polls = [s for s in sent if "DYNAMIC_TABLE_REFRESH_HISTORY" in s]
    assert len(polls) == 4  # three ticks that were due, one after the manual refresh
    # Each poll starts at the newest data timestamp already reported, with a bounded limit.
    assert all("RESULT_LIMIT => 30" in p and "DATA_TIMESTAMP_START =>" in p for p in polls)
    assert fake.tables[("PIPE_TEST", "MINI", "RAW_INTERACTIONS")]["rows"] == 200


def test_snowflake_stream_polling_keeps_refreshes_still_running_for_later(fake):
    deploy(fake)
    fake.wait(300)
    reporter = Recorder()
    with backend(fake) as target:
        target.insert_batch("RAW_INTERACTIONS", "gen_interactions", [10, 1])
        fake.running.append("DASHBOARD")
        fake.run_scheduler("PIPE_TEST", "MINI", inserted=10)
        fake.wait(3)
        first = target.tick(reporter)
        fake.finish_running()
        fake.wait(5)
        second = target.tick(reporter)
    assert [r.name for r in first] == ["MEMBER_SESSIONS", "MEMBER_SUMMARY"]
    assert [(r.name, r.state) for r in second] == [("DASHBOARD", "SUCCEEDED")]


def test_snowflake_polling_interval_backs_off_while_nothing_happens(fake):
    deploy(fake)
    fake.wait(300)
    with backend(fake) as target:
        target.insert_batch("RAW_INTERACTIONS", "gen_interactions", [10, 1])
        mark = fake.mark()
        polled_at = []
        for second in range(120):
            fake.wait(1)
            before = len(fake.statements)
            target.tick(Reporter())
            if len(fake.statements) > before:
                polled_at.append(second)
                fake._now -= timedelta(seconds=1)  # the poll's own statement: keep one tick per second
    gaps = [b - a for a, b in zip(polled_at, polled_at[1:])]
    assert gaps == sorted(gaps) and gaps[0] <= 5 and max(gaps) <= 31 and polled_at[0] >= 1
    assert len(fake.since(mark)) == len(polled_at) < 15  # not two polls a second: a handful in two minutes


def test_snowflake_query_returns_snowflake_columns(fake):
    deploy(fake)
    with backend(fake) as target:
        result = target.query("SELECT COUNT(*) FROM MEMBERS")
    assert (result.columns, result.rows, result.types) == (["COUNT(*)"], [(10,)], ["FIXED"])


def test_snowflake_query_runs_a_script_one_statement_at_a_time_in_one_session(fake):
    deploy(fake)
    mark, connections = fake.mark(), fake.connections
    with backend(fake) as target:
        result = target.query("SELECT COUNT(*) FROM RAW_INTERACTIONS;\nSELECT COUNT(*) FROM MEMBERS;")
    assert (result.columns, result.rows) == (["COUNT(*)"], [(10,)])
    sent = [s for s in fake.since(mark) if s.startswith("SELECT COUNT")]
    assert sent == ["SELECT COUNT(*) FROM RAW_INTERACTIONS", "SELECT COUNT(*) FROM MEMBERS"]
    assert fake.connections == connections + 1


def test_snowflake_connection_is_opened_once_and_closed(fake):
    target = backend(fake)
    assert fake.connections == 0  # building the backend never connects
    target.read_state()
    target.read_state()
    target.close()
    target.close()
    assert fake.connections == 1


# -- the engagement pipeline -----------------------------------------------------------------

ENGAGEMENT = ROOT / "pipelines" / "engagement.yaml"
needs_engagement = pytest.mark.skipif(
    not (ROOT / "pipelines" / "generators" / "engagement.py").exists(),
    reason="pipelines/generators/engagement.py is not written yet",
)


@needs_engagement
def test_snowflake_engagement_apply_reapply_destroy(fake):
    graph = build_graph(load_pipeline(ENGAGEMENT))
    plan = deploy(fake, graph)
    creates = [s.splitlines()[0] for s in fake.statements if s.startswith("CREATE OR REPLACE")]
    assert creates == [
        "CREATE OR REPLACE FUNCTION GEN_MEMBERS(NUM_RECORDS NUMBER, PIPE_SEED NUMBER)",  # the seed argument last
        "CREATE OR REPLACE FUNCTION GEN_RESOURCES(NUM_RECORDS NUMBER, PIPE_SEED NUMBER)",
        "CREATE OR REPLACE FUNCTION GEN_INTERACTIONS(NUM_RECORDS NUMBER, NDAYS NUMBER, PIPE_SEED NUMBER)",
        *(f"CREATE OR REPLACE TABLE {n}" for n in ("MEMBERS", "RESOURCES", "RAW_INTERACTIONS")),
        *(f"CREATE OR REPLACE DYNAMIC TABLE {n}" for n in graph.dynamic_tables),
    ]
    # database, schema, 3 functions, 3 tables, 5 dynamic tables, and the DMFs of 7 tables' checks
    assert len(plan.changes) == 2 + 3 + 3 + 5 + 7
    mark = fake.mark()
    assert not deploy(fake, graph).has_changes
    renamed = [s.replace("PIPE_TEST", "UNDERSTOOD_DEMO").replace("MINI", "DYNAMIC_TABLES") for s in INTROSPECTION]
    expectations = [
        "SELECT METRIC_DATABASE_NAME, METRIC_SCHEMA_NAME, METRIC_NAME, REF_ARGUMENTS, EXPECTATION_NAME, "
        "EXPECTATION_EXPRESSION FROM TABLE(UNDERSTOOD_DEMO.INFORMATION_SCHEMA.DATA_METRIC_FUNCTION_EXPECTATIONS("
        f"REF_ENTITY_NAME => 'UNDERSTOOD_DEMO.DYNAMIC_TABLES.{name}', REF_ENTITY_DOMAIN => 'table'))"
        for name in graph.create_order
    ]
    assert fake.since(mark) == renamed + expectations
    with backend(fake, graph) as target:
        target.apply(build_destroy_plan(graph, target.read_state(), target="snowflake"), Reporter())
        assert target.read_state().objects == {}


# -- the seam ----------------------------------------------------------------------------------


def test_snowflake_backend_is_registered_and_imports_no_driver():
    assert get_backend("snowflake") is SnowflakeBackend
    code = "import sys, engine.backends.snowflake; print('snowflake.connector' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_snowflake_apply_with_initialize_on_schedule_shows_no_error(fake, capsys):
    from engine import console
    from engine.project import Project

    graph = mini_graph(("    target_lag: 1 minute\n", "    target_lag: 1 minute\n    initialize: on_schedule\n"))
    deploy(fake, graph)
    with backend(fake, graph) as target:
        with pytest.raises(BackendError, match="not initialized"):
            target.query("SELECT * FROM DASHBOARD LIMIT 6")  # as a real account answers
        mark = fake.mark()
        console.sinks(Project(graph.pipeline, graph, []), target)  # what `pipe apply` prints next
    assert fake.dynamic_tables[("PIPE_TEST", "MINI", "DASHBOARD")]["data_timestamp"] is None
    assert fake.since(mark) == []


def stream_run(fake, graph, *, batches: int, delay: float, refresh_every: int = 0):
    """``pipe stream`` on the double: time passes on its clock only; Snowflake's scheduler
    refreshes every ``refresh_every`` sleeps (never when 0)."""
    from engine.project import Project, stream, stream_settings

    project = Project(graph.pipeline, graph, [])
    settings = stream_settings(project, batches=batches, delay=delay)
    sleeps = [0]
    start = fake.now()

    def sleep(seconds):
        fake.wait(seconds)
        sleeps[0] += 1
        if refresh_every and sleeps[0] % refresh_every == 0:
            fake.run_scheduler("PIPE_TEST", "MINI", inserted=1)

    with backend(fake, graph) as target:
        return stream(project, target, settings, clock=lambda: (fake.now() - start).total_seconds(), sleep=sleep)


def test_snowflake_five_batch_stream_sends_few_statements(fake):
    deploy(fake)
    mark = fake.mark()
    records = stream_run(fake, mini_graph(), batches=5, delay=10, refresh_every=5)
    sent = fake.since(mark)
    kinds = [s.split()[0] + (" HISTORY" if "REFRESH_HISTORY" in s else "") for s in sent]
    # 2 USE, 5 INSERT, 5 COUNT, one ALTER … REFRESH at the end, and the history polls: none
    # sooner than 2 s after a batch or the previous poll, so at most 20 over the 40 s between
    # batches, plus one after the final refresh (it was a poll every half second before).
    assert kinds.count("INSERT") == 5 and kinds.count("ALTER") == 1 and kinds.count("USE") == 2
    polls = kinds.count("SELECT HISTORY")
    assert 4 <= polls <= 21
    assert len(sent) == 2 + 5 + 5 + 1 + polls
    print(f"5-batch stream: {len(sent)} statements, {polls} history polls")
    assert {r.refresh_trigger for r in records} == {"SCHEDULED", "MANUAL"}


def test_snowflake_stream_rows_variable_is_unique_across_runs(fake):
    graph = mini_graph(('args: ["{{ records }}", 1]', 'args: ["{{ records }}", "{{ rows }}"]'))
    deploy(fake, graph)
    for _ in range(2):
        stream_run(fake, graph, batches=2, delay=0)
    inserts = [s for s in fake.statements if s.startswith("INSERT INTO RAW_INTERACTIONS")]
    # The second argument is the table's row count before each batch: 100 rows at apply, +100 a batch.
    assert [re.search(r"GEN_INTERACTIONS\(100, (\d+), 7 \+ BEFORE_BATCH\.N\)", s).group(1) for s in inserts] == [
        "100", "200", "300", "400"
    ]
