"""A refresh's numInsertedRows / numDeletedRows are the multiset difference between the table's
contents before and after, computed here independently from both snapshots."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from engine import project as api
from engine.report import Reporter

from .test_incremental_property import _rows

ROOT = Path(__file__).resolve().parents[3]
DIFFERENCE = ROOT / "tests" / "fixtures" / "incremental" / "difference.yaml"


def _contents(backend, name: str) -> Counter:
    result = backend.query(f"SELECT * FROM {name}")
    return Counter(tuple(repr(v) for v in row) for row in result.rows)


def test_row_counts_are_the_true_difference_with_duplicates_nulls_and_nested_values(tmp_path):
    project = api.validate(DIFFERENCE)
    with project.backend("local", db=tmp_path / "difference.duckdb") as backend:
        api.apply(project, backend)
        backend.query(
            "INSERT INTO ITEMS VALUES (1, 'a', 'x', 1), (2, 'a', 'x', 1), (3, 'a', NULL, NULL), "
            "(4, NULL, 'y', 2), (5, 'b', 'z', 3), (6, 'b', 'z', 3), (7, 'b', 'z', 3)"
        )
        api.refresh(project, backend, reporter=Reporter())
        steps = [
            "DELETE FROM ITEMS WHERE id = 2",  # one of two equal rows goes
            "UPDATE ITEMS SET label = 'w' WHERE id IN (5, 6)",  # two of three equal rows change
            "INSERT INTO ITEMS VALUES (8, 'a', NULL, NULL), (9, NULL, 'y', 2)",  # duplicates of NULL-holding rows
            "UPDATE ITEMS SET range = range WHERE id > 0",  # a write that changes nothing
        ]
        for step in steps:
            before = {name: _contents(backend, name) for name in ("LABELS", "GROUPED")}
            backend.query(step)
            records = {r.name: r for r in api.refresh(project, backend, reporter=Reporter())}
            for name, old in before.items():
                new = _contents(backend, name)
                expected = (sum((new - old).values()), sum((old - new).values()))
                record = records[name]
                assert (record.inserted_rows, record.deleted_rows) == expected, (step, name)
        assert _rows(backend.query("SELECT * FROM LABELS")) == _rows(backend.query("SELECT grp, label, range FROM ITEMS"))


def test_a_recompute_from_an_empty_table_inserts_every_row_and_a_full_refresh_counts_the_difference(tmp_path):
    project = api.validate(DIFFERENCE)
    with project.backend("local", db=tmp_path / "difference.duckdb") as backend:
        api.apply(project, backend)  # ITEMS is empty: so are both tables
        backend.query("INSERT INTO ITEMS VALUES (1, 'a', 'x', 1), (2, 'a', 'x', 1), (3, 'b', NULL, NULL)")
        records = {r.name: r for r in api.refresh(project, backend, reporter=Reporter())}
        for name in ("LABELS", "GROUPED"):
            rows = sum(_contents(backend, name).values())
            assert (records[name].inserted_rows, records[name].deleted_rows) == (rows, 0), name
        assert sum(_contents(backend, "LABELS").values()) == 3  # one row per item
        backend.query("UPDATE ITEMS SET label = 'y' WHERE id = 2")
        before = {name: _contents(backend, name) for name in ("LABELS", "GROUPED")}
        records = {r.name: r for r in api.refresh(project, backend, full=True, reporter=Reporter())}
        for name, old in before.items():
            new = _contents(backend, name)
            assert (records[name].inserted_rows, records[name].deleted_rows) == (
                sum((new - old).values()), sum((old - new).values())
            ), name
        assert (records["LABELS"].inserted_rows, records["LABELS"].deleted_rows) == (1, 1)  # ('a','x',1) -> ('a','y',1)


def test_a_full_refresh_of_many_rows_counts_the_difference_where_several_rows_share_a_bucket(tmp_path):
    """A full refresh compares old and new rows by their hashes summed in 4,096 buckets first: with
    20,000 rows (about five a bucket, duplicates included) the counts of rows inserted and deleted
    are still the multiset difference, and a refresh that changes nothing counts none."""
    project = api.validate(DIFFERENCE)
    with project.backend("local", db=tmp_path / "difference.duckdb") as backend:
        api.apply(project, backend)
        backend.query("INSERT INTO ITEMS SELECT i, 'g' || (i % 7), CASE WHEN i % 11 = 0 THEN NULL ELSE 'l' || (i % 3000) END, "
                      "i % 5 FROM range(20000) AS t(i)")
        api.refresh(project, backend, full=True, reporter=Reporter())
        steps = [
            "UPDATE ITEMS SET label = 'changed' WHERE id % 997 = 0",  # some rows change, some equal copies stay
            "DELETE FROM ITEMS WHERE id % 1999 = 1",
            "INSERT INTO ITEMS SELECT 100000 + i, 'g1', 'l' || i, 1 FROM range(300) AS t(i)",  # duplicates of existing rows
            "UPDATE ITEMS SET range = range WHERE id >= 0",  # nothing changes
            # one row replaced by another of the same bucket: the bucket's count stays, its sums move
            f"UPDATE ITEMS SET label = '{_same_bucket(backend, ('g2', 'l2', 2))}' WHERE id = 2",
        ]
        for step in steps:
            before = _contents(backend, "LABELS")
            backend.query(step)
            records = {r.name: r for r in api.refresh(project, backend, full=True, reporter=Reporter())}
            new = _contents(backend, "LABELS")
            expected = (sum((new - before).values()), sum((before - new).values()))
            assert (records["LABELS"].inserted_rows, records["LABELS"].deleted_rows) == expected, step
            if step.startswith("UPDATE ITEMS SET range"):
                assert expected == (0, 0)
            else:
                assert expected != (0, 0)


def _same_bucket(backend, row: tuple) -> str:
    """A label that, put in place of ``row``'s in LABELS, gives a row whose hash has the same top
    12 bits (the bucket the full refresh's difference sums hashes in) as ``row``'s."""
    con = backend.store.con
    ((typed,),) = con.execute("SELECT typeof(RANGE) FROM LABELS LIMIT 1").fetchall()

    def bucket(label: str) -> str:
        return f"hash(struct_pack(GRP := '{row[0]}', LABEL := {label}, RANGE := CAST({row[2]} AS {typed}))) >> 52"

    ((wanted,),) = con.execute(f"SELECT {bucket('?')}", [row[1]]).fetchall()
    ((found,),) = con.execute("SELECT hash(t) >> 52 FROM LABELS AS t WHERE GRP = ? AND LABEL = ? AND RANGE = ?", list(row)).fetchall()
    assert found == wanted  # the row's hash is that of its values, as the refresh computes it
    ((label,),) = con.execute(f"SELECT L FROM (SELECT 'm' || i AS L FROM range(100000) AS t(i)) WHERE {bucket('L')} = ? "
                              "ORDER BY L LIMIT 1", [wanted]).fetchall()
    return label
