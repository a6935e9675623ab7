"""Wall time and peak memory of ``pipe apply`` of engagement.yaml on the local target.

    python bench/bench_apply.py [--large 1000000] [--runs 1]

Each case runs ``pipe`` as a subprocess on a fresh database in a temporary folder, and reads
that child's own peak resident set size from ``os.wait4``. The cases:

* ``pipe validate`` — the baseline, measured in the same run: interpreter start-up, imports,
  loading and checking the file, with no database;
* ``pipe apply`` at 10,000 interactions (engagement.yaml as it is), then a second apply (no
  changes);
* ``pipe apply`` at ``--large`` interactions (a copy of the pipeline folder with the
  RAW_INTERACTIONS args changed to ``[LARGE, 30]``).

Each figure is the median of ``--runs`` runs. Printed figures, not a timed test.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"
ARGS_10K = "    args: [10000, 30]"  # RAW_INTERACTIONS's generator arguments


@dataclass
class Measure:
    """One subprocess: wall seconds and peak RSS in MB."""

    seconds: float
    peak_mb: float


def run(argv: list[str], cwd: Path) -> Measure:
    """Run ``argv`` to completion; its wall time and its own peak RSS (not the parent's)."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({process.returncode}):\n{stderr.decode()}")
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS
    peak = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return Measure(seconds, peak)


def pipe(*args) -> list[str]:
    return [sys.executable, "-m", "engine.cli", *map(str, args)]


def pipeline_copy(folder: Path, interactions: int) -> Path:
    """engagement.yaml and its generators in ``folder``, with ``interactions`` raw interactions."""
    shutil.copytree(PIPELINES, folder)
    path = folder / "engagement.yaml"
    text = path.read_text()
    if ARGS_10K not in text:
        sys.exit(f"engagement.yaml no longer declares {ARGS_10K!r}: update the benchmark")
    path.write_text(text.replace(ARGS_10K, ARGS_10K.replace("10000", str(interactions))))
    return path


def median(measures: list[Measure]) -> Measure:
    return Measure(statistics.median(m.seconds for m in measures), statistics.median(m.peak_mb for m in measures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=1_000_000, help="interactions of the large case")
    parser.add_argument("--runs", type=int, default=1, help="runs per case; the median is reported")
    options = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="pipe-bench-") as tmp:
        tmp = Path(tmp)
        small = pipeline_copy(tmp / "small", 10_000)
        large = pipeline_copy(tmp / "large", options.large)
        run(pipe("validate", small), tmp)  # warm-up: byte-compile, page cache

        validate, apply_small, again_small, apply_large = [], [], [], []
        sizes = {}
        for i in range(options.runs):
            validate.append(run(pipe("validate", small), tmp))
            db = tmp / f"small-{i}.duckdb"
            apply_small.append(run(pipe("apply", small, "--yes", "--db", db), tmp))
            again_small.append(run(pipe("apply", small, "--yes", "--db", db), tmp))
            sizes["small"] = db.stat().st_size / 2**20
            db = tmp / f"large-{i}.duckdb"
            apply_large.append(run(pipe("apply", large, "--yes", "--db", db), tmp))
            sizes["large"] = db.stat().st_size / 2**20

        base = median(validate)
        for label, interactions, measures, size in (
            ("pipe validate (baseline)", 10_000, validate, None),
            ("pipe apply, fresh", 10_000, apply_small, sizes["small"]),
            ("pipe apply, again (no changes)", 10_000, again_small, None),
            ("pipe apply, fresh", options.large, apply_large, sizes["large"]),
        ):
            m = median(measures)
            rows.append((label, interactions, m.seconds, m.seconds / base.seconds, m.peak_mb, size))

    print(f"pipe apply of engagement.yaml (local DuckDB target), median of {options.runs} run(s)")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    print()
    header = f"{'case':<32} {'interactions':>12} {'wall s':>8} {'x validate':>10} {'peak MB':>8} {'db MB':>7}"
    print(header)
    print("-" * len(header))
    for label, interactions, seconds, ratio, peak, size in rows:
        db = f"{size:7.1f}" if size is not None else f"{'':>7}"
        print(f"{label:<32} {interactions:>12,} {seconds:>8.2f} {ratio:>10.1f} {peak:>8.0f} {db}")


if __name__ == "__main__":
    main()
