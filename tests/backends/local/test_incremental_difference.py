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
