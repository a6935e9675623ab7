"""``pipe apply`` on the local target: a fresh apply, idempotence, and what each kind of change
to the file does (alter in place, replace and reinitialise, replace a base table after asking).

The modified pipelines are copies of engagement.yaml in tests/fixtures/local; the first test
checks that each differs from it only by its intended change.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter

import duckdb
import pytest

from .conftest import (
    BASE_TABLES,
    DYNAMIC_TABLES,
    FIXTURES,
    PIPELINES,
    SCHEMA,
    check_oracles,
    connect,
    history,
    pipeline_dir,
    row_counts,
    run_pipe,
    snapshot,
    status,
    table_names,
)

# The fixture copies and the only lines each may change (removed, added), by hand.
FIXTURE_CHANGES = {
    "engagement_lag_changed.yaml": (
        ["    target_lag: 1 minute"],
        ["    warehouse: OTHER_WH", "    target_lag: 5 minutes"],
    ),
    "engagement_query_changed.yaml": ([], ["          WHEN content_type = 'tool' THEN 'hands-on'"]),
    "engagement_args_changed.yaml": (
        ["    args: [10000, 30]"],
        ["    args: [5000, 30]"],
    ),
    "engagement_200k.yaml": (
        ["    args: [10000, 30]"],
        ["    args: [200000, 30]"],
    ),
}


@pytest.mark.parametrize("name", sorted(FIXTURE_CHANGES))
def test_fixture_is_engagement_yaml_with_only_its_change(name):
    original = (PIPELINES / "engagement.yaml").read_text().splitlines()
    copy = (FIXTURES / name).read_text().splitlines()
    diff = [line for line in difflib.ndiff(original, copy) if line[:2] in ("- ", "+ ")]
    removed = [line[2:] for line in diff if line.startswith("- ")]
    added = [line[2:] for line in diff if line.startswith("+ ")]
    assert (removed, added) == FIXTURE_CHANGES[name], "engagement.yaml changed: update the fixture copy"


# -- a fresh apply ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """``pipe apply --yes`` in a fresh working directory, with the default database path."""
    work = tmp_path_factory.mktemp("fresh")
    folder = pipeline_dir(work / "pipeline")
    run = run_pipe("apply", folder / "engagement.yaml", "--yes", cwd=work, ok=True)
    return work, folder, run


def _summary(run) -> dict[str, list[str]]:
    """The rows of apply's summary table that change something: object -> its cells."""
    rows = {}
    for line in run.stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line)]
        if len(cells) >= 6 and cells[0] in BASE_TABLES + DYNAMIC_TABLES and "unchanged" not in cells:
            if cells[1] == "data metric function":
                continue  # the table's checks: locally they take effect with the table
            rows[cells[0]] = cells
    return rows


def test_fresh_apply_uses_the_default_database_path(fresh):
    work, _, _ = fresh
    db = work / ".pipe" / "engagement.duckdb"
    assert db.is_file()
    assert table_names(db) == set(BASE_TABLES) | set(DYNAMIC_TABLES)


def test_fresh_apply_fills_base_tables_from_the_generators(fresh):
    work, _, _ = fresh
    counts = row_counts(work / ".pipe" / "engagement.duckdb")
    assert {t: counts[t] for t in BASE_TABLES} == {"MEMBERS": 1000, "RESOURCES": 100, "RAW_INTERACTIONS": 10000}
    with connect(work / ".pipe" / "engagement.duckdb") as con:
        members = con.execute("SELECT min(MEMBER_ID), max(MEMBER_ID), count(DISTINCT MEMBER_ID) FROM MEMBERS").fetchone()
        resources = con.execute("SELECT min(RESOURCE_ID), max(RESOURCE_ID) FROM RESOURCES").fetchone()
        first = con.execute("SELECT MEMBER_ID FROM MEMBERS LIMIT 3").fetchall()  # order_by: [member_id]
    assert members == (10001, 11000, 1000)
    assert resources == (100, 199)
    assert [r[0] for r in first] == [10001, 10002, 10003]


def test_fresh_apply_prints_each_object_action_rows_and_time(fresh):
    work, _, run = fresh
    summary = _summary(run)
    assert set(summary) == set(BASE_TABLES) | set(DYNAMIC_TABLES)
    counts = row_counts(work / ".pipe" / "engagement.duckdb")
    for name, cells in summary.items():
        assert "create" in cells, cells
        assert f"{counts[name]:,}" in cells, (name, counts[name], cells)
        assert any(re.fullmatch(r"\d+\.\d+s", c) for c in cells), cells
    for name in DYNAMIC_TABLES:  # each dynamic table was created with its initial refresh
        assert any(c in ("FULL", "INCREMENTAL", "REINITIALIZE") for c in summary[name]), summary[name]


def test_fresh_apply_prints_the_dashboard_row(fresh):
    work, _, run = fresh
    with connect(work / ".pipe" / "engagement.duckdb") as con:
        cursor = con.execute("SELECT * FROM ENGAGEMENT_DASHBOARD")
        columns = [d[0] for d in cursor.description]
        (row,) = cursor.fetchall()
    lines = run.stdout.splitlines()
    title = [i for i, line in enumerate(lines) if line.strip() == "ENGAGEMENT_DASHBOARD"]
    assert title, run.stdout  # the dashboard is shown under its name, after the summary
    dashboard = "\n".join(lines[title[0]:])
    for column, value in zip(columns, row):
        if column in ("ACTIVE_MEMBERS", "TOTAL_SESSIONS", "PREMIUM_MEMBERS", "MOST_POPULAR_TOPIC"):
            assert re.search(rf"{column}\s*[│|]\s*{re.escape(str(value))}\b", dashboard), (column, value, dashboard)


def test_fresh_apply_records_creation_refreshes(fresh):
    work, folder, _ = fresh
    rows = run_pipe("history", folder / "engagement.yaml", "--format", "json", cwd=work, ok=True)
    import json

    records = json.loads(rows.stdout)
    assert sorted(r["NAME"] for r in records) == sorted(DYNAMIC_TABLES)
    assert {(r["STATE"], r["REFRESH_TRIGGER"]) for r in records} == {("SUCCEEDED", "CREATION")}
    assert len({r["DATA_TIMESTAMP"] for r in records}) == 1  # one consistent snapshot


@pytest.mark.slow
def test_second_apply_changes_nothing(fresh):
    work, folder, _ = fresh
    db = work / ".pipe" / "engagement.duckdb"
    before = {t: snapshot(db, t) for t in ("RAW_INTERACTIONS", "MEMBER_ENGAGEMENT_SUMMARY", "ENGAGEMENT_DASHBOARD")}
    stamps = run_pipe("status", folder / "engagement.yaml", "--format", "json", cwd=work, ok=True).stdout
    again = run_pipe("apply", folder / "engagement.yaml", cwd=work, ok=True)  # no --yes needed
    assert "no changes" in again.stdout
    assert not _summary(again)
    assert {t: snapshot(db, t) for t in before} == before
    after = run_pipe("status", folder / "engagement.yaml", "--format", "json", cwd=work, ok=True).stdout
    assert _without_lag(after) == _without_lag(stamps)  # same data timestamps: nothing refreshed
    plan = run_pipe("plan", folder / "engagement.yaml", cwd=work, ok=True)
    assert "no changes" in plan.stdout


def _without_lag(text: str) -> list[dict]:
    import json

    return [{k: v for k, v in s.items() if k != "lag_seconds"} for s in json.loads(text)]


# -- changes to the file ---------------------------------------------------------------------


@pytest.mark.slow
def test_changing_lag_or_warehouse_alters_in_place_keeping_data(applied):
    before = {t: snapshot(applied.db, t) for t in DYNAMIC_TABLES}
    refreshes = len(history(applied))

    # Nothing is replaced or dropped, so apply does not ask: it runs without --yes or a terminal.
    run = applied.pipe("apply", file="engagement_lag_changed.yaml", ok=True)
    assert "alter" in run.stdout and "replace" not in run.stdout
    summary = _summary(run)
    assert set(summary) == {"MEMBER_SESSIONS", "ENGAGEMENT_DASHBOARD"}
    assert all("alter" in cells for cells in summary.values())

    assert {t: snapshot(applied.db, t) for t in DYNAMIC_TABLES} == before  # data kept, clock columns too
    assert len(history(applied)) == refreshes  # nothing refreshed
    now = {s["name"]: s for s in _statuses(applied, "engagement_lag_changed.yaml")}
    assert now["ENGAGEMENT_DASHBOARD"]["target_lag"] in ("5 minutes", "5 MINUTES")
    assert now["MEMBER_SESSIONS"]["target_lag"].upper() == "DOWNSTREAM"

    again = applied.pipe("apply", file="engagement_lag_changed.yaml", ok=True)
    assert "no changes" in again.stdout
    back = applied.pipe("apply", ok=True)  # and back to the original lag: an ALTER again
    assert set(_summary(back)) == {"MEMBER_SESSIONS", "ENGAGEMENT_DASHBOARD"}
    assert {t: snapshot(applied.db, t) for t in DYNAMIC_TABLES} == before


def _statuses(applied, file):
    import json

    return json.loads(applied.pipe("status", "--format", "json", file=file, ok=True).stdout)


@pytest.mark.slow
def test_changing_a_query_replaces_it_and_reinitialises_its_consumers(applied):
    sessions = snapshot(applied.db, "MEMBER_SESSIONS")
    before = Counter(h["NAME"] for h in history(applied))

    run = applied.pipe("apply", "--yes", file="engagement_query_changed.yaml", ok=True)
    summary = _summary(run)
    assert "replace" in summary["RESOURCE_CATALOG"]
    assert "MEMBER_SESSIONS" not in summary or "unchanged" in summary["MEMBER_SESSIONS"]

    records = history(applied)
    new = Counter(h["NAME"] for h in records) - before
    consumers = ["SESSION_ENGAGEMENT_DETAIL", "MEMBER_ENGAGEMENT_SUMMARY", "ENGAGEMENT_DASHBOARD"]
    assert sorted(new) == sorted(["RESOURCE_CATALOG", *consumers])  # MEMBER_SESSIONS untouched
    latest = {h["NAME"]: h for h in reversed(records)}
    for name in ["RESOURCE_CATALOG", *consumers]:
        assert (latest[name]["STATE"], latest[name]["REFRESH_ACTION"]) == ("SUCCEEDED", "REINITIALIZE"), latest[name]
    assert snapshot(applied.db, "MEMBER_SESSIONS") == sessions

    with connect(applied.db) as con:
        tools = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE CONTENT_CATEGORY = 'hands-on') FROM RESOURCE_CATALOG "
            "WHERE CONTENT_TYPE = 'tool'"
        ).fetchone()
        detail = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE CONTENT_CATEGORY = 'hands-on') FROM SESSION_ENGAGEMENT_DETAIL "
            "WHERE CONTENT_TYPE = 'tool'"
        ).fetchone()
        elsewhere = con.execute(
            "SELECT count(*) FROM SESSION_ENGAGEMENT_DETAIL WHERE CONTENT_TYPE <> 'tool' AND CONTENT_CATEGORY = 'hands-on'"
        ).fetchone()[0]
    assert tools[0] > 0 and tools[0] == tools[1]
    assert detail[0] > 0 and detail[0] == detail[1]  # the consumer was recomputed from the new query
    assert elsewhere == 0

    assert "no changes" in applied.pipe("apply", file="engagement_query_changed.yaml", ok=True).stdout


def test_changing_generator_args_asks_before_replacing_the_table(applied):
    before = snapshot(applied.db, "RAW_INTERACTIONS")
    refused = applied.pipe("apply", file="engagement_args_changed.yaml", ok=False)
    assert "--yes" in refused.errors[0]
    assert "RAW_INTERACTIONS" in refused.stderr  # says what would be replaced
    assert snapshot(applied.db, "RAW_INTERACTIONS") == before  # nothing changed


@pytest.mark.slow
def test_changing_generator_args_replaces_the_table_and_reinitialises_its_consumers(applied):
    catalog = snapshot(applied.db, "RESOURCE_CATALOG")
    members = snapshot(applied.db, "MEMBERS")
    before = Counter(h["NAME"] for h in history(applied))

    run = applied.pipe("apply", "--yes", file="engagement_args_changed.yaml", ok=True)
    assert "replace" in _summary(run)["RAW_INTERACTIONS"]
    assert "5,000" in _summary(run)["RAW_INTERACTIONS"]
    assert row_counts(applied.db)["RAW_INTERACTIONS"] == 5000

    new = Counter(h["NAME"] for h in history(applied)) - before
    readers = ["MEMBER_SESSIONS", "SESSION_ENGAGEMENT_DETAIL", "MEMBER_ENGAGEMENT_SUMMARY", "ENGAGEMENT_DASHBOARD"]
    assert sorted(new) == sorted(readers)  # RESOURCE_CATALOG does not read RAW_INTERACTIONS
    assert snapshot(applied.db, "RESOURCE_CATALOG") == catalog
    assert snapshot(applied.db, "MEMBERS") == members
    check_oracles(applied.db)
    assert "no changes" in applied.pipe("apply", file="engagement_args_changed.yaml", ok=True).stdout


def test_a_table_dropped_behind_pipes_back_is_created_again(applied):
    with duckdb.connect(str(applied.db)) as con:
        con.execute(f"DROP TABLE {SCHEMA}.ENGAGEMENT_DASHBOARD")
    run = applied.pipe("apply", "--yes", ok=True)
    assert "create" in _summary(run)["ENGAGEMENT_DASHBOARD"]
    assert table_names(applied.db) == set(BASE_TABLES) | set(DYNAMIC_TABLES)
    check_oracles(applied.db, names=["ENGAGEMENT_DASHBOARD"])
    assert status(applied)["ENGAGEMENT_DASHBOARD"]["state"] == "ACTIVE"
