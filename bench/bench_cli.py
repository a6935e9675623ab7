"""Wall time of the CLI's fast paths, against a bare interpreter start as the baseline.

    python bench/bench_cli.py [--runs 5]

Each command runs ``--runs`` times in a fresh process (after one untimed warm-up run, so the
file system cache is warm); the median is reported with its ratio to ``python -c pass``
measured in the same run. ``pipe plan`` reads a --db path that does not exist, so it plans
"create everything" for pipelines/engagement.yaml. Goal: ``pipe plan`` under 0.3 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "pipelines" / "engagement.yaml"
PLAN_GOAL = 0.3


def pipe_command() -> list[str]:
    """The ``pipe`` entry point as installed, else the module."""
    found = shutil.which("pipe")
    return [found] if found else [sys.executable, "-m", "engine.cli"]


def wall_time(command: list[str], runs: int) -> float:
    """Median seconds of ``runs`` runs of ``command`` (one warm-up run first)."""
    subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr.decode()}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (median reported)")
    runs = parser.parse_args().runs
    pipe = pipe_command()
    with tempfile.TemporaryDirectory() as tmp:
        missing_db = str(Path(tmp) / "does-not-exist" / "engagement.duckdb")
        cases = [
            ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
            ("pipe --help", [*pipe, "--help"]),
            ("pipe validate engagement.yaml", [*pipe, "validate", str(PIPELINE)]),
            ("pipe plan engagement.yaml (no db)", [*pipe, "plan", str(PIPELINE), "--db", missing_db]),
        ]
        results = [(label, wall_time(command, runs)) for label, command in cases]
    baseline = results[0][1]
    print(f"median of {runs} runs, {sys.executable} ({sys.version.split()[0]})")
    print(f"{'command':<36} {'seconds':>8} {'x baseline':>11}")
    for label, seconds in results:
        print(f"{label:<36} {seconds:>8.3f} {seconds / baseline:>10.1f}x")
    plan = results[-1][1]
    verdict = "met" if plan < PLAN_GOAL else "MISSED"
    print(f"goal: pipe plan < {PLAN_GOAL} s: {verdict} ({plan:.3f} s)")


if __name__ == "__main__":
    main()
