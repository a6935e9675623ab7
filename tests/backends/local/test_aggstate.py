"""Aggregate state: grouped queries refreshed from their inputs' changes alone.

The property test drives ``tests/fixtures/incremental/stats.yaml`` (every aggregate kept as
counts, NULL keys and values, a filter, grouped CTEs read through and looked up by key) with
random inserts, updates and deletes, and compares every table with its query after each
refresh. The other tests check that the state is what refreshes those tables, and that a lost
state is rebuilt rather than trusted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import project as api
from engine.backends.local.incremental import aggstate
from engine.backends.local.incremental.recognition import recognise
from engine.report import Reporter

from .test_incremental_property import assert_tables_equal_queries

ROOT = Path(__file__).resolve().parents[3]
STATS = ROOT / "tests" / "fixtures" / "incremental" / "stats.yaml"
TABLES = ("USER_STATS", "TAGS", "USER_PROFILE")

pytestmark = pytest.mark.usefixtures("aggregate_state_kept")

events = st.lists(
    st.tuples(
        st.integers(1, 30),  # event_id: repeats are allowed, the table has no key
        st.one_of(st.none(), st.integers(1, 4)),  # user_id, NULL included
        st.sampled_from(["view", "buy", "noise", "view"]),
        st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),
        st.one_of(st.none(), st.integers(0, 9000).map(lambda c: c / 100)),
        st.one_of(st.none(), st.integers(0, 5)),
        st.integers(1, 9),
        st.one_of(st.none(), st.integers(0, 1000).map(lambda w: w / 8)),
    ),
    min_size=1,
    max_size=6,
)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), events),
        st.tuples(st.just("update_amount"), st.integers(1, 30), st.integers(0, 9000)),
        st.tuples(st.just("update_kind"), st.integers(1, 30), st.sampled_from(["view", "buy", "noise"])),
        st.tuples(st.just("move"), st.integers(1, 30), st.one_of(st.none(), st.integers(1, 4))),
        st.tuples(st.just("delete_event"), st.integers(1, 30)),
        st.tuples(st.just("delete_user"), st.integers(1, 4)),
        st.tuples(st.just("refresh")),
    ),
    min_size=1,
    max_size=10,
)


def _value(v) -> str:
    if v is None:
        return "NULL"
    return f"'{v}'" if isinstance(v, str) else str(v)


def _statement(op) -> str | None:
    kind = op[0]
    if kind == "insert":
        rows = [
            f"({e}, {_value(u)}, '{k}', {_value(t)}, {_value(a)}, {_value(s)}, '2026-03-0{d} 08:00:00'::TIMESTAMP, {_value(w)})"
            for e, u, k, t, a, s, d, w in op[1]
        ]
        return "INSERT INTO EVENTS VALUES " + ", ".join(rows)
    if kind == "update_amount":
        return f"UPDATE EVENTS SET amount = {op[2] / 100} WHERE event_id = {op[1]}"
    if kind == "update_kind":
        return f"UPDATE EVENTS SET kind = '{op[2]}' WHERE event_id = {op[1]}"
    if kind == "move":
        return f"UPDATE EVENTS SET user_id = {_value(op[2])} WHERE event_id = {op[1]}"
    if kind == "delete_event":
        return f"DELETE FROM EVENTS WHERE event_id = {op[1]}"
    if kind == "delete_user":
        return f"DELETE FROM EVENTS WHERE user_id = {op[1]}"
    return None


@pytest.fixture(scope="module")
def stats_project():
    return api.validate(STATS)


@pytest.fixture(params=["scans", "index lookups"])
def lookups(request, monkeypatch):
    """State rows found by scans (as the small tables of these tests are by default) or by
    index lookups of literal lists (as large state tables are)."""
    if request.param == "index lookups":
        monkeypatch.setattr(aggstate, "SCAN_ROWS_PER_KEY", 0)
    return request.param


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=ops)
def test_aggregate_state_refresh_equals_full_recompute(stats_project, tmp_path_factory, lookups, ops):
    db = tmp_path_factory.mktemp("stats") / "stats.duckdb"
    with stats_project.backend("local", db=db) as backend:
        api.apply(stats_project, backend)
        quiet = Reporter()
        for op in ops:
            statement = _statement(op)
            if statement is None:
                records = api.refresh(stats_project, backend, reporter=quiet)
                assert all(r.refresh_action in ("INCREMENTAL", "NO_DATA") for r in records), [
                    (r.name, r.refresh_action, r.state_message) for r in records
                ]
                assert_tables_equal_queries(stats_project, backend)
            else:
                backend.query(statement)
        api.refresh(stats_project, backend, reporter=quiet)
        assert_tables_equal_queries(stats_project, backend)


def test_grouped_queries_are_refreshed_from_their_state(stats_project, tmp_path):
    with stats_project.backend("local", db=tmp_path / "stats.duckdb") as backend:
        api.apply(stats_project, backend)
        backend.query(_statement(("insert", [(1, 1, "view", "a", 10.0, 2, 1, 0.5), (2, 1, "buy", None, 60.0, 3, 2, None)])))
        api.refresh(stats_project, backend, reporter=Reporter())
        incremental = backend.refresher.incremental
        for name in TABLES:
            assert incremental.plan(name).state is not None, name
        tags = incremental.plan("TAGS").state.nodes[0]
        summed = {tags.arg_text[a]: tags.kept(j) for j, (kind, a) in enumerate(tags.aggs) if kind in ("SUM", "AVG")}
        assert summed == {'"AMOUNT"': True, '"WEIGHT"': False}  # float sums are read off their values
        backend.query(_statement(("insert", [(3, 2, "buy", "b", 70.0, 4, 3, 1.25)])))
        records = {r.name: r for r in api.refresh(stats_project, backend, reporter=Reporter())}
        rows = backend.query("SELECT user_id, events, kinds, amount, usual_kind, large FROM USER_STATS ORDER BY user_id").rows
    assert all(records[n].refresh_action == "INCREMENTAL" for n in TABLES)
    # user 2 is new: one row inserted, none deleted; user 1 untouched
    assert (records["USER_STATS"].inserted_rows, records["USER_STATS"].deleted_rows) == (1, 0)
    assert [tuple(r) for r in rows] == [(1, 2, 2, 70, "buy", 1), (2, 1, 1, 70, "buy", 1)]


def test_group_rows_rebuilt_from_value_tables_equal_the_aggregates_of_the_input(stats_project, tmp_path):
    """A full refresh builds each group row's DISTINCT aggregates from its value tables: they
    must equal what DuckDB's own COUNT(DISTINCT) / SUM(DISTINCT) give over the input rows."""
    events = [(1, 1, "view", "a", 10.0, 2, 1, 0.5), (2, 1, "buy", None, 60.0, 2, 2, None),
              (3, 1, "buy", "b", None, None, 3, 1.0), (4, None, "view", "a", 5.0, 3, 4, 2.0),
              (5, None, "view", None, 5.0, 3, 5, None), (6, 2, "noise", "c", 1.0, 1, 6, 1.0),
              (7, 2, "buy", "c", 70.0, 4, 7, None), (7, 2, "buy", "c", 70.0, 4, 7, None)]
    with stats_project.backend("local", db=tmp_path / "stats.duckdb") as backend:
        api.apply(stats_project, backend)
        backend.query(_statement(("insert", events)))
        api.refresh(stats_project, backend, full=True, reporter=Reporter())
        state = backend.refresher.incremental.plan("USER_STATS").state
        node = state.nodes[-1]
        star = state.relations()[1]
        kept = {kind: j for j, (kind, _) in enumerate(node.aggs) if kind in ("COUNT_DISTINCT", "SUM_DISTINCT")}
        count, total = kept["COUNT_DISTINCT"], kept["SUM_DISTINCT"]
        rows = backend.store.con.execute(
            f'SELECT "__G0", "__S{count}", "__S{total}", "__C{total}" FROM {star} ORDER BY 1 NULLS FIRST'
        ).fetchall()
    # worked out from the rows above, 'noise' filtered out: user NULL has kind {view}, scores {3};
    # user 1 kinds {view, buy}, scores {2} (NULL neither summed nor counted); user 2 kinds {buy},
    # scores {4}; the last column counts the distinct scores summed
    assert rows == [(None, 1, 3, 1), (1, 2, 2, 1), (2, 1, 4, 1)]


def _drop_first_state_table(con, state) -> None:
    con.execute(f"DROP TABLE {state.relations()[1]}")


def _rehash(con, state) -> None:
    con.execute(f"UPDATE {state.relations()[0]} SET PROBE = PROBE + 1")


@pytest.mark.parametrize(
    "damage, reason",
    [(_drop_first_state_table, "aggregate state"), (_rehash, "another version of DuckDB")],
    ids=["lost", "hashed-by-another-duckdb"],
)
def test_damaged_state_is_rebuilt_by_a_full_refresh(stats_project, tmp_path, damage, reason):
    with stats_project.backend("local", db=tmp_path / "stats.duckdb") as backend:
        api.apply(stats_project, backend)
        backend.query(_statement(("insert", [(1, 1, "view", "a", 10.0, 2, 1, 0.5)])))
        api.refresh(stats_project, backend, reporter=Reporter())
        damage(backend.store.con, backend.refresher.incremental.plan("USER_STATS").state)
        backend.query(_statement(("insert", [(2, 1, "buy", "b", 20.0, 3, 2, 0.5)])))
        first = {r.name: r for r in api.refresh(stats_project, backend, reporter=Reporter())}["USER_STATS"]
        backend.query(_statement(("insert", [(3, 1, "buy", "b", 30.0, 3, 2, 0.5)])))
        second = {r.name: r for r in api.refresh(stats_project, backend, reporter=Reporter())}["USER_STATS"]
        assert_tables_equal_queries(stats_project, backend)
    assert first.refresh_action == "FULL" and reason in first.state_message
    assert second.refresh_action == "INCREMENTAL"


@pytest.mark.parametrize(
    "part, reason",
    [("STAR", "would count a group's rows fewer than zero times"), ("V", "would count a value fewer than zero times")],
    ids=["group-rows", "value-rows"],
)
def test_counts_the_change_would_take_below_zero_rebuild_the_state(stats_project, tmp_path, part, reason):
    # The state counts no rows where the table holds one: deleting it would count fewer than
    # zero, which only a state that disagrees with its table can; a full refresh rebuilds it.
    with stats_project.backend("local", db=tmp_path / "stats.duckdb") as backend:
        api.apply(stats_project, backend)
        backend.query(_statement(("insert", [(1, 1, "view", "a", 10.0, 2, 1, 0.5), (2, 1, "buy", "b", 20.0, 3, 2, 0.5)])))
        api.refresh(stats_project, backend, reporter=Reporter())
        state = backend.refresher.incremental.plan("USER_STATS").state
        relations = [r for r in state.relations() if r.name.split("_")[-1].startswith(part)]
        assert relations, state.relations()
        for relation in relations:
            backend.store.con.execute(f'UPDATE {relation.sql(dialect="duckdb")} SET "__N" = 0')
        backend.query("DELETE FROM EVENTS WHERE event_id = 1")
        first = {r.name: r for r in api.refresh(stats_project, backend, reporter=Reporter())}["USER_STATS"]
        assert_tables_equal_queries(stats_project, backend)
        backend.query("DELETE FROM EVENTS WHERE event_id = 2")
        second = {r.name: r for r in api.refresh(stats_project, backend, reporter=Reporter())}["USER_STATS"]
        assert_tables_equal_queries(stats_project, backend)
    assert first.refresh_action == "FULL" and reason in first.state_message, first.state_message
    assert second.refresh_action == "INCREMENTAL"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT user_id, ARRAY_AGG(kind) AS kinds FROM EVENTS GROUP BY user_id",  # every row, not values
        "SELECT user_id, COUNT(*) AS n FROM EVENTS GROUP BY user_id HAVING COUNT(*) > 1",
        "SELECT user_id, SUM(amount) OVER (PARTITION BY user_id) AS s FROM EVENTS",
        "SELECT e.user_id, COUNT(*) AS n FROM EVENTS e LEFT JOIN EVENTS f ON f.user_id = e.user_id GROUP BY e.user_id",
    ],
)
def test_other_shapes_are_left_to_the_other_strategies(sql):
    from engine.sql.partition import analyze
    from engine.sql.translate import to_duckdb

    columns = ["EVENT_ID", "USER_ID", "KIND", "TAG", "AMOUNT", "SCORE", "AT", "WEIGHT"]
    partitioning = analyze(sql, {"EVENTS": columns})
    query = sqlglot.parse_one(to_duckdb(sql, database="STATS", schema="AGG"), read="duckdb")  # as the graph reads it back
    assert recognise(None, query, ["EVENTS"], partitioning) is None


def test_destroy_drops_the_state_with_its_table(stats_project, tmp_path):
    with stats_project.backend("local", db=tmp_path / "stats.duckdb") as backend:
        api.apply(stats_project, backend)
        tables = "SELECT count(*) FROM duckdb_tables() WHERE schema_name = '_PIPE' AND starts_with(table_name, 'AGG_')"
        assert backend.store.con.execute(tables).fetchall()[0][0] > 0
        api.destroy(stats_project, backend)
        assert backend.store.con.execute(tables).fetchall()[0][0] == 0


QUOTED = ROOT / "tests" / "fixtures" / "names" / "quoted_checks.yaml"


def test_quoted_names_are_refreshed_from_their_state(tmp_path):
    """Tables, columns, CTEs and aliases whose names must be quoted ("Café Orders", "café",
    "Par café") are recognised by their resolved names, not Python's upper case of them."""
    project = api.validate(QUOTED)
    first = [(1, "noir", "2.5"), (2, "noir", "1.5"), (3, "crème", "0")]
    later = [(4, "noir", "1"), (4, "latte", "3")]
    with project.backend("local", db=tmp_path / "quoted.duckdb") as backend:
        api.apply(project, backend)
        actions = []
        for rows in (first, later):
            values = ", ".join(f"({i}, '{c}', {m}, CURRENT_TIMESTAMP())" for i, c, m in rows)
            backend.query(f'INSERT INTO "Café Orders" VALUES {values}')
            actions += [(r.name, r.refresh_action) for r in api.refresh(project, backend, reporter=Reporter())]
        incremental = backend.refresher.incremental
        kept = {n: incremental.plan(n).state is not None for n in ("Ventes par café", "Profil café")}
        profile = backend.query('SELECT "café", "Commandes", top_n, "Somme" FROM "Profil café"').rows
    assert kept == {"Ventes par café": True, "Profil café": True}
    assert set(actions) == {("Ventes par café", "INCREMENTAL"), ("Profil café", "INCREMENTAL")}
    # Per café over both batches: orders, most rows of one order_id, sum of Montant.
    assert sorted(profile) == [("crème", 1, 1, 0), ("latte", 1, 1, 3), ("noir", 3, 1, 5)]
