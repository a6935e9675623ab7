"""The snowflake backend against a real account, in a throwaway schema. Opt-in.

Run with a connection from your connections.toml / config.toml::

    PIPE_SNOWFLAKE_CONNECTION=<name> python -m pytest tests/backends -m snowflake_live -k snowflake

Optional: PIPE_SNOWFLAKE_DATABASE (default PIPE_TEST, created if missing) and
PIPE_SNOWFLAKE_WAREHOUSE (default COMPUTE_WH). The role needs CREATE SCHEMA on the database,
USAGE on the warehouse and the right to create Python UDTFs with the faker package. The schema
PIPE_LIVE_<random> is dropped at the end, whatever happens.

Without PIPE_SNOWFLAKE_CONNECTION these tests are skipped (and say so in pytest's summary): a
configured default connection alone is not consent to create objects in that account.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from engine.backends.snowflake import SnowflakeBackend
from engine.backends.snowflake.connection import find_connection, open_connection
from engine.graph import build_graph
from engine.planner import ActionKind, build_destroy_plan, build_plan
from engine.project import Project, stream, stream_settings
from engine.report import Reporter
from engine.spec import load_pipeline_text

from . import snowflake_describe as describe

CONNECTION = os.environ.get("PIPE_SNOWFLAKE_CONNECTION")
DATABASE = os.environ.get("PIPE_SNOWFLAKE_DATABASE", "PIPE_TEST").upper()
WAREHOUSE = os.environ.get("PIPE_SNOWFLAKE_WAREHOUSE", "COMPUTE_WH").upper()
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "snowflake"

pytestmark = [
    pytest.mark.snowflake_live,
    pytest.mark.skipif(
        not CONNECTION, reason="live Snowflake tests: set PIPE_SNOWFLAKE_CONNECTION=<connection name> to run them"
    ),
]


def live_graph(schema: str, *replacements: tuple[str, str], path: Path = FIXTURES / "mini.yaml"):
    text = path.read_text(encoding="utf-8")
    for old, _ in replacements:
        assert old in text, old
    for old, new in [
        ("database: PIPE_TEST", f"database: {DATABASE}"),
        ("schema: MINI", f"schema: {schema}"),
        ("warehouse: PIPE_WH", f"warehouse: {WAREHOUSE}"),
        *replacements,
    ]:
        text = text.replace(old, new)
    return build_graph(load_pipeline_text(text, file="live.yaml", base_dir=FIXTURES))


@pytest.fixture(scope="module")
def schema():
    name = f"PIPE_LIVE_{uuid.uuid4().hex[:8].upper()}"
    yield name
    connection = open_connection(find_connection(CONNECTION))
    try:
        connection.cursor().execute(f"DROP SCHEMA IF EXISTS {DATABASE}.{name}")
    finally:
        connection.close()


class Recording:
    """Opens the real connection and keeps every statement sent through it."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def connect(self, **session):
        connection = open_connection(find_connection(CONNECTION), **session)
        recording = self

        class Cursor:
            def __init__(self, cursor):
                self._cursor = cursor

            def execute(self, statement, *args, **kwargs):
                recording.statements.append(statement)
                return self._cursor.execute(statement, *args, **kwargs)

            def __getattr__(self, name):
                return getattr(self._cursor, name)

        class Connection:
            def cursor(self):
                return Cursor(connection.cursor())

            def __getattr__(self, name):
                return getattr(connection, name)

        return Connection()

    def mark(self) -> int:
        return len(self.statements)

    def since(self, mark: int) -> list[str]:
        return self.statements[mark:]


INTROSPECTION = ("SHOW ", "SELECT NAME, STATE")


def plan_for(backend: SnowflakeBackend, graph, *, prune: bool = False):
    return build_plan(graph, backend.read_state(), target="snowflake", prune=prune)


def test_snowflake_live_whole_life(schema):
    """apply, re-apply, lag change, query change, stream (pipe stream's loop, with polling),
    DESCRIBE, status, history, prune, destroy."""
    graph = live_graph(schema)
    recording = Recording()
    with SnowflakeBackend(graph, connect=recording.connect) as backend:
        first = plan_for(backend, graph)
        assert any(a.object_type == "schema" and a.kind is ActionKind.CREATE for a in first.changes)
        backend.apply(first, Reporter())

        # Re-apply: real SHOW output (Snowflake's rewritten text) read back matches the file.
        mark = recording.mark()
        again = plan_for(backend, graph)
        assert not again.has_changes, [(a.kind, a.name, [str(c) for c in a.changes]) for a in again.changes]
        assert all(s.startswith(INTROSPECTION) for s in recording.since(mark))

        # A lag change is one ALTER, and then nothing is left to do.
        lag = live_graph(schema, ("target_lag: 1 minute", "target_lag: 2 minutes"))
        plan = plan_for(backend, lag)
        assert [(a.kind, a.name) for a in plan.changes] == [(ActionKind.ALTER, "DASHBOARD")]
        backend.apply(plan, Reporter())
        assert not plan_for(backend, lag).has_changes

        # A query change replaces the table and names the tables it reinitialises.
        query = live_graph(
            schema,
            ("target_lag: 1 minute", "target_lag: 2 minutes"),
            ("COUNT(*) AS sessions", "COUNT(DISTINCT s.session_id) AS sessions"),
        )
        plan = plan_for(backend, query)
        replaced = [a for a in plan.changes if a.kind is ActionKind.REPLACE]
        assert [a.name for a in replaced] == ["MEMBER_SUMMARY"] and replaced[0].consumers == ("DASHBOARD",)
        backend.apply(plan, Reporter())
        assert not plan_for(backend, query).has_changes

        # Stream: insert, poll the history, settle with a manual refresh.
        assert backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [100, 1]) == 100
        backend.tick(Reporter())
        records = backend.settle(Reporter())
        assert "DASHBOARD" in {r.name for r in records}

        # pipe stream's own loop: two batches seeded by the rows before each, {{ rows }} in the
        # arguments, the refresh history polled between them, all refreshed at the end.
        project = Project(query.pipeline, query)
        settings = stream_settings(project, batches=2, records=50, delay=0)
        mark = recording.mark()
        refreshed = stream(project, backend, settings, reporter=Reporter())
        sent = recording.since(mark)
        inserts = [s for s in sent if s.startswith("INSERT INTO RAW_INTERACTIONS")]
        assert len(inserts) == 2 and all("7 + BEFORE_BATCH.N" in s for s in inserts)  # mini.yaml's seed: 7
        assert any("DYNAMIC_TABLE_REFRESH_HISTORY" in s for s in sent)
        assert "DASHBOARD" in {r.name for r in refreshed}

        # DESCRIBE answers as the double's recorded format says (tests/fixtures/snowflake/describe_table.json).
        described = backend.query("DESCRIBE TABLE MEMBERS")
        assert described.columns[:12] == describe.COLUMNS[:12]
        assert [row[:4] for row in described.rows] == [
            ("MEMBER_ID", "NUMBER(38,0)", "COLUMN", "Y"), ("REGION", "VARCHAR(16777216)", "COLUMN", "Y"),
        ]

        status = {s.name: s for s in backend.status()}
        assert status["MEMBERS"].rows == 10 and status["RAW_INTERACTIONS"].rows == 300
        assert status["DASHBOARD"].target_lag == "2 minutes" and status["DASHBOARD"].state == "ACTIVE"
        assert status["DASHBOARD"].refresh_mode in ("INCREMENTAL", "FULL")
        assert status["DASHBOARD"].last_refresh_action is not None
        history = backend.history(limit=10)
        assert history and len(history) <= 10
        assert {r.name for r in history} <= set(query.dynamic_tables) and {r.state for r in history} <= {
            "SUCCEEDED", "EXECUTING", "SCHEDULED"}

        # Prune: the smaller file no longer declares MEMBERS, MEMBER_SUMMARY, DASHBOARD, gen_members.
        smaller = live_graph(schema, path=FIXTURES / "mini_smaller.yaml")
        plan = plan_for(backend, smaller, prune=True)
        assert [a.name for a in plan.changes] == ["DASHBOARD", "MEMBER_SUMMARY", "MEMBERS", "GEN_MEMBERS"]
        backend.apply(plan, Reporter())
        assert not plan_for(backend, smaller, prune=True).has_changes

        backend.apply(build_destroy_plan(smaller, backend.read_state(), target="snowflake"), Reporter())
        left = backend.read_state().objects
        assert not set(left) & {*graph.pipeline.object_names, "function:GEN_MEMBERS", "function:GEN_INTERACTIONS"}
