"""A full disk, a read-only file system and failing cleanups: one error line naming the file and
the cause (never ``internal error:`` nor the failed ROLLBACK's own message), and the database as
it was before the failed command.

The full and read-only disks are real where the test can mount a size-limited tmpfs (as root);
elsewhere those tests are skipped and the simulated failure below still runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import duckdb
import pytest

from backends.local.conftest import Applied

from .conftest import check_oracles, row_counts


@pytest.fixture
def mount(tmp_path):
    """``mount(megabytes)`` -> a folder on a fresh tmpfs of that size, unmounted afterwards."""
    mounted = []

    def make(megabytes: int) -> Path:
        where = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small file system here ({done.stderr.strip() or 'not root'})")
        mounted.append(where)
        return where

    yield make
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _one_clear_line(run, *words):
    assert len(run.errors) == 1, str(run)
    error = run.errors[0]
    assert "internal error" not in error and "rollback" not in error.lower(), error
    for word in words:
        assert word in error, error
    return error


def _on_small_disk(clean: Applied, mount, slack_mb: int = 1) -> Applied:
    size = clean.db.stat().st_size
    disk = mount(size // 2**20 + slack_mb + 1)
    shutil.copy(clean.db, disk / "engagement.duckdb")
    return Applied(clean.folder, disk / "engagement.duckdb")


@pytest.mark.parametrize("command", [
    ("stream", "--batches", "1", "--records", "60000", "--delay", "0"),
    ("query", "INSERT INTO RAW_INTERACTIONS SELECT r.* FROM RAW_INTERACTIONS AS r, MEMBERS AS m WHERE m.MEMBER_ID < 10050"),
])
def test_a_full_disk_is_one_line_naming_the_file_and_nothing_half_written(clean, mount, tmp_path, command):
    small = _on_small_disk(clean, mount)
    run = small.pipe(*command)
    assert run.returncode != 0, str(run)
    _one_clear_line(run, str(small.db), "disk is full")
    # the database, moved to a disk with room, is as before the failed command and works
    roomy = Applied(clean.folder, tmp_path / "after.duckdb")
    shutil.copy(small.db, roomy.db)
    if Path(str(small.db) + ".wal").exists():
        shutil.copy(str(small.db) + ".wal", str(roomy.db) + ".wal")
    assert row_counts(roomy.db)["RAW_INTERACTIONS"] == 10_000
    roomy.pipe("refresh", ok=True)
    check_oracles(roomy.db)


def test_apply_on_a_full_disk_is_one_line_and_the_next_apply_with_room_converges(clean, mount, tmp_path):
    disk = mount(2)
    small = Applied(clean.folder, disk / "engagement.duckdb")
    run = small.pipe("apply", "--yes")
    _one_clear_line(run, str(small.db), "disk is full")
    roomy = Applied(clean.folder, tmp_path / "after.duckdb")
    for suffix in ("", ".wal"):
        if Path(str(small.db) + suffix).exists():
            shutil.copy(str(small.db) + suffix, str(roomy.db) + suffix)
    roomy.pipe("apply", "--yes", ok=True)
    check_oracles(roomy.db)


def test_a_read_only_file_system_is_one_line_and_reading_still_works(clean, mount):
    small = _on_small_disk(clean, mount, slack_mb=4)
    subprocess.run(["mount", "-o", "remount,ro", str(small.db.parent)], check=True)
    for command in (["refresh"], ["apply", "--yes"], ["stream", "--batches", "1", "--records", "5", "--delay", "0"]):
        _one_clear_line(small.pipe(*command), str(small.db), "read-only")
    rows = {s["name"]: s["rows"] for s in json.loads(small.pipe("status", "--format", "json", ok=True).stdout)}
    assert rows["RAW_INTERACTIONS"] == 10_000  # read-only commands still work


# -- simulated: the failure of the write, then of the ROLLBACK -------------------------------------


class _FailingConnection:
    """A DuckDB connection whose COMMIT fails as on a full disk, and whose ROLLBACK then fails
    as DuckDB's does after a failed WAL write."""

    def __init__(self, con):
        self._con = con

    def execute(self, sql, *args):
        if sql.strip().upper() == "COMMIT":
            raise duckdb.IOException('Could not write file "x.duckdb.wal": No space left on device')
        if sql.strip().upper() == "ROLLBACK":
            raise duckdb.TransactionException("cannot rollback - no transaction is active")
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_the_first_error_wins_over_a_failing_rollback(fresh, caplog):
    import logging

    import engine
    from engine.errors import BackendError

    project = engine.validate(fresh.yaml)
    backend = project.backend("local", db=fresh.db)
    try:
        backend.store.con = _FailingConnection(backend.store.con)
        with caplog.at_level(logging.DEBUG, logger="pipe"), pytest.raises(BackendError) as caught:
            backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [10, 1])
        message = str(caught.value)
        assert str(fresh.db) in message and "disk is full" in message, message
        assert "rollback" not in message.lower()
        assert any("ROLLBACK" in r.getMessage() and "no transaction" in r.getMessage() for r in caplog.records)
    finally:
        backend.store.con = backend.store.con._con
        backend.close()
