"""What a grouped table keeps materialised: pre-aggregation rows for small groups, aggregate
state for large ones, chosen at each full refresh, the other dropped; either one lost is rebuilt."""

from __future__ import annotations

from pathlib import Path

from sqlglot import exp

from engine import project as api
from engine.backends.local.incremental import aggstate, keys
from engine.backends.local.incremental.aggstate import AggregateState
from engine.backends.local.incremental.orchestrator import SMALL_GROUPS
from engine.backends.local.incremental.preaggregation import PreAggregation
from engine.backends.local.store import open_store
from engine.report import Reporter

from .test_incremental_property import assert_tables_equal_queries

ROOT = Path(__file__).resolve().parents[3]
STATS = ROOT / "tests" / "fixtures" / "incremental" / "stats.yaml"
NOW = {"ENGAGEMENT_DASHBOARD": {"REPORT_GENERATED_AT"}}  # CURRENT_TIMESTAMP: differs at every evaluation


def _kept_tables(backend, name: str) -> set[str]:
    rows = backend.store.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = '_PIPE' AND "
        "(table_name = ? OR starts_with(table_name, ?))",
        [f"PRE_{name}", f"AGG_{name}_"],
    ).fetchall()
    return {"PRE" if table.startswith("PRE_") else "AGG" for (table,) in rows}


def _insert_events(backend, ids: range, tags: int) -> None:
    """Events ``ids``, spread over ``tags`` tags: TAGS has that many groups."""
    rows = [
        f"({i}, {i % 4}, 'view', 't{i % tags}', {i % 97}.5, {i % 7}, "
        f"'2026-03-01'::TIMESTAMP + INTERVAL '{i} minutes', {i % 5} / 4)"
        for i in ids
    ]
    backend.query("INSERT INTO EVENTS VALUES " + ", ".join(rows))


def _refresh(project, backend, *, full: bool = False) -> str:
    """TAGS' refresh action."""
    records = api.refresh(project, backend, full=full, reporter=Reporter())
    return next(r.refresh_action for r in records if r.name == "TAGS")


def test_engagement_keeps_pre_aggregation_for_sessions_and_state_for_members(applied):
    project = api.validate(applied.yaml)
    with project.backend("local", db=applied.db) as backend:
        incremental = backend.refresher.incremental
        # MEMBER_SESSIONS: about 4 events per session; MEMBER_ENGAGEMENT_SUMMARY joins a grouped
        # CTE, which only aggregate state maintains.
        assert isinstance(incremental.kept("MEMBER_SESSIONS"), PreAggregation)
        assert _kept_tables(backend, "MEMBER_SESSIONS") == {"PRE"}
        assert isinstance(incremental.kept("MEMBER_ENGAGEMENT_SUMMARY"), AggregateState)
        assert _kept_tables(backend, "MEMBER_ENGAGEMENT_SUMMARY") == {"AGG"}


def test_kept_tables_are_indexed_by_the_first_incremental_refresh_not_the_full_one(applied, monkeypatch):
    # state tables this small are scanned (see SCAN_ROWS_PER_KEY): looked up by index, as large ones are
    monkeypatch.setattr(aggstate, "SCAN_ROWS_PER_KEY", 0)
    project = api.validate(applied.yaml)
    with project.backend("local", db=applied.db) as backend:
        assert _indexes(backend) == set()  # apply's full refreshes built no index
        backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [20, 1])
        actions = {r.name: r.refresh_action for r in api.refresh(project, backend, reporter=Reporter())}
        assert actions["MEMBER_SESSIONS"] == actions["MEMBER_ENGAGEMENT_SUMMARY"] == "INCREMENTAL"
        indexes = _indexes(backend)
        # the session keys are text: found through an index on the pre-aggregation rows
        assert "PRE_MEMBER_SESSIONS_KEY" in indexes
        # the aggregate state is found by hashes: the group rows of the query's grouping by theirs,
        # and by its output key
        assert {"AGG_MEMBER_ENGAGEMENT_SUMMARY_N2_STAR_H", "AGG_MEMBER_ENGAGEMENT_SUMMARY_N2_STAR_KH"} <= indexes
        assert_tables_equal_queries(project, backend, NOW)
        api.refresh(project, backend, full=True, reporter=Reporter())
        assert _indexes(backend) == set()  # the recomputed tables come without them, until needed
        backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [20, 1])
        api.refresh(project, backend, reporter=Reporter())
        assert "AGG_MEMBER_ENGAGEMENT_SUMMARY_N2_STAR_H" in _indexes(backend)
        assert_tables_equal_queries(project, backend, NOW)


def test_small_state_tables_are_scanned_and_get_no_index(applied):
    project = api.validate(applied.yaml)
    with project.backend("local", db=applied.db) as backend:
        backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [20, 1])
        actions = {r.name: r.refresh_action for r in api.refresh(project, backend, reporter=Reporter())}
        indexes = _indexes(backend)
        sizes = backend.store.kept_sizes()
        assert_tables_equal_queries(project, backend, NOW)
    assert actions["MEMBER_ENGAGEMENT_SUMMARY"] == "INCREMENTAL"
    # 10,000 events: state tables of under 10,000 rows, in which a 20-event change finds its rows
    # by scans (the test above forces the index lookups that large tables get)
    state = [t for t in sizes if t.startswith("AGG_MEMBER_ENGAGEMENT_SUMMARY_N")]
    assert state and max(sizes[t] for t in state) < 10_000
    assert not {i for i in indexes if i.startswith("AGG_")}


def test_a_state_table_too_large_to_index_in_memory_is_read_without_an_index(applied, monkeypatch):
    """An index is built in memory at once; where none fits, lookups scan the key column and the
    tables still equal their queries."""
    monkeypatch.setattr(aggstate, "SCAN_ROWS_PER_KEY", 0)  # lookups that would use an index...
    monkeypatch.setattr(keys, "INDEX_SHARE", 0.0)  # ...but no index fits
    project = api.validate(applied.yaml)
    with project.backend("local", db=applied.db) as backend:
        for seed in (1, 2):
            backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [20, seed])
            actions = {r.name: r.refresh_action for r in api.refresh(project, backend, reporter=Reporter())}
            assert actions["MEMBER_SESSIONS"] == actions["MEMBER_ENGAGEMENT_SUMMARY"] == "INCREMENTAL"
            assert _indexes(backend) == set()
            assert_tables_equal_queries(project, backend, NOW)


def test_an_index_is_affordable_when_it_fits_half_the_memory_limit(tmp_path):
    store = open_store(tmp_path / "p.duckdb", "DB", "SC", memory_limit="100MB")
    try:
        store.con.execute("CREATE TABLE T AS SELECT i AS K, i::VARCHAR AS S FROM range(100000) r(i)")
        store.con.execute("CREATE TABLE BIG AS SELECT i AS K FROM range(1000000) r(i)")
        table = exp.table_("T", db="SC")
        # 100,000 rows: 9.6 MB as integers, 12.8 MB as text; 1M integers: 96 MB, over 50 MB
        assert keys.affordable(store, table, "K") and keys.affordable(store, table, "S")
        assert not keys.affordable(store, exp.table_("BIG", db="SC"), "K")
    finally:
        store.close()


def _indexes(backend) -> set[str]:
    rows = backend.store.con.execute("SELECT index_name FROM duckdb_indexes() WHERE schema_name = '_PIPE'").fetchall()
    return {name for (name,) in rows}


def test_a_full_refresh_switches_as_the_groups_grow_and_shrink(tmp_path):
    project = api.validate(STATS)
    with project.backend("local", db=tmp_path / "stats.duckdb") as backend:
        api.apply(project, backend)
        incremental = backend.refresher.incremental
        _insert_events(backend, range(1, 61), tags=60)
        assert _refresh(project, backend) == "INCREMENTAL"
        assert _kept_tables(backend, "TAGS") == {"PRE"}  # chosen when the table was empty

        many = SMALL_GROUPS * 2 * 60
        _insert_events(backend, range(61, 61 + many), tags=60)
        assert _refresh(project, backend) == "INCREMENTAL"  # kept as it was until a full refresh
        assert _kept_tables(backend, "TAGS") == {"PRE"}
        assert_tables_equal_queries(project, backend)

        assert _refresh(project, backend, full=True) == "FULL"
        assert _kept_tables(backend, "TAGS") == {"AGG"}  # 33 events per tag now
        assert isinstance(incremental.kept("TAGS"), AggregateState)
        _insert_events(backend, range(61 + many, 121 + many), tags=60)
        backend.query("UPDATE EVENTS SET amount = amount + 1, weight = weight * 2 WHERE event_id % 10 = 0")
        backend.query("DELETE FROM EVENTS WHERE event_id % 13 = 0")
        assert _refresh(project, backend) == "INCREMENTAL"
        assert_tables_equal_queries(project, backend)

        backend.query("DELETE FROM EVENTS WHERE event_id % 17 <> 0")  # about 2 events per tag left
        assert _refresh(project, backend, full=True) == "FULL"
        assert _kept_tables(backend, "TAGS") == {"PRE"}
        _insert_events(backend, range(5000, 5030), tags=60)
        backend.query("DELETE FROM EVENTS WHERE tag = 't3'")
        assert _refresh(project, backend) == "INCREMENTAL"
        assert_tables_equal_queries(project, backend)


def test_lost_pre_aggregation_rows_are_rebuilt_by_a_full_refresh(tmp_path):
    project = api.validate(STATS)
    with project.backend("local", db=tmp_path / "stats.duckdb") as backend:
        api.apply(project, backend)
        _insert_events(backend, range(1, 61), tags=60)
        _refresh(project, backend)
        backend.store.con.execute('DROP TABLE _PIPE."PRE_TAGS"')
        _insert_events(backend, range(61, 91), tags=60)
        records = {r.name: r for r in api.refresh(project, backend, reporter=Reporter())}
        assert records["TAGS"].refresh_action == "FULL"
        assert "rebuilt" in records["TAGS"].state_message
        assert_tables_equal_queries(project, backend)
        assert _kept_tables(backend, "TAGS") == {"PRE"}
        backend.query("DELETE FROM EVENTS WHERE tag = 't5'")
        assert _refresh(project, backend) == "INCREMENTAL"
        assert_tables_equal_queries(project, backend)
