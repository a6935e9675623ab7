"""The change log: a write given as counted rows is logged row by row, moves the stored
signature to the table's own, and compaction deletes what every reader applied, once."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.backends.local.changes import ChangeLog, Signature
from engine.backends.local.store import open_store

TABLE = '"DB"."S"."T"'
LOG = '_PIPE."LOG_T"'


@pytest.fixture
def log(tmp_path):
    store = open_store(tmp_path / "s.duckdb", "DB", "S")
    # column names that need quoting, and a duplicated row
    store.con.execute(f'CREATE TABLE {TABLE} (ID BIGINT, "my name" VARCHAR, "select" DOUBLE)')
    store.con.execute(f"INSERT INTO {TABLE} VALUES (1, 'a', 1.5), (2, 'b', NULL), (2, 'b', NULL), (3, NULL, 3.0)")
    changes = ChangeLog(store)
    changes.reset("T")
    yield changes
    store.close()


def _logged(log) -> Counter:
    return Counter(log.con.execute(f'SELECT ID, "my name", "select", __VERSION, __SIGN FROM {LOG}').fetchall())


def test_counted_rows_are_logged_and_move_the_signature_to_the_table_s(log):
    con = log.con
    # one copy of (2, b) goes, (3, NULL) goes, (4, d) comes twice, (1, a) stays
    con.execute(f"CREATE TEMP TABLE COUNTED AS SELECT *, 0::BIGINT AS __PIPE_COPIES FROM {TABLE} LIMIT 0")  # the table's types
    con.execute("INSERT INTO COUNTED VALUES (2, 'b', NULL, -1), (3, NULL, 3.0, -1), (4, 'd', 4.0, 2)")
    con.execute(f"DELETE FROM {TABLE} WHERE rowid IN (SELECT min(rowid) FROM {TABLE} WHERE ID = 2) OR ID = 3")
    con.execute(f"INSERT INTO {TABLE} VALUES (4, 'd', 4.0), (4, 'd', 4.0)")
    version = log.position("T")[0] + 1

    assert log.record_counted("T", ["ID", "my name", "select"], "COUNTED") == (2, 2)

    assert _logged(log) == Counter({
        (2, "b", None, version, -1): 1, (3, None, 3.0, version, -1): 1, (4, "d", 4.0, version, 1): 2,
    })
    stored = Signature.parse(log.stored_signature("T"))
    assert stored.same_rows(log.signature("T")) and stored.rows == 4
    assert log.position("T")[0] == version


def test_counted_rows_that_cancel_log_nothing(log):
    log.con.execute(f"CREATE TEMP TABLE COUNTED AS SELECT *, 0::BIGINT AS __PIPE_COPIES FROM {TABLE} LIMIT 0")
    before = (log.position("T"), log.stored_signature("T"))
    assert log.record_counted("T", ["ID", "my name", "select"], "COUNTED") == (0, 0)
    assert (log.position("T"), log.stored_signature("T")) == before and not _logged(log)


def test_compaction_deletes_applied_versions_once_and_again_after_a_drop(log):
    con = log.con
    con.execute("CREATE TEMP TABLE ONE AS SELECT 9 AS ID, 'z' AS \"my name\", 9.0 AS \"select\"")
    first = log.record("T", inserted="SELECT * FROM ONE")
    second = log.record("T", inserted="SELECT * FROM ONE")
    log.compact("T", first)
    assert {row[3] for row in _logged(log)} == {second}
    # a row of a version compacted already (as a rolled-back compaction leaves) waits for the next one
    con.execute(f"INSERT INTO {LOG} SELECT *, {first}, 1 FROM ONE")
    log.compact("T", first)
    assert {row[3] for row in _logged(log)} == {first, second}
    log.compact("T", second)
    assert not _logged(log)
    # dropped and made again, the table's versions start over: compaction starts over too
    log.drop("T")
    log.reset("T")
    again = log.record("T", inserted="SELECT * FROM ONE")
    assert again <= first
    log.compact("T", again)
    assert not _logged(log)
