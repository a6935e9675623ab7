"""Tables whose columns were changed, or that were replaced or dropped, by another client:
status, refresh and stream say which table and what changed; apply recreates it as declared
(asking first for a base table, whose rows are replaced) and everything matches the oracles."""

from __future__ import annotations

import json

import pytest

from .conftest import check_oracles, outside, row_counts

CASES = {
    "base-rename-column": ("RAW_INTERACTIONS", "ALTER TABLE RAW_INTERACTIONS RENAME COLUMN MEMBER_ID TO MID",
                           "MEMBER_ID removed or renamed"),
    "base-add-column": ("MEMBERS", "ALTER TABLE MEMBERS ADD COLUMN NICKNAME VARCHAR", "NICKNAME added"),
    "base-retype-column": ("RESOURCES", "ALTER TABLE RESOURCES ALTER ESTIMATED_MINUTES TYPE VARCHAR",
                           "ESTIMATED_MINUTES"),
    "dynamic-replaced": ("RESOURCE_CATALOG", "CREATE OR REPLACE TABLE RESOURCE_CATALOG AS SELECT 1 AS X", "X added"),
    "dynamic-drop-column": ("MEMBER_SESSIONS", "ALTER TABLE MEMBER_SESSIONS DROP COLUMN SESSION_ID",
                            "SESSION_ID removed or renamed"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_outside_column_change_is_reported_then_repaired_by_apply(fresh, case):
    table, ddl, words = CASES[case]
    outside(fresh.db, ddl)

    states = {s["name"]: s["state"] for s in json.loads(fresh.pipe("status", "--format", "json", ok=True).stdout)}
    assert words in states[table] and "pipe apply" in states[table], states[table]
    for command in (["refresh"], ["stream", "--batches", "1", "--records", "5", "--delay", "0"]):
        error = fresh.pipe(*command, ok=False).errors[0]
        assert table in error and words in error and "pipe apply" in error, error

    plan = fresh.pipe("plan", ok=True).stdout
    assert "replace" in plan and table in plan
    if table in ("RAW_INTERACTIONS", "MEMBERS", "RESOURCES"):  # a base table's rows are replaced: ask
        refused = fresh.pipe("apply", ok=False)
        assert "--yes" in refused.errors[0]
    fresh.pipe("apply", "--yes", ok=True)
    assert "no changes" in fresh.pipe("apply", ok=True).stdout
    counts = row_counts(fresh.db)
    assert (counts["MEMBERS"], counts["RESOURCES"], counts["RAW_INTERACTIONS"]) == (1000, 100, 10_000)
    check_oracles(fresh.db)


def test_a_dropped_table_is_created_again_by_apply(fresh):
    outside(fresh.db, "DROP TABLE ENGAGEMENT_DASHBOARD", "DROP TABLE RESOURCES")
    assert "not been created" in fresh.pipe("refresh", ok=False).errors[0]
    fresh.pipe("apply", "--yes", ok=True)
    assert row_counts(fresh.db)["RESOURCES"] == 100
    check_oracles(fresh.db)
