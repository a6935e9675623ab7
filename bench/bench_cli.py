"""Wall time of the CLI's fast paths, against a bare interpreter start and ``import sqlglot`` as
baselines measured in the same run.

    python bench/bench_cli.py [--runs 5] [--instructions]

Each command runs ``--runs`` times in a fresh process (after one untimed warm-up run, so the
file system cache, Python's bytecode cache and pipe's cache of compiled queries are warm); the
median is reported with its ratio to ``python -c pass``. ``pipe plan`` reads a --db path that
does not exist, so it plans "create everything" for pipelines/engagement.yaml. ``validate``
also runs with ``PIPE_CACHE_DIR=off``: every query translated for DuckDB again, as on the first
run after a change. Goal: ``pipe validate`` and ``pipe plan`` at most 0.4 s.

``--instructions`` also counts the instructions each command executes, once, under valgrind's
callgrind (if installed): unlike times, the count hardly moves when other work shares the machine,
so two versions can be compared on a busy one.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "pipelines" / "engagement.yaml"
GOAL = 0.4


def pipe_command() -> list[str]:
    """pipe as a module of this checkout (an installed ``pipe`` may be another checkout's)."""
    return [sys.executable, "-m", "engine.cli"]


def timed(command: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of ``runs`` runs of ``command``, after one
    untimed warm-up run. CPU time is what a busy machine distorts least."""
    subprocess.run(command, cwd=ROOT, capture_output=True, check=False, env=env)
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, check=False, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr.decode()}")
    return statistics.median(walls), statistics.median(cpus)


def instructions(command: list[str], env: dict[str, str]) -> int | None:
    """Instructions one run of ``command`` executes (valgrind's callgrind), or None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        cwd=ROOT, capture_output=True, text=True, check=False, env=env,
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    return int(found.group(1)) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (median reported)")
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    args = parser.parse_args()
    runs = args.runs
    pipe = pipe_command()
    # Installed, pipe's modules are compiled to bytecode once; a shell that forbids writing it
    # would time the compiler instead.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        missing_db = str(Path(tmp) / "does-not-exist" / "engagement.duckdb")
        warm = {**env, "PIPE_CACHE_DIR": str(Path(tmp) / "cache")}
        cold = {**env, "PIPE_CACHE_DIR": "off"}
        cases = [
            ("python -c pass (baseline)", [sys.executable, "-c", "pass"], warm),
            ("python -c 'import sqlglot'", [sys.executable, "-c", "import sqlglot"], warm),
            ("pipe --help", [*pipe, "--help"], warm),
            ("pipe validate engagement.yaml", [*pipe, "validate", str(PIPELINE)], warm),
            ("pipe plan engagement.yaml (no db)", [*pipe, "plan", str(PIPELINE), "--db", missing_db], warm),
            ("pipe validate, cache off", [*pipe, "validate", str(PIPELINE)], cold),
        ]
        results = {label: timed(command, runs, case_env) for label, command, case_env in cases}
        counts = {label: instructions(command, case_env) for label, command, case_env in cases} if args.instructions else {}
    baseline, baseline_cpu = results["python -c pass (baseline)"]
    print(f"median of {runs} runs, {sys.executable} ({sys.version.split()[0]}), load {os.getloadavg()[0]:.1f}")
    print(f"{'command':<36} {'wall s':>7} {'x base':>7} {'cpu s':>7} {'x base':>7}")
    for label, (seconds, cpu) in results.items():
        line = f"{label:<36} {seconds:>7.3f} {seconds / baseline:>6.1f}x {cpu:>7.3f} {cpu / baseline_cpu:>6.1f}x"
        if counts.get(label) is not None:
            line += f" {counts[label] / 1e6:>8,.0f}M instructions"
        print(line)
    for label in ("pipe validate engagement.yaml", "pipe plan engagement.yaml (no db)"):
        seconds, cpu = results[label]
        verdict = "met" if seconds <= GOAL else "MISSED"
        print(f"goal: {label} <= {GOAL} s: {verdict} ({seconds:.3f} s wall, {cpu:.3f} s cpu)")

if __name__ == "__main__":
    main()
