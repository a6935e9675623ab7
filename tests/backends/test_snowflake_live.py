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
from engine.report import Reporter
from engine.spec import load_pipeline_text

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


def live_graph(schema: str, *replacements: tuple[str, str]):
    text = (FIXTURES / "mini.yaml").read_text(encoding="utf-8")
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


def plan_for(backend: SnowflakeBackend, graph):
    return build_plan(graph, backend.read_state(), target="snowflake")


def test_snowflake_live_plan_apply_status_destroy(schema):
    graph = live_graph(schema)
    with SnowflakeBackend(graph, connection=CONNECTION) as backend:
        first = plan_for(backend, graph)
        assert any(a.object_type == "schema" and a.kind is ActionKind.CREATE for a in first.changes)
        backend.apply(first, Reporter())

        # Real SHOW output read back must match the file: no phantom change.
        again = plan_for(backend, graph)
        assert not again.has_changes, [(a.kind, a.name, [str(c) for c in a.changes]) for a in again.changes]

        status = {s.name: s for s in backend.status()}
        assert status["MEMBERS"].rows == 10 and status["RAW_INTERACTIONS"].rows == 100
        assert status["DASHBOARD"].target_lag == "1 minute"
        assert status["DASHBOARD"].refresh_mode in ("INCREMENTAL", "FULL")

        assert backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [100, 1]) == 100
        records = backend.refresh([], reporter=Reporter())
        assert "DASHBOARD" in {r.name for r in records}
        assert backend.history(limit=10)

        backend.apply(build_destroy_plan(graph, backend.read_state(), target="snowflake"), Reporter())
        left = backend.read_state().objects
        assert not set(left) & {*graph.pipeline.object_names, "function:GEN_MEMBERS", "function:GEN_INTERACTIONS"}


def test_snowflake_live_lag_change_is_an_alter(schema):
    graph = live_graph(schema)
    changed = live_graph(schema, ("target_lag: 1 minute", "target_lag: 2 minutes"))
    with SnowflakeBackend(graph, connection=CONNECTION) as backend:
        backend.apply(plan_for(backend, graph), Reporter())
        plan = plan_for(backend, changed)
        assert [(a.kind, a.name) for a in plan.changes] == [(ActionKind.ALTER, "DASHBOARD")]
        backend.apply(plan, Reporter())
        assert not plan_for(backend, changed).has_changes
