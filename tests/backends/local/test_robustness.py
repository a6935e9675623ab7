"""Robustness of the local target: apply killed with SIGKILL converges on the next apply, a
second process gets a clear "in use" error, and a failing refresh keeps the previous contents
and says which table failed and why.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from .conftest import (
    BASE_TABLES,
    DYNAMIC_TABLES,
    ROOT,
    Applied,
    check_oracles,
    pipe_command,
    pipe_env,
    pipeline_dir,
    row_counts,
    status,
    table_names,
)

# -- SIGKILL during apply ------------------------------------------------------------------------

KILL_POINTS = 5
BIG = "engagement_200k.yaml"  # engagement.yaml with 200,000 interactions: a few seconds of apply


def _status_shape(applied: Applied, file: str) -> list[tuple]:
    rows = json.loads(applied.pipe("status", "--format", "json", file=file, ok=True).stdout)
    return [(s["name"], s["kind"], s["rows"], s["target_lag"], s["refresh_mode"], s["state"]) for s in rows]


def _assert_converged(applied: Applied, clean: list[tuple]) -> None:
    """The database equals a clean apply's: same objects and row counts, every dynamic table
    equal to its oracle, and a further apply has nothing to do."""
    assert table_names(applied.db) == set(BASE_TABLES) | set(DYNAMIC_TABLES)
    counts = row_counts(applied.db)
    assert {t: counts[t] for t in BASE_TABLES} == {"MEMBERS": 1000, "RESOURCES": 100, "RAW_INTERACTIONS": 200_000}
    assert _status_shape(applied, BIG) == clean  # row counts of the seeded data, modes, states
    check_oracles(applied.db)  # every column exactly, ROUND(AVG(...), 1) at x.x5 included
    assert "no changes" in applied.pipe("apply", file=BIG, ok=True).stdout


@pytest.mark.slow
def test_apply_killed_at_random_points_converges_on_the_next_apply(tmp_path):
    folder = pipeline_dir(tmp_path / "pipeline")
    clean = Applied(folder, tmp_path / "clean.duckdb")
    start = time.monotonic()
    clean.pipe("apply", "--yes", file=BIG, ok=True)
    duration = time.monotonic() - start
    clean_shape = _status_shape(clean, BIG)
    assert all(state == "ACTIVE" for *_, state in clean_shape)

    rng = random.Random(20240611)
    killed, created = [], []
    for point in range(KILL_POINTS):
        # one kill point in each fifth of the part of a clean apply that writes (the first
        # quarter of its run time is interpreter start-up and imports)
        delay = duration * (0.25 + 0.7 * rng.uniform(point / KILL_POINTS, (point + 1) / KILL_POINTS))
        run = Applied(folder, tmp_path / f"killed_{point}.duckdb")
        process = subprocess.Popen(
            pipe_command("apply", folder / BIG, "--db", run.db, "--yes"),
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=pipe_env(),
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
        assert "Traceback" not in stderr.decode()
        killed.append(process.returncode == -signal.SIGKILL)
        created.append(_created(run))  # what a user sees after the crash, before resuming

        resumed = run.pipe("apply", "--yes", file=BIG, ok=True)
        assert "error" not in resumed.stderr.lower(), resumed
        _assert_converged(run, clean_shape)
    assert sum(killed) >= KILL_POINTS - 2, f"most runs must be killed, not finish first: {killed}"
    everything = len(BASE_TABLES) + len(DYNAMIC_TABLES)
    # An apply is one transaction: a kill leaves all of it or none of it.
    assert all(n in (0, everything) for n in created), f"a kill left part of an apply: {created}"


def _created(run: Applied) -> int:
    """How many of the pipeline's tables ``pipe status`` shows as created (0 without a database)."""
    if not run.db.exists():
        return 0
    status_run = run.pipe("status", "--format", "json", file=BIG)
    if status_run.returncode != 0:
        assert "does not exist" in status_run.errors[0], str(status_run)
        return 0
    return sum(s["state"] != "NOT CREATED" for s in json.loads(status_run.stdout))


_KILL_AT_FIRST_CREATION_REFRESH = """
import os, signal, sys
from engine.backends.local import refresh

original = refresh.Refresher.refresh_one

def refresh_one(self, name, *, trigger, **kwargs):
    if trigger == "CREATION":  # the first reader of the replaced table is about to reinitialise
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, name, trigger=trigger, **kwargs)

refresh.Refresher.refresh_one = refresh_one
from engine.cli import main
sys.argv = ["pipe", *sys.argv[1:]]
main()
"""


def test_apply_killed_before_consumers_reinitialise_converges(applied, tmp_path):
    """RAW_INTERACTIONS is replaced (its generator args changed); its readers reinitialise after
    it, each in its own transaction. Kill the apply (SIGKILL, from inside, so that the point is
    exact) as the first of them starts: the next apply must still bring every reader up to
    date with the new table."""
    killer = tmp_path / "kill_at_refresh.py"
    killer.write_text(_KILL_AT_FIRST_CREATION_REFRESH)
    done = subprocess.run(
        [sys.executable, str(killer), "apply", applied.folder / "engagement_args_changed.yaml", "--db", applied.db, "--yes"],
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=pipe_env(), timeout=300,
    )
    if done.returncode != -signal.SIGKILL:
        pytest.fail(f"the apply was not killed at a reinitialising refresh (exit {done.returncode}): {done.stderr}")
    if row_counts(applied.db)["RAW_INTERACTIONS"] != 5000:
        pytest.fail("RAW_INTERACTIONS was not replaced before the kill: the test did not reach its point")

    applied.pipe("apply", "--yes", file="engagement_args_changed.yaml", ok=True)
    check_oracles(applied.db)


# -- a second process ----------------------------------------------------------------------------


def _hold(command: list, ready: str) -> subprocess.Popen:
    """Start ``command`` and wait until it prints a line containing ``ready``."""
    process = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env=pipe_env(),
    )
    watchdog = threading.Timer(60, process.kill)  # never block on a holder that prints nothing
    watchdog.start()
    try:
        for line in process.stdout:
            if ready in line:
                return process
    finally:
        watchdog.cancel()
    process.kill()
    raise AssertionError(f"{command} never printed {ready!r}")


def _release(process: subprocess.Popen) -> None:
    process.kill()
    process.wait(timeout=30)


def _assert_in_use(run) -> None:
    assert run.returncode != 0
    assert len(run.errors) == 1, str(run)
    assert "in use" in run.errors[0], str(run)


def test_a_second_process_gets_an_in_use_error(engagement_db, tmp_path):
    holder = _hold(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(engagement_db.db)!r}); "
         "print('ready', flush=True); time.sleep(120)"],
        "ready",
    )
    try:
        _assert_in_use(engagement_db.pipe("status"))
        _assert_in_use(engagement_db.pipe("apply", "--yes"))
        _assert_in_use(engagement_db.pipe("query", "SELECT count(*) FROM MEMBERS"))
        _assert_in_use(engagement_db.pipe("history"))
    finally:
        _release(holder)
    engagement_db.pipe("status", ok=True)  # usable again once the other process is gone


@pytest.mark.slow
def test_during_a_pipe_stream_reads_are_answered_and_writers_are_told_to_wait(applied):
    stream = _hold(
        pipe_command("stream", applied.yaml, "--db", applied.db, "--batches", "2", "--records", "10", "--delay", "60"),
        "batch 1/2",
    )
    try:
        read = applied.pipe("status", "--format", "json")
        assert read.returncode == 0, str(read)
        rows = {s["name"]: s["rows"] for s in json.loads(read.stdout)}
        assert rows["RAW_INTERACTIONS"] == 10_010  # read through the stream: its first batch
        for writer in (applied.pipe("refresh"), applied.pipe("apply", "--yes")):
            assert writer.returncode != 0
            assert len(writer.errors) == 1, str(writer)
            assert "held by pipe stream" in writer.errors[0], str(writer)
    finally:
        _release(stream)
    assert status(applied)["RAW_INTERACTIONS"]["rows"] == 10_010  # the first batch was committed


# -- a refresh that fails ----------------------------------------------------------------------


@pytest.fixture
def readings(tmp_path) -> Applied:
    """tests/fixtures/local/readings.yaml applied, with two valid readings refreshed in."""
    folder = pipeline_dir(tmp_path / "pipeline")
    applied = Applied(folder, tmp_path / "readings.duckdb")
    applied.pipe("apply", "--yes", file="readings.yaml", ok=True)
    applied.pipe("query", "INSERT INTO READINGS VALUES (1, '10'), (2, '20.4')", file="readings.yaml", ok=True)
    applied.pipe("refresh", file="readings.yaml", ok=True)
    return applied


def _rows(applied: Applied, sql: str) -> list[dict]:
    return json.loads(applied.pipe("query", sql, "--format", "json", file="readings.yaml", ok=True).stdout)


GOOD = [{"ID": 1, "AMOUNT": 10}, {"ID": 2, "AMOUNT": 20}]  # ::NUMBER is NUMBER(38,0): 20.4 rounds to 20


def test_readings_fixture_refreshes(readings):
    assert _rows(readings, "SELECT * FROM READING_AMOUNTS ORDER BY id") == GOOD
    assert _rows(readings, "SELECT * FROM READING_TOTAL") == [{"READINGS": 2, "TOTAL": 30}]


def _failing(readings: Applied):
    readings.pipe("query", "INSERT INTO READINGS VALUES (3, 'abc')", file="readings.yaml", ok=True)
    return readings.pipe("refresh", "READING_AMOUNTS", file="readings.yaml", ok=False)


def test_a_failing_refresh_names_the_table_and_the_sql_problem(readings):
    run = _failing(readings)
    error = run.errors[0]
    assert "READING_AMOUNTS" in error
    assert "abc" in error and ("convert" in error.lower() or "numeric" in error.lower()), error


def test_a_failing_refresh_keeps_the_previous_contents(readings):
    _failing(readings)
    assert _rows(readings, "SELECT * FROM READING_AMOUNTS ORDER BY id") == GOOD
    assert _rows(readings, "SELECT * FROM READING_TOTAL") == [{"READINGS": 2, "TOTAL": 30}]


def test_a_failing_refresh_is_in_history_and_status(readings):
    _failing(readings)
    records = json.loads(readings.pipe("history", "--format", "json", file="readings.yaml", ok=True).stdout)
    latest = records[0]
    assert (latest["NAME"], latest["STATE"], latest["REFRESH_TRIGGER"]) == ("READING_AMOUNTS", "FAILED", "MANUAL")
    assert "abc" in latest["STATE_MESSAGE"] and "READING_AMOUNTS" in latest["STATE_MESSAGE"]
    states = {s["name"]: s for s in json.loads(readings.pipe("status", "--format", "json", file="readings.yaml").stdout)}
    assert states["READING_AMOUNTS"]["state"] == "FAILED"
    assert states["READING_AMOUNTS"]["rows"] == 2


def test_refreshing_downstream_of_a_failure_reports_upstream_failed(readings):
    readings.pipe("query", "INSERT INTO READINGS VALUES (3, 'abc')", file="readings.yaml", ok=True)
    readings.pipe("refresh", "READING_TOTAL", file="readings.yaml", ok=False)
    records = json.loads(readings.pipe("history", "--format", "json", file="readings.yaml", ok=True).stdout)
    latest = {r["NAME"]: r for r in reversed(records)}
    assert latest["READING_AMOUNTS"]["STATE"] == "FAILED"
    assert latest["READING_TOTAL"]["STATE"] == "UPSTREAM_FAILED"
    assert _rows(readings, "SELECT * FROM READING_TOTAL") == [{"READINGS": 2, "TOTAL": 30}]


def test_refreshing_downstream_of_a_failure_says_what_failed(readings):
    readings.pipe("query", "INSERT INTO READINGS VALUES (3, 'abc')", file="readings.yaml", ok=True)
    run = readings.pipe("refresh", "READING_TOTAL", file="readings.yaml", ok=False)
    assert "READING_AMOUNTS" in run.errors[0] and "abc" in run.errors[0], run.errors[0]


def test_refreshing_everything_exits_non_zero_when_a_refresh_fails(readings):
    readings.pipe("query", "INSERT INTO READINGS VALUES (3, 'abc')", file="readings.yaml", ok=True)
    run = readings.pipe("refresh", file="readings.yaml")
    assert run.returncode != 0, str(run)
    assert "READING_AMOUNTS" in run.stderr and "abc" in run.stderr


@pytest.mark.slow
def test_fixing_the_data_makes_the_refresh_succeed_again(readings):
    _failing(readings)
    readings.pipe("query", "DELETE FROM READINGS WHERE id = 3", file="readings.yaml", ok=True)
    readings.pipe("query", "INSERT INTO READINGS VALUES (3, '5')", file="readings.yaml", ok=True)
    readings.pipe("refresh", file="readings.yaml", ok=True)
    assert _rows(readings, "SELECT * FROM READING_AMOUNTS ORDER BY id") == [*GOOD, {"ID": 3, "AMOUNT": 5}]
    assert _rows(readings, "SELECT * FROM READING_TOTAL") == [{"READINGS": 3, "TOTAL": 35}]
    states = {s["name"]: s["state"] for s in json.loads(readings.pipe("status", "--format", "json", file="readings.yaml").stdout)}
    assert states["READING_AMOUNTS"] == states["READING_TOTAL"] == "ACTIVE"
