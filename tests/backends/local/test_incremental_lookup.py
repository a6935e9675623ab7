"""Incremental refresh finds a dynamic table's rows of the affected keys, and an upstream dynamic
table's rows it reads, through an index on the key column when the keys are few text or integer
values (quotes, backslashes and non-ASCII text included), and by a scan of the column otherwise:
either way the tables equal their queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import project as api
from engine.backends.local.incremental import keys
from engine.errors import BackendError
from engine.report import Reporter

from .test_incremental_property import assert_tables_equal_queries

PIPELINE = Path(__file__).resolve().parents[2] / "fixtures" / "incremental" / "lookup.yaml"

FIRST = "(1, 'it''s', 1, 5), (2, 'say \"hi\"', -9007199254740993, 7), (3, 'ünï\\cödé', 42, 11), (4, NULL, NULL, 13)"
WRITES = [
    ["INSERT INTO EVENTS VALUES (5, 'it''s', 1, 17), (6, 'new', 7, 19)"],
    ["UPDATE EVENTS SET amount = amount + 1 WHERE id IN (1, 3)", "DELETE FROM EVENTS WHERE id = 2"],
    ["DELETE FROM EVENTS WHERE k_text = 'it''s'"],
    ["INSERT INTO EVENTS VALUES (7, NULL, NULL, 1)", "UPDATE EVENTS SET k_text = 'moved', k_int = 8 WHERE id = 6"],
]
# The tables kept up by looking rows up: the detail tables by their own rows and their input's.
LOOKED_UP = {"BY_TEXT": "K_TEXT", "BY_INT": "K_INT", "TEXT_DETAIL": "K_TEXT", "INT_DETAIL": "K_INT"}


def _indexes(backend) -> set[str]:
    return {name for (name,) in backend.store.con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}


@pytest.fixture(params=[keys.MAX_LITERAL_KEYS, 0], ids=["by-index", "by-scan"])
def literal_keys(request, monkeypatch):
    """How many keys may be looked up as a literal list (0: none, every lookup scans)."""
    monkeypatch.setattr(keys, "MAX_LITERAL_KEYS", request.param)
    return request.param


@pytest.fixture
def applied(tmp_path, literal_keys):
    """The pipeline applied, its first rows written and refreshed: (project, backend)."""
    project = api.validate(PIPELINE)
    with project.backend("local", db=tmp_path / "lookup.duckdb") as backend:
        api.apply(project, backend)
        backend.query(f"INSERT INTO EVENTS VALUES {FIRST}")
        backend.query("INSERT INTO LABELS VALUES (1, 'one'), (42, 'answer')")
        api.refresh(project, backend, reporter=Reporter())
        yield project, backend


def test_looked_up_rows_match_the_queries(applied, literal_keys):
    project, backend = applied
    for writes in WRITES:
        for statement in writes:
            backend.query(statement)
        records = {r.name: r for r in api.refresh(project, backend, reporter=Reporter())}
        for name in LOOKED_UP:
            assert records[name].refresh_action == "INCREMENTAL", (name, records[name].state_message)
        assert_tables_equal_queries(project, backend)
    wanted = {f"__PIPE_KEY_{table}_{column}" for table, column in LOOKED_UP.items()}
    if literal_keys:
        assert wanted <= _indexes(backend)
    else:  # never a literal list: no index is built
        assert not wanted & _indexes(backend)


@pytest.mark.parametrize("literal_keys", [keys.MAX_LITERAL_KEYS], ids=["by-index"], indirect=True)
def test_a_recomputed_table_is_indexed_again(applied):
    project, backend = applied
    backend.query("INSERT INTO EVENTS VALUES (5, 'it''s', 1, 17)")
    api.refresh(project, backend, reporter=Reporter())
    assert "__PIPE_KEY_TEXT_DETAIL_K_TEXT" in _indexes(backend)
    api.refresh(project, backend, full=True, reporter=Reporter())  # new tables, without the index
    assert "__PIPE_KEY_TEXT_DETAIL_K_TEXT" not in _indexes(backend)
    backend.query("UPDATE EVENTS SET amount = 0 WHERE id = 5")
    records = {r.name: r for r in api.refresh(project, backend, reporter=Reporter())}
    assert records["TEXT_DETAIL"].refresh_action == "INCREMENTAL"
    assert "__PIPE_KEY_TEXT_DETAIL_K_TEXT" in _indexes(backend)
    assert_tables_equal_queries(project, backend)


@pytest.mark.parametrize("literal_keys", [keys.MAX_LITERAL_KEYS], ids=["by-index"], indirect=True)
def test_a_full_refresh_that_fails_keeps_the_rows_and_the_next_lookups_index_them_again(applied, monkeypatch):
    project, backend = applied
    backend.query("INSERT INTO EVENTS VALUES (5, 'it''s', 1, 17)")
    api.refresh(project, backend, reporter=Reporter())
    index = "__PIPE_KEY_TEXT_DETAIL_K_TEXT"
    assert index in _indexes(backend)
    before = sorted(backend.query("SELECT * FROM TEXT_DETAIL").rows, key=repr)
    refresher = backend.refresher
    recompute = refresher._recompute

    def failing(name, action, message=None):
        if name == "TEXT_DETAIL":
            raise RuntimeError("Conversion Error: a value out of range")
        return recompute(name, action, message)

    monkeypatch.setattr(refresher, "_recompute", failing)
    backend.query("INSERT INTO EVENTS VALUES (6, 'it''s', 2, 3)")
    with pytest.raises(BackendError, match="TEXT_DETAIL: Conversion Error"):
        api.refresh(project, backend, full=True, reporter=Reporter())
    assert sorted(backend.query("SELECT * FROM TEXT_DETAIL").rows, key=repr) == before  # the rows it had
    assert index not in _indexes(backend)  # dropped as the full refresh began
    monkeypatch.undo()
    api.refresh(project, backend, reporter=Reporter())  # its input was recomputed: so is it
    backend.query("UPDATE EVENTS SET amount = 0 WHERE id = 5")
    records = {r.name: r for r in api.refresh(project, backend, reporter=Reporter())}
    assert records["TEXT_DETAIL"].refresh_action == "INCREMENTAL"
    assert index in _indexes(backend)
    assert_tables_equal_queries(project, backend)
