"""The signature of a table cannot cancel: any change to the multiset of its rows or to its
columns moves it, where the former XOR of row hashes missed changes to duplicated rows."""

from __future__ import annotations

import pytest

from engine.backends.local.changes import ChangeLog, Signature
from engine.backends.local.store import open_store


@pytest.fixture
def log(tmp_path):
    store = open_store(tmp_path / "s.duckdb", "DB", "S")
    store.con.execute('CREATE TABLE "DB"."S"."T" (ID BIGINT, NAME VARCHAR)')
    # every row twice: the XOR of the row hashes is 0 whatever the rows are
    store.con.execute('INSERT INTO "DB"."S"."T" SELECT i, \'n\' || i FROM range(50) r(i), range(2)')
    yield ChangeLog(store)
    store.close()


def _xor(log) -> int:
    return log.con.execute('SELECT bit_xor(hash(t)) FROM "DB"."S"."T" AS t').fetchone()[0]


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE \"DB\".\"S\".\"T\" SET NAME = 'changed' WHERE ID = 7",  # both copies alike
        "UPDATE \"DB\".\"S\".\"T\" SET ID = ID + 100",  # every row, both copies
        "DELETE FROM \"DB\".\"S\".\"T\" WHERE ID < 10",  # whole pairs removed
        "INSERT INTO \"DB\".\"S\".\"T\" VALUES (1000, 'x'), (1000, 'x')",  # a new pair
    ],
)
def test_changes_to_duplicated_rows_move_the_signature_but_not_an_xor(log, change):
    before_xor, before = _xor(log), log.signature("T")
    log.con.execute(change)
    after = log.signature("T")
    assert not before.same_rows(after)
    if "INSERT" not in change and "DELETE" not in change:
        assert after.rows == before.rows  # the count alone cannot see it either
    assert _xor(log) == before_xor == 0


def test_the_signature_is_order_free_and_exact(log):
    before = log.signature("T")
    log.con.execute('CREATE TABLE "DB"."S"."U" AS SELECT * FROM "DB"."S"."T" ORDER BY random()')
    log.con.execute('DROP TABLE "DB"."S"."T"')
    log.con.execute('ALTER TABLE "DB"."S"."U" RENAME TO "T"')
    assert log.signature("T").same_rows(before)


def test_a_logged_write_moves_the_stored_signature_to_the_table_s_new_one(log):
    log.reset("T")
    log.con.execute("CREATE TEMP TABLE NEW_ROWS AS SELECT 500 AS ID, 'five hundred' AS NAME")
    log.con.execute('INSERT INTO "DB"."S"."T" SELECT * FROM NEW_ROWS')
    log.record("T", inserted="SELECT * FROM NEW_ROWS", deleted=None)
    stored = Signature.parse(log.stored_signature("T"))
    assert stored.same_rows(log.signature("T")) and stored.rows == 101


@pytest.mark.parametrize(
    "ddl, words",
    [
        ('ALTER TABLE "DB"."S"."T" RENAME COLUMN NAME TO LABEL', ["NAME removed or renamed", "LABEL added"]),
        ('ALTER TABLE "DB"."S"."T" ADD COLUMN EXTRA INTEGER', ["EXTRA added"]),
        ('ALTER TABLE "DB"."S"."T" ALTER ID TYPE VARCHAR', ["ID BIGINT → VARCHAR"]),
    ],
)
def test_column_changes_are_described(log, ddl, words):
    before = log.signature("T")
    log.con.execute(ddl)
    change = before.column_change(log.signature("T"))
    assert change is not None and all(w in change for w in words), change


def test_a_signature_of_the_older_layout_is_not_trusted():
    assert Signature.parse("100:12345") is None and Signature.parse(None) is None
