"""The change log keeps what a lagging reader still needs, and is compacted once every reader has
refreshed past it; a full refresh writes the row difference to the log only when a reader will
apply it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from engine import project as api
from engine.report import Reporter

ROOT = Path(__file__).resolve().parents[3]
COMPACTION = ROOT / "tests" / "fixtures" / "incremental" / "compaction.yaml"

# (id, kind, amount), inserted one statement each: three writes, three versions of EVENTS
EVENTS = [(1, "a", 5), (2, "a", 20), (3, "b", 30)]


def _log_rows(backend, table: str) -> int:
    return backend.store.con.execute(f'SELECT count(*) FROM _PIPE."LOG_{table}"').fetchone()[0]


def _refresh(project, backend, *names: str, full: bool = False) -> dict[str, str]:
    records = api.refresh(project, backend, list(names), full=full, reporter=Reporter())
    return {r.name: r.refresh_action for r in records}


def _rows(backend, sql: str) -> Counter:
    return Counter(tuple(row) for row in backend.query(sql).rows)


def _insert(backend, rows) -> None:
    for row in rows:
        backend.query(f"INSERT INTO EVENTS VALUES ({row[0]}, '{row[1]}', {row[2]})")


def test_the_log_is_kept_while_a_reader_lags_and_compacted_once_all_have_read_it(tmp_path):
    project = api.validate(COMPACTION)
    with project.backend("local", db=tmp_path / "compaction.duckdb") as backend:
        api.apply(project, backend)
        _insert(backend, EVENTS)
        assert _log_rows(backend, "EVENTS") == len(EVENTS)

        # BY_KIND has applied the changes; LARGE has not: every logged row stays.
        assert _refresh(project, backend, "BY_KIND") == {"BY_KIND": "INCREMENTAL"}
        assert _log_rows(backend, "EVENTS") == len(EVENTS)

        # LARGE catches up incrementally from the rows kept, and then nobody needs them.
        assert _refresh(project, backend, "LARGE") == {"LARGE": "INCREMENTAL"}
        assert _rows(backend, "SELECT * FROM LARGE") == Counter(r for r in EVENTS if r[2] >= 10)
        assert _log_rows(backend, "EVENTS") == 0

        # A table nobody reads keeps only its latest write, which its checks read.
        assert _refresh(project, backend)["BUSY_KINDS"] == "INCREMENTAL"  # writes ('a', 2)
        _insert(backend, [(4, "b", 1), (5, "c", 2)])
        _refresh(project, backend)
        assert _log_rows(backend, "LARGE") == 2  # its catch-up above: rows 2 and 3 (none since)
        assert _log_rows(backend, "BUSY_KINDS") == 1  # ('b', 2) in; the earlier ('a', 2) compacted
        assert _log_rows(backend, "EVENTS") == 0
        assert _rows(backend, "SELECT * FROM BUSY_KINDS") == Counter([("a", 2), ("b", 2)])


def test_a_full_refresh_logs_the_difference_only_for_a_reader_that_applies_it(tmp_path):
    project = api.validate(COMPACTION)
    with project.backend("local", db=tmp_path / "compaction.duckdb") as backend:
        api.apply(project, backend)
        _insert(backend, EVENTS)
        _refresh(project, backend)

        # BY_KIND alone recomputed: BUSY_KINDS reads it incrementally later, so the rows
        # that changed are logged and BUSY_KINDS stays incremental.
        _insert(backend, [(6, "b", 7)])
        assert _refresh(project, backend, "BY_KIND", full=True) == {"BY_KIND": "FULL"}
        history = backend.history(names=["BY_KIND"], limit=1)[0]
        assert (history.inserted_rows, history.deleted_rows) == (1, 1)  # ('b', 1, 30) -> ('b', 2, 37)
        assert _refresh(project, backend, "BUSY_KINDS") == {"BY_KIND": "NO_DATA", "BUSY_KINDS": "INCREMENTAL"}
        assert _rows(backend, "SELECT * FROM BUSY_KINDS") == Counter([("a", 2), ("b", 2)])

        # Everything recomputed: no difference is logged, as every reader recomputes too; the
        # counts are still the true difference, and the next change is incremental again.
        backend.query("DELETE FROM EVENTS WHERE id = 1")
        actions = _refresh(project, backend, full=True)
        assert set(actions.values()) == {"FULL"}
        assert _log_rows(backend, "BY_KIND") == 0
        history = backend.history(names=["BY_KIND"], limit=1)[0]
        assert (history.inserted_rows, history.deleted_rows) == (1, 1)  # ('a', 2, 25) -> ('a', 1, 20)
        _insert(backend, [(7, "c", 40), (8, "c", 50)])
        actions = _refresh(project, backend)
        assert actions["BY_KIND"] == actions["BUSY_KINDS"] == "INCREMENTAL"
        assert _rows(backend, "SELECT * FROM BY_KIND") == Counter([("a", 1, 20), ("b", 2, 37), ("c", 2, 90)])
        assert _rows(backend, "SELECT * FROM BUSY_KINDS") == Counter([("b", 2), ("c", 2)])
