"""Wall time and peak memory of ``pipe apply`` of engagement.yaml on the local target.

    python bench/bench_apply.py [--large 1000000] [--runs 1]

Each case runs ``pipe`` as a subprocess on a fresh database in a temporary folder, and reads
that child's own peak resident set size from ``os.wait4``. The cases:

* ``pipe validate`` — the baseline, measured in the same run: interpreter start-up, imports,
  loading and checking the file, with no database;
* ``pipe apply`` at 10,000 interactions (engagement.yaml as it is), then a second apply (no
  changes);
* ``pipe apply`` at ``--large`` interactions (a copy of the pipeline folder with the
  RAW_INTERACTIONS args changed to ``[LARGE, 30]``);
* plain DuckDB doing the same work at each size, the baseline of apply (``bench/baseline.py``
  in a process of its own: the same generators fill the base tables, then ``CREATE TABLE AS`` of
  each dynamic table's translated query in dependency order, under pipe's memory limit).

Each figure is the median of ``--runs`` runs; CPU time is the child's, user and system, all
threads (steadier than wall time on a machine other work shares). Printed figures, not a timed
test.
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
    """One subprocess: wall seconds, CPU seconds and peak RSS in MB."""

    seconds: float
    peak_mb: float
    cpu: float = 0.0


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
    return Measure(seconds, peak, usage.ru_utime + usage.ru_stime)


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


def baseline(pipeline: Path, db: Path) -> list[str]:
    """The argv of plain DuckDB doing apply's work (see bench/baseline.py)."""
    return [sys.executable, str(ROOT / "bench" / "baseline.py"), str(pipeline), str(db)]


def median(measures: list[Measure]) -> Measure:
    return Measure(*(statistics.median(getattr(m, f) for m in measures) for f in ("seconds", "peak_mb", "cpu")))


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

        validate, apply_small, again_small, apply_large, plain_small, plain_large = [], [], [], [], [], []
        sizes = {}
        for i in range(options.runs):
            validate.append(run(pipe("validate", small), tmp))
            db = tmp / f"small-{i}.duckdb"
            apply_small.append(run(pipe("apply", small, "--yes", "--db", db), tmp))
            again_small.append(run(pipe("apply", small, "--yes", "--db", db), tmp))
            sizes["small"] = db.stat().st_size / 2**20
            plain_small.append(run(baseline(small, tmp / f"plain-small-{i}.duckdb"), tmp))
            db = tmp / f"large-{i}.duckdb"
            apply_large.append(run(pipe("apply", large, "--yes", "--db", db), tmp))
            sizes["large"] = db.stat().st_size / 2**20
            plain_large.append(run(baseline(large, tmp / f"plain-large-{i}.duckdb"), tmp))
            sizes["plain large"] = (tmp / f"plain-large-{i}.duckdb").stat().st_size / 2**20

        base = median(validate)
        for label, interactions, measures, size in (
            ("pipe validate (start-up)", 10_000, validate, None),
            ("pipe apply, fresh", 10_000, apply_small, sizes["small"]),
            ("pipe apply, again (no changes)", 10_000, again_small, None),
            ("plain DuckDB (apply baseline)", 10_000, plain_small, None),
            ("pipe apply, fresh", options.large, apply_large, sizes["large"]),
            ("plain DuckDB (apply baseline)", options.large, plain_large, sizes["plain large"]),
        ):
            m = median(measures)
            rows.append((label, interactions, m.seconds, m.seconds / base.seconds, m.peak_mb, size, m.cpu))
        ratios = [
            (interactions, median(pipe_runs), median(plain_runs))
            for interactions, pipe_runs, plain_runs in ((10_000, apply_small, plain_small),
                                                        (options.large, apply_large, plain_large))
        ]

    print(f"pipe apply of engagement.yaml (local DuckDB target), median of {options.runs} run(s)")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    print()
    header = (f"{'case':<32} {'interactions':>12} {'wall s':>8} {'cpu s':>8} {'x validate':>10} {'peak MB':>8}"
              f" {'db MB':>7}")
    print(header)
    print("-" * len(header))
    for label, interactions, seconds, ratio, peak, size, cpu in rows:
        db = f"{size:7.1f}" if size is not None else f"{'':>7}"
        print(f"{label:<32} {interactions:>12,} {seconds:>8.2f} {cpu:>8.2f} {ratio:>10.1f} {peak:>8.0f} {db}")
    print()
    for interactions, applied, plain in ratios:
        print(f"pipe apply / plain DuckDB at {interactions:,} interactions: {applied.seconds / plain.seconds:.2f}x wall,"
              f" {applied.cpu / plain.cpu:.2f}x CPU, {applied.peak_mb / plain.peak_mb:.2f}x peak RSS")


if __name__ == "__main__":
    main()
