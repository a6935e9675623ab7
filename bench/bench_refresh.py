"""Incremental vs full refresh of the engagement DAG after one 1,000-event batch.

For each size (default 1M and 10M interactions) this applies the pipeline into a fresh
database, inserts one batch of 1,000 events and refreshes the whole DAG incrementally (the
first such refresh also compiles the incremental plans, so it is shown apart), then times
``--repeat`` more batch-and-incremental-refresh rounds (their median is the incremental
time), then inserts another batch and refreshes it fully; all in the same run. It prints the
times, their ratio, the incremental time at each size against the smallest, and peak memory.

    python bench/bench_refresh.py                 # 1M and 10M
    python bench/bench_refresh.py --sizes 100000  # quicker
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import project as engine  # noqa: E402
from engine.report import Reporter  # noqa: E402


def pipeline_copy(folder: Path, interactions: int) -> Path:
    """engagement.yaml with RAW_INTERACTIONS sized to ``interactions``."""
    shutil.copytree(ROOT / "pipelines", folder / "pipelines")
    path = folder / "pipelines" / "engagement.yaml"
    text = path.read_text()
    text = text.replace("args: [10000, 30]", f"args: [{interactions}, 30]")
    assert f"[{interactions}, 30]" in text
    path.write_text(text)
    yaml.safe_load(text)
    return path


def timed(label: str, work) -> float:
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    print(f"  {label:<36} {seconds:8.3f} s", flush=True)
    return seconds


def run(size: int, batch: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = pipeline_copy(folder, size)
        project = engine.validate(path)
        with project.backend("local", db=folder / "bench.duckdb") as backend:
            print(f"{size:,} interactions", flush=True)
            timed("apply (generate + create)", lambda: engine.apply(project, backend))
            quiet = Reporter()
            # The first refresh after opening also compiles each table's incremental plan.
            backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [batch, 1])
            timed("refresh, incremental (first, compiles)", lambda: engine.refresh(project, backend, reporter=quiet))
            times = []
            for i in range(repeat):
                backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [batch, 1])
                times.append(timed(f"refresh, incremental ({i + 1}/{repeat})", lambda: engine.refresh(project, backend, reporter=quiet)))
            incremental = statistics.median(times)
            records = list(reversed(backend.history(limit=5)))
            actions = {r.name: r.refresh_action for r in records}
            for r in records:
                print(f"    {r.name:<28} {r.refresh_action:<11} {r.milliseconds:8.0f} ms  +{r.inserted_rows}/-{r.deleted_rows}")
            backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [batch, 1])
            full = timed("refresh, full", lambda: engine.refresh(project, backend, full=True, reporter=quiet))
    assert actions["MEMBER_SESSIONS"] == "INCREMENTAL", actions
    assert actions["MEMBER_ENGAGEMENT_SUMMARY"] == "INCREMENTAL", actions
    return {"size": size, "incremental": incremental, "full": full}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="incremental refreshes timed (their median is used)")
    args = parser.parse_args()
    results = [run(size, args.batch, args.repeat) for size in args.sizes]
    base = results[0]
    print()
    print(f"{'interactions':>14} {'incremental s':>14} {'full s':>10} {'full/incr':>10} {'incr vs first':>14}")
    for r in results:
        print(
            f"{r['size']:>14,} {r['incremental']:>14.3f} {r['full']:>10.3f} {r['full'] / r['incremental']:>10.1f}x"
            f" {r['incremental'] / base['incremental']:>13.2f}x"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS): {peak:,.0f} MB")


if __name__ == "__main__":
    main()
