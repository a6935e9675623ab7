"""The benchmarks keep running against the code they measure: each is run once at a tiny size.

Their figures are not checked here (timings belong to the benchmarks, never to tests); only
that they complete and print their report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_graph_runs_at_a_tiny_size(tmp_path):
    done = subprocess.run(
        [sys.executable, "bench/bench_graph.py", "--chain", "5", "--fan", "5", "--nested", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for shape in ("chain of 5", "fan of 5"):
        assert f"{shape}: pipe validate cold" in done.stdout and f"{shape}: pipe validate warm" in done.stdout
    assert "graph algorithms" in done.stdout


def test_bench_compile_runs_at_a_tiny_size():
    done = subprocess.run(
        [sys.executable, "bench/bench_compile.py", "--queries", "5", "--repeat", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "5 queries" in done.stdout
    for stage in ("parse", "bind", "keys", "translate"):
        assert f"{stage}:" in done.stdout
    only = subprocess.run([sys.executable, "bench/bench_compile.py", "--only", "3"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)  # what --instructions counts
    assert only.returncode == 0 and only.stdout == "", only.stderr[-2000:]
