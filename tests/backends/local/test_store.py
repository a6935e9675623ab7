"""Opening the local database: its bookkeeping format is checked before anything is read."""

from pathlib import Path

import duckdb
import pytest

from engine import project as api
from engine.errors import BackendError
from engine.report import Reporter

SHOP = Path(__file__).resolve().parents[2] / "fixtures" / "incremental" / "shop.yaml"


def test_a_database_of_another_format_is_refused_not_misread(tmp_path):
    project = api.validate(SHOP)
    db = tmp_path / "shop.duckdb"
    with project.backend("local", db=db) as backend:
        api.apply(project, backend)
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE _PIPE.FORMAT SET VERSION = 99")
    for read_only in (False, True):
        with pytest.raises(BackendError, match="format 99, this pipe reads format 1"):
            project.backend("local", db=db, read_only=read_only)


def test_a_new_database_records_its_format(tmp_path):
    project = api.validate(SHOP)
    db = tmp_path / "shop.duckdb"
    with project.backend("local", db=db) as backend:
        api.apply(project, backend)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT VERSION FROM _PIPE.FORMAT").fetchall() == [(1,)]


def _shop_in_schema(tmp_path: Path, schema: str) -> Path:
    path = tmp_path / f"shop_{schema}.yaml"
    path.write_text(SHOP.read_text().replace("schema: ANALYTICS", f"schema: {schema}"))
    return path


def test_a_schema_named_main_is_the_databases_own_and_works_as_any_other(tmp_path):
    """DuckDB's default schema is ``main`` and it matches names without regard to case, so a
    pipeline whose Snowflake schema is MAIN lives in it: apply, refresh and reads give the same
    rows as the same pipeline in another schema."""
    from engine import names
    from engine.report import Reporter

    results = {}
    for schema in ("ANALYTICS", "MAIN"):
        project = api.validate(_shop_in_schema(tmp_path, schema))
        with project.backend("local", db=tmp_path / f"{schema}.duckdb") as backend:
            api.apply(project, backend)
            backend.query("INSERT INTO CUSTOMERS VALUES (1, 'ann', 'West'), (2, 'bo', 'East')")
            backend.query("INSERT INTO ORDERS VALUES (1, 1, 10.5, 'ok', '2026-01-01'::TIMESTAMP), "
                          "(2, 2, 99.5, 'returned', '2026-01-02'::TIMESTAMP)")
            records = api.refresh(project, backend, reporter=Reporter())
            assert {r.state for r in records} == {"SUCCEEDED"}
            assert not api.plan(project, backend).has_changes  # the tables are found again
            results[schema] = {name: sorted(backend.query(f"SELECT * FROM {names.sql(name)}").rows, key=repr)
                               for name in project.pipeline.dynamic_tables}
    assert results["MAIN"] == results["ANALYTICS"]
    assert results["MAIN"]["CUSTOMER_ORDERS"][0][:4] == (1, "ann", "West", 1)


class _Statements:
    """The store's connection, noting each statement sent and DuckDB's thread count as it runs."""

    def __init__(self, con):
        self._con = con
        self.sent: list[tuple[str, int]] = []

    def __getattr__(self, name):
        return getattr(self._con, name)

    def execute(self, sql, *args):
        threads = self._con.execute("SELECT current_setting('threads')").fetchone()[0]
        self.sent.append((" ".join(sql.split()), int(threads)))
        return self._con.execute(sql, *args)


def test_an_incremental_refresh_runs_on_one_thread_and_gives_the_others_back(tmp_path):
    project = api.validate(SHOP)
    with project.backend("local", db=tmp_path / "shop.duckdb") as backend:
        api.apply(project, backend)
        store = backend.store
        configured = int(store.con.execute("SELECT current_setting('threads')").fetchone()[0])
        backend.query("INSERT INTO CUSTOMERS VALUES (1, 'Ann', 'north')")
        backend.query("INSERT INTO ORDERS VALUES (10, 1, 12.5, 'paid', TIMESTAMP '2026-01-01 10:00:00')")
        store.con = _Statements(store.con)
        records = api.refresh(project, backend, reporter=Reporter())
        sent, store.con = store.con.sent, store.con._con
        after = int(store.con.execute("SELECT current_setting('threads')").fetchone()[0])
        rows = backend.query("SELECT customer_id, orders, total_amount FROM CUSTOMER_ORDERS").rows
    assert {r.name: r.refresh_action for r in records}["CUSTOMER_ORDERS"] == "INCREMENTAL"
    assert [tuple(r) for r in rows] == [(1, 1, 12.5)]
    writes = [threads for sql, threads in sent if sql.startswith(("INSERT INTO", "DELETE FROM"))]
    assert writes and set(writes) == {1}
    assert after == configured


def test_parallel_switches_duckdb_threads_and_back(tmp_path):
    project = api.validate(SHOP)
    with project.backend("local", db=tmp_path / "shop.duckdb") as backend:
        con = backend.store.con
        configured = con.execute("SELECT current_setting('threads')").fetchone()[0]
        backend.store.parallel(False)
        one = con.execute("SELECT current_setting('threads')").fetchone()[0]
        backend.store.parallel(True)
        back = con.execute("SELECT current_setting('threads')").fetchone()[0]
    assert (one, back) == (1, configured)


def test_lookups_answer_a_join_on_a_few_keys_from_the_index_and_restore_the_setting(tmp_path):
    project = api.validate(SHOP)
    with project.backend("local", db=tmp_path / "shop.duckdb") as backend:
        store = backend.store
        con = store.con
        con.execute("CREATE TABLE _PIPE.BIG AS SELECT hash(range) AS H, range AS N FROM range(300000)")
        con.execute("CREATE INDEX BIG_H ON _PIPE.BIG (H)")
        con.execute("CREATE TEMP TABLE WANTED AS SELECT hash(range) AS H FROM range(0, 300000, 1000)")
        lookup = "SELECT N FROM _PIPE.BIG WHERE H IN (SELECT H FROM WANTED) ORDER BY N"
        default = con.execute("SELECT current_setting('dynamic_or_filter_threshold')").fetchone()[0]
        scanned = con.execute("EXPLAIN " + lookup).fetchall()[0][1]
        with store.lookups():
            plan = con.execute("EXPLAIN ANALYZE " + lookup).fetchall()[0][1]
            found = con.execute(lookup).fetchall()
        after = con.execute("SELECT current_setting('dynamic_or_filter_threshold')").fetchone()[0]
    assert found == [(n,) for n in range(0, 300000, 1000)]
    assert "Index Scan" in plan and "Index Scan" not in scanned
    assert after == default


def test_a_lookup_that_fails_in_a_transaction_keeps_its_own_error_and_the_setting_is_restored(tmp_path):
    """Within the transaction a failed statement aborts, resetting the setting fails too: the
    statement's error is the one raised, and the setting is reset after the rollback."""
    project = api.validate(SHOP)
    with project.backend("local", db=tmp_path / "shop.duckdb") as backend:
        store = backend.store
        con = store.con
        con.execute("CREATE TABLE _PIPE.KEYED (K INTEGER PRIMARY KEY)")
        default = con.execute("SELECT current_setting('dynamic_or_filter_threshold')").fetchone()[0]
        with pytest.raises(duckdb.ConstraintException, match="duplicate key"):
            with store.transaction(), store.lookups():
                con.execute("INSERT INTO _PIPE.KEYED VALUES (1), (1)")
        after = con.execute("SELECT current_setting('dynamic_or_filter_threshold')").fetchone()[0]
        con.execute("INSERT INTO _PIPE.KEYED VALUES (2)")  # the connection is usable again
    assert after == default
