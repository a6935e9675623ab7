"""The JSON of GET /api/state: the DAG, each object's state, the history and the dashboard."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

from engine.ui.state import build_state, graph_state, jsonable

from .conftest import DYNAMIC, EDGES, NODES

HISTORY_KEYS = {
    "NAME", "STATE", "STATE_MESSAGE", "REFRESH_ACTION", "REFRESH_TRIGGER",
    "DATA_TIMESTAMP", "REFRESH_START_TIME", "REFRESH_END_TIME", "STATISTICS",
}


def test_graph_state_is_the_declared_dag(project):
    state = graph_state(project.graph)
    assert state["pipeline"]["name"] == "engagement"
    assert {n["name"] for n in state["nodes"]} == NODES
    assert {(e["source"], e["target"]) for e in state["edges"]} == EDGES
    levels = {n["name"]: n["level"] for n in state["nodes"]}
    assert levels == {
        "MEMBERS": 0, "RESOURCES": 0, "RAW_INTERACTIONS": 0, "MEMBER_SESSIONS": 1, "RESOURCE_CATALOG": 1,
        "SESSION_ENGAGEMENT_DETAIL": 2, "MEMBER_ENGAGEMENT_SUMMARY": 3, "ENGAGEMENT_DASHBOARD": 4,
    }
    dashboard = next(n for n in state["nodes"] if n["name"] == "ENGAGEMENT_DASHBOARD")
    assert dashboard["kind"] == "dynamic_table"
    assert dashboard["target_lag"] == "1 minute"
    assert dashboard["refresh_mode"] in ("FULL", "INCREMENTAL") and dashboard["refresh_mode_reason"]
    assert dashboard["reads"] == ["MEMBER_ENGAGEMENT_SUMMARY"]
    assert dashboard["rows"] is None and dashboard["state"] is None  # only a target knows
    json.dumps(state, allow_nan=False)


def test_state_after_apply(project, applied_db):
    with project.backend("local", db=applied_db) as backend:
        state = build_state(project.graph, backend)
    text = json.dumps(state, allow_nan=False)  # JSON-ready as it is
    assert json.loads(text) == state

    assert len(state["nodes"]) == 8 and {n["name"] for n in state["nodes"]} == NODES
    assert len(state["edges"]) == 7 and {(e["source"], e["target"]) for e in state["edges"]} == EDGES
    for node in state["nodes"]:
        assert {"name", "kind", "level", "rows", "target_lag", "refresh_mode", "refresh_mode_reason",
                "data_timestamp", "state", "last_refresh_action"} <= set(node)
        assert node["rows"] > 0, node["name"]
        assert node["state"] == "ACTIVE", node["name"]
        if node["name"] in DYNAMIC:
            assert node["kind"] == "dynamic_table"
            assert node["data_timestamp"].endswith("Z")
            assert node["last_refresh_action"] in ("FULL", "INCREMENTAL", "NO_DATA", "REINITIALIZE")
            assert node["refresh_mode"] in ("FULL", "INCREMENTAL")
        else:
            assert node["kind"] == "table" and node["data_timestamp"] is None

    assert state["history"], "apply refreshes every dynamic table once (trigger CREATION)"
    for row in state["history"]:
        assert set(row) == HISTORY_KEYS
        assert set(row["STATISTICS"]) == {"numInsertedRows", "numDeletedRows"}
    assert {r["NAME"] for r in state["history"]} == set(DYNAMIC)

    (board,) = state["dashboard"]
    assert board["name"] == "ENGAGEMENT_DASHBOARD"
    assert len(board["rows"]) == 1
    row = dict(zip(board["columns"], board["rows"][0]))
    assert row["ACTIVE_MEMBERS"] > 0
    assert isinstance(row["MEMBERS_BY_REGION"], dict)  # JSON text arrives parsed
    assert state["target"] == "local" and state["generated_at"].endswith("Z")


def test_state_before_apply_shows_nothing_created(project, tmp_path):
    with project.backend("local", db=tmp_path / "empty.duckdb") as backend:
        state = build_state(project.graph, backend)
    assert {n["state"] for n in state["nodes"]} == {"NOT CREATED"}
    assert state["history"] == [] and state["dashboard"] == []
    assert len(state["edges"]) == 7


def test_history_limit(project, applied_db):
    with project.backend("local", db=applied_db) as backend:
        assert len(build_state(project.graph, backend, history_limit=2)["history"]) == 2


def test_jsonable():
    naive = datetime(2024, 5, 1, 12, 30, 0, 250000)
    aware = datetime(2024, 5, 1, 14, 30, tzinfo=timezone.utc)
    assert jsonable(naive) == "2024-05-01T12:30:00.250Z"  # naive means UTC, as pipe stores it
    assert jsonable(aware) == "2024-05-01T14:30:00.000Z"
    assert jsonable(Decimal("3.0")) == 3 and jsonable(Decimal("2.5")) == 2.5
    assert jsonable('{"West": 3}') == {"West": 3}
    assert jsonable("[1, 2]") == [1, 2]
    assert jsonable("{not json") == "{not json"
    assert jsonable({"a": (Decimal(1), None)}) == {"a": [1, None]}


def test_a_snapshot_gives_each_node_its_last_refresh_and_each_panel_its_details(project, applied_db):
    from engine.ui.state import SnapshotBuilder

    with project.backend("local", db=applied_db) as backend:
        snapshot = SnapshotBuilder(project.graph).build(backend)
        latest = {name: backend.history(names=[name], limit=1)[0] for name in DYNAMIC}
        sessions_history = backend.history(names=["MEMBER_SESSIONS"], limit=25)
    json.dumps(snapshot, allow_nan=False)
    for node in snapshot["nodes"]:
        if node["name"] not in DYNAMIC:
            assert node["last_refresh"] is None
            continue
        record = latest[node["name"]]
        assert node["last_refresh"]["action"] == record.refresh_action
        assert (node["last_refresh"]["inserted"], node["last_refresh"]["deleted"]) == (record.inserted_rows, record.deleted_rows)
    details = snapshot["details"]
    assert set(details) == NODES
    dashboard = details["ENGAGEMENT_DASHBOARD"]
    assert dashboard["sql"] == project.pipeline.dynamic_tables["ENGAGEMENT_DASHBOARD"].sql.strip()
    assert [c["name"] for c in dashboard["columns"]][:3] == ["REPORT_GENERATED_AT", "ACTIVE_MEMBERS", "TOTAL_SESSIONS"]
    assert all(set(c) == {"name", "type"} and c["type"] for c in dashboard["columns"])
    assert dashboard["reads"] == ["MEMBER_ENGAGEMENT_SUMMARY"] and dashboard["read_by"] == []
    assert [r["REFRESH_START_TIME"] for r in details["MEMBER_SESSIONS"]["history"]] == [
        jsonable(r.refresh_start_time) for r in sessions_history
    ]
    assert details["MEMBERS"]["definition"] == "filled from generator gen_members(1000)"
