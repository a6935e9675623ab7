"""pipe creates, replaces and drops only what it made. A table of a declared name that another
client made is a conflict: plan shows it, apply refuses in one line and leaves it as it is,
``--adopt NAME`` takes it over with its rows. Lost bookkeeping rows are rebuilt by apply, never
answered with "no changes" while a table is missing or unusable."""

from __future__ import annotations

import json

import pytest

from backends.local.conftest import Applied, pipeline_dir

from .conftest import check_oracles, outside, row_counts, scalar

FOREIGN_ROWS = 12_345
FOREIGN = (
    "CREATE TABLE RAW_INTERACTIONS (MEMBER_ID {type}, EVENT_DATA JSON)",
    f"""INSERT INTO RAW_INTERACTIONS SELECT 10001 + i % 1000,
        json_object('session_id', 'S' || (i // 5), 'resource_id', 100 + i % 100, 'event_type', 'view',
                    'timestamp', '2026-11-20 10:00:00', 'duration_seconds', 30)
        FROM range({FOREIGN_ROWS}) r(i)""",
)


@pytest.fixture
def foreign(tmp_path) -> Applied:
    """A database where another client made RAW_INTERACTIONS before pipe ever ran."""
    import duckdb

    db = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA DYNAMIC_TABLES")
    applied = Applied(pipeline_dir(tmp_path / "pipeline"), db)
    return applied


def _make_foreign(applied: Applied, column_type: str = "BIGINT") -> None:
    outside(applied.db, FOREIGN[0].format(type=column_type), FOREIGN[1])


def test_a_table_pipe_did_not_make_is_a_conflict_and_apply_leaves_it_alone(foreign):
    _make_foreign(foreign)
    plan = foreign.pipe("plan", ok=True).stdout
    assert "conflict" in plan and "RAW_INTERACTIONS" in plan and "12,345 rows" in plan
    error = foreign.pipe("apply", "--yes", ok=False).errors[0]
    assert "RAW_INTERACTIONS" in error and "did not create" in error
    assert "--adopt RAW_INTERACTIONS" in error and "DROP TABLE RAW_INTERACTIONS" in error
    assert scalar(foreign.db, "SELECT count(*) FROM RAW_INTERACTIONS") == FOREIGN_ROWS
    # destroy never drops it either
    foreign.pipe("destroy", "--yes", ok=True)
    assert scalar(foreign.db, "SELECT count(*) FROM RAW_INTERACTIONS") == FOREIGN_ROWS


def test_adopt_keeps_the_rows_and_builds_the_pipeline_on_them(foreign):
    _make_foreign(foreign)
    foreign.pipe("apply", "--yes", "--adopt", "raw_interactions", ok=True)
    assert scalar(foreign.db, "SELECT count(*) FROM RAW_INTERACTIONS") == FOREIGN_ROWS
    assert "no changes" in foreign.pipe("apply", ok=True).stdout
    # the adopted table is pipe's now: its writes are tracked and refreshed incrementally
    foreign.pipe("stream", "--batches", "1", "--records", "20", "--delay", "0", ok=True)
    assert scalar(foreign.db, "SELECT count(*) FROM RAW_INTERACTIONS") == FOREIGN_ROWS + 20
    # its events are fake, so no oracle; the sessions hold every event exactly once
    assert scalar(foreign.db, "SELECT sum(EVENT_COUNT) FROM MEMBER_SESSIONS") == FOREIGN_ROWS + 20


def test_adopt_refuses_a_table_whose_columns_differ(foreign):
    _make_foreign(foreign, column_type="DECIMAL(38,0)")
    error = foreign.pipe("apply", "--yes", "--adopt", "RAW_INTERACTIONS", ok=False).errors[0]
    assert "MEMBER_ID DECIMAL(38,0)" in error and "MEMBER_ID BIGINT" in error
    assert scalar(foreign.db, "SELECT count(*) FROM RAW_INTERACTIONS") == FOREIGN_ROWS


def test_adopt_names_only_conflicts(fresh):
    error = fresh.pipe("apply", "--yes", "--adopt", "MEMBERS", ok=False).errors[0]
    assert "MEMBERS" in error and "adopt" in error


LOST = {
    # what is deleted from pipe's bookkeeping -> the table apply must recreate (None: none)
    "objects-row-of-a-base-table": ("DELETE FROM _PIPE.OBJECTS WHERE KEY = 'RAW_INTERACTIONS'", None),
    "objects-row-of-a-dynamic-table": ("DELETE FROM _PIPE.OBJECTS WHERE KEY = 'MEMBER_SESSIONS'", "MEMBER_SESSIONS"),
    "refresh-state-row": ("DELETE FROM _PIPE.DYNAMIC_TABLES WHERE NAME = 'MEMBER_ENGAGEMENT_SUMMARY'",
                          "MEMBER_ENGAGEMENT_SUMMARY"),
    "version-row-of-a-base-table": ("DELETE FROM _PIPE.TABLE_VERSIONS WHERE NAME = 'MEMBERS'", None),
    "version-row-of-a-dynamic-table": ("DELETE FROM _PIPE.TABLE_VERSIONS WHERE NAME = 'RESOURCE_CATALOG'", None),
}


@pytest.mark.parametrize("case", sorted(LOST))
def test_lost_bookkeeping_is_rebuilt_by_apply_keeping_streamed_rows(fresh, case):
    statement, recreated = LOST[case]
    fresh.pipe("stream", "--batches", "2", "--records", "100", "--delay", "0", ok=True)
    outside(fresh.db, statement)
    if recreated:
        states = {s["name"]: s["state"] for s in json.loads(fresh.pipe("status", "--format", "json", ok=True).stdout)}
        assert "was lost" in states[recreated], states
        assert recreated in fresh.pipe("refresh", ok=False).errors[0]
        assert "replace" in fresh.pipe("plan", ok=True).stdout
    apply = fresh.pipe("apply", "--yes", ok=True).stdout
    if recreated:
        assert "no changes" not in apply
    assert row_counts(fresh.db)["RAW_INTERACTIONS"] == 10_200  # streamed rows never regenerated
    assert "no changes" in fresh.pipe("apply", ok=True).stdout
    fresh.pipe("stream", "--batches", "1", "--records", "10", "--delay", "0", ok=True)
    fresh.pipe("refresh", ok=True)
    check_oracles(fresh.db)
