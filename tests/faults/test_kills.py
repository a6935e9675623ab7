"""SIGKILL at random points of stream, refresh and apply (widening the apply test of
tests/backends/local/test_robustness.py): the next command converges, nothing committed is
lost, nothing half-written is kept, and every dynamic table equals its oracle.

Each kill point is one test case (seeded), so ``pytest -q`` reports kills survived / tries; a
command that finished before its kill is reported as skipped, not as a survived kill.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time

import pytest

from backends.local.conftest import ROOT, pipe_command, pipe_env

from .conftest import check_oracles, row_counts, scalar

TRIES = 4
BATCH = 3000


def _kill_after(args, seconds: float) -> int:
    """Run ``pipe ARGS``, SIGKILL it after ``seconds``; returns its exit code."""
    process = subprocess.Popen(
        pipe_command(*args), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, env=pipe_env(),
    )
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert b"Traceback" not in stderr
    if process.returncode != -signal.SIGKILL:  # an honest count of kills survived / tries
        pytest.skip(f"pipe {args[0]} finished before the kill at {seconds:.1f} s")
    return process.returncode


@pytest.mark.parametrize("seed", range(TRIES))
def test_stream_killed_at_a_random_point_keeps_whole_batches(fresh, seed):
    delay = random.Random(seed).uniform(1.5, 7.0)
    _kill_after(["stream", fresh.yaml, "--db", fresh.db, "--batches", "8", "--records", BATCH, "--delay", "0"], delay)
    inserted = row_counts(fresh.db)["RAW_INTERACTIONS"] - 10_000
    assert inserted % BATCH == 0, f"a batch was half kept: {inserted} rows"
    fresh.pipe("refresh", ok=True)
    check_oracles(fresh.db)
    assert "no changes" in fresh.pipe("apply", ok=True).stdout


@pytest.mark.parametrize("seed", range(TRIES))
def test_refresh_killed_at_a_random_point_converges(fresh, seed):
    # a change worth refreshing, written through pipe (logged)
    fresh.pipe("query", "INSERT INTO RAW_INTERACTIONS SELECT r.* FROM RAW_INTERACTIONS AS r, RESOURCES AS x "
               "WHERE x.RESOURCE_ID < 103", ok=True)
    delay = random.Random(100 + seed).uniform(1.5, 5.0)
    _kill_after(["refresh", fresh.yaml, "--db", fresh.db, "--full" if seed % 2 else "--debug"], delay)
    fresh.pipe("refresh", ok=True)
    check_oracles(fresh.db)
    assert scalar(fresh.db, "SELECT sum(EVENT_COUNT) FROM MEMBER_SESSIONS") == 40_000


@pytest.mark.parametrize("seed", range(TRIES))
def test_replacing_apply_killed_at_a_random_point_converges(fresh, seed):
    changed = fresh.folder / "engagement_args_changed.yaml"  # RAW_INTERACTIONS regenerated, 5,000 rows
    delay = random.Random(200 + seed).uniform(1.5, 6.0)
    _kill_after(["apply", changed, "--db", fresh.db, "--yes"], delay)
    fresh.pipe("apply", "--yes", file=changed.name, ok=True)
    assert row_counts(fresh.db)["RAW_INTERACTIONS"] == 5000
    check_oracles(fresh.db)
    assert "no changes" in fresh.pipe("apply", file=changed.name, ok=True).stdout
