"""Ctrl-C during ``pipe stream`` stops cleanly: whole batches only, one line, the file unlocked."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

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
    assert [line for line in err.splitlines() if line.startswith("error:")] == ["error: interrupted"]
    with duckdb.connect(str(db), read_only=True) as con:  # the lock is released
        rows = con.execute("SELECT count(*) FROM DYNAMIC_TABLES.RAW_INTERACTIONS").fetchall()[0][0]
    assert rows >= 10_150 and (rows - 10_000) % 50 == 0  # at least the 3 batches seen, and whole batches only
    # The next command works, and refreshes incrementally: every inserted batch was logged.
    refresh = _pipe("refresh", "pipelines/engagement.yaml", "--db", str(db), cwd=tmp_path)
    assert refresh.returncode == 0, refresh.stderr
    assert "MEMBER_SESSIONS" in refresh.stdout and "INCREMENTAL" in refresh.stdout
