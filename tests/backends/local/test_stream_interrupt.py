"""Ctrl-C stops cleanly: ``pipe stream`` between batches (at once on a second Ctrl-C), a refresh
rolled back and not counted as a failure, one line, the file unlocked."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from engine import interrupts
from engine import project as api

pytestmark = pytest.mark.usefixtures("ctrl_c_raises")  # the tests send this process a real SIGINT

ROOT = Path(__file__).resolve().parents[3]


def _pipe(*args, cwd):
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)


def test_ctrl_c_between_batches_keeps_whole_batches_and_releases_the_database(tmp_path):
    shutil.copytree(ROOT / "pipelines", tmp_path / "pipelines")
    db = tmp_path / "engagement.duckdb"
    assert _pipe("apply", "pipelines/engagement.yaml", "--db", str(db), cwd=tmp_path).returncode == 0
    stream = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "stream", "pipelines/engagement.yaml", "--db", str(db),
         "--batches", "100", "--records", "50", "--delay", "0.5"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        # A shell that starts jobs in the background makes them ignore SIGINT; a user's Ctrl-C
        # reaches a foreground process, so restore the default before Python starts.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    seen = ""
    while "batch 3/100" not in seen and time.monotonic() < deadline:
        seen += stream.stdout.readline()
    stream.send_signal(signal.SIGINT)
    out, err = stream.communicate(timeout=60)
    assert stream.returncode == 130
    assert "Traceback" not in err
    assert "error" not in err  # a clean stop is not a failure
    with duckdb.connect(str(db), read_only=True) as con:  # the lock is released
        rows = con.execute("SELECT count(*) FROM DYNAMIC_TABLES.RAW_INTERACTIONS").fetchall()[0][0]
    assert rows >= 10_150 and (rows - 10_000) % 50 == 0  # at least the 3 batches seen, and whole batches only
    # The last line says what was kept, which is what the table gained.
    kept = rows - 10_000
    assert err.strip().splitlines()[-1] == f"stopped after batch {kept // 50} of 100; {kept:,} rows kept"
    # The next command works, and refreshes incrementally: every inserted batch was logged.
    refresh = _pipe("refresh", "pipelines/engagement.yaml", "--db", str(db), cwd=tmp_path)
    assert refresh.returncode == 0, refresh.stderr
    assert "MEMBER_SESSIONS" in refresh.stdout and "INCREMENTAL" in refresh.stdout


# -- in this process: a real SIGINT, sent to ourselves at a chosen moment -------------------------

FIXTURES = ROOT / "tests" / "fixtures" / "local"


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_a_ctrl_c_while_a_refresh_runs_rolls_it_back_and_is_not_recorded_as_a_failure(tmp_path):
    project = api.validate(FIXTURES / "slow.yaml")
    with project.backend("local", db=tmp_path / "slow.duckdb") as backend:
        api.apply(project, backend)
        backend.query("INSERT INTO NUMBERS SELECT range FROM range(10)")
        api.refresh(project, backend)
        before = backend.query("SELECT * FROM PAIRS").rows
        backend.query("INSERT INTO NUMBERS SELECT range FROM range(10, 5000)")  # minutes of work
        timer = threading.Timer(0.5, _ctrl_c)
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt), interrupts.cancelling(backend.interrupt):
            api.refresh(project, backend)
        timer.join()
        assert time.monotonic() - started < 20  # stopped when asked, not at the end of the query
        assert backend.query("SELECT * FROM PAIRS").rows == before  # rolled back
        assert [r.state for r in api.history(backend)] == ["SUCCEEDED", "SUCCEEDED"]  # apply's, the first refresh's
        assert {s.name: s.state for s in backend.status()}["PAIRS"] == "ACTIVE"
        backend.query("DELETE FROM NUMBERS WHERE n >= 10")
        (record,) = api.refresh(project, backend)  # and the table refreshes as before
        assert record.state == "SUCCEEDED"
        assert backend.query("SELECT * FROM PAIRS").rows == before


def _stream_with_ctrl_c(tmp_path, monkeypatch, presses: int) -> int:
    """Stream 5 batches of 40 rows into engagement.yaml, pressing Ctrl-C ``presses`` times
    while batch 2 is inserted; returns how many rows RAW_INTERACTIONS gained."""
    project = api.validate(ROOT / "pipelines" / "engagement.yaml")
    with project.backend("local", db=tmp_path / "engagement.duckdb") as backend:
        api.apply(project, backend)
        start = backend.row_count("RAW_INTERACTIONS")
        insert = backend.insert_batch
        calls = []

        def insert_and_press(table, generator, args):
            calls.append(table)
            if len(calls) == 2:
                for _ in range(presses):
                    _ctrl_c()
                    time.sleep(0.05)  # let the handler run
            return insert(table, generator, args)

        monkeypatch.setattr(backend, "insert_batch", insert_and_press)
        settings = api.stream_settings(project, batches=5, records=40, delay=0)
        with pytest.raises(KeyboardInterrupt):
            api.stream(project, backend, settings)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is restored
        gained = backend.row_count("RAW_INTERACTIONS") - start
        refreshed = api.refresh(project, backend)  # nothing was lost: every batch in was logged
        assert {r.refresh_action for r in refreshed if r.name == "MEMBER_SESSIONS"} <= {"INCREMENTAL", "NO_DATA"}
        return gained


def test_the_first_ctrl_c_lets_the_batch_in_progress_finish(tmp_path, monkeypatch):
    assert _stream_with_ctrl_c(tmp_path, monkeypatch, presses=1) == 80  # batches 1 and 2, whole


def test_a_second_ctrl_c_stops_at_once(tmp_path, monkeypatch):
    assert _stream_with_ctrl_c(tmp_path, monkeypatch, presses=2) == 40  # batch 2 never went in


def _wait_for_cpu(pid: int, seconds: float, timeout: float = 60) -> None:
    """Wait until process ``pid`` has used ``seconds`` of CPU (past its start-up, on a busy
    machine too); where /proc is missing, wait that long."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        time.sleep(seconds + 1)
        return
    ticks = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        if (int(fields[11]) + int(fields[12])) / ticks >= seconds:  # utime + stime
            return
        time.sleep(0.2)


def test_ctrl_c_during_pipe_refresh_stops_it_at_once_with_one_line(tmp_path):
    shutil.copy(FIXTURES / "slow.yaml", tmp_path / "slow.yaml")
    db = str(tmp_path / "slow.duckdb")
    project = api.validate(tmp_path / "slow.yaml")
    with project.backend("local", db=db) as backend:
        api.apply(project, backend)
        backend.query("INSERT INTO NUMBERS SELECT range FROM range(5000)")  # minutes of work
    refresh = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "refresh", "slow.yaml", "--db", db],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for_cpu(refresh.pid, seconds=3)  # started, and well inside the minutes-long query
    assert refresh.poll() is None
    refresh.send_signal(signal.SIGINT)
    pressed = time.monotonic()
    out, err = refresh.communicate(timeout=120)
    assert time.monotonic() - pressed < 10
    assert refresh.returncode == 130
    assert "Traceback" not in err
    assert "error" not in err  # a clean stop is not a failure
    assert err.strip().splitlines()[-1] == "stopped before any table refreshed; every table keeps its contents"
    history = _pipe("history", "slow.yaml", "--db", db, "--format", "json", cwd=tmp_path)
    assert [r["STATE"] for r in json.loads(history.stdout)] == ["SUCCEEDED"]  # apply's only: no FAILED
