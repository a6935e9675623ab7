"""When the disk holding the spill folder fills, the error says so in one line, names the folder
and says how to fix it; a full disk under the database itself keeps its own message."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from engine.backends.local.errors import file_problem, spill_folder
from engine.backends.local.store import open_store


def _spill_failure(tmp_path) -> duckdb.Error:
    """The error DuckDB raises when it must spill more than its temp folder may hold: here the
    folder is held to 2 MB, as DuckDB holds it by default to the space free on its disk."""
    store = open_store(tmp_path / "p.duckdb", "DB", "SC", memory_limit="30MB")
    try:
        store.con.execute("SET max_temp_directory_size = '2MB'")
        with pytest.raises(duckdb.Error) as caught:
            store.con.execute(
                "CREATE TABLE SORTED AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(3000000) ORDER BY s"
            )
        return caught.value
    finally:
        store.close()


def test_a_full_spill_disk_is_one_line_naming_the_folder_and_the_fix(tmp_path):
    db = tmp_path / "p.duckdb"
    problem = file_problem(_spill_failure(tmp_path), db)
    assert problem is not None
    text = str(problem)
    assert "\n" not in problem.message
    assert f"the disk holding the spill folder {tmp_path / 'p.duckdb.tmp'} is full" in problem.message
    assert problem.location.file == str(db)
    assert "--memory-limit" in problem.hint and "PIPE_MEMORY_LIMIT" in problem.hint
    assert "Traceback" not in text


def test_no_space_left_while_spilling_names_the_spill_folder(tmp_path):
    db = tmp_path / "p.duckdb"
    block = spill_folder(db) / "duckdb_temp_block-4611686018427387905.block"
    failure = duckdb.IOException(f'Could not write file "{block}": No space left on device')
    problem = file_problem(failure, db)
    assert problem is not None and f"spill folder {spill_folder(db)} is full" in problem.message


def test_no_space_left_for_the_database_file_keeps_its_message(tmp_path):
    db = tmp_path / "p.duckdb"
    failure = duckdb.IOException(f'Could not write file "{db}.wal": No space left on device')
    problem = file_problem(failure, db)
    assert problem is not None
    assert problem.message == "cannot write the local database: the disk is full (no space left on device)"


def test_the_local_backend_takes_a_memory_limit(tmp_path, monkeypatch):
    """What ``--memory-limit`` passes: it wins over PIPE_MEMORY_LIMIT, and spills beside the file."""
    from engine import project as api

    monkeypatch.setenv("PIPE_MEMORY_LIMIT", "2GB")
    project = api.validate(Path(__file__).resolve().parents[2] / "fixtures" / "incremental" / "compaction.yaml")
    db = tmp_path / "c.duckdb"
    with project.backend("local", db=db, memory_limit="500MB") as backend:
        setting = lambda name: backend.store.con.execute(f"SELECT current_setting('{name}')").fetchone()[0]  # noqa: E731
        assert setting("memory_limit") == "476.8 MiB"  # 500,000,000 bytes shown in MiB
        assert setting("temp_directory") == str(spill_folder(db))
