"""Apply, incremental and full refresh of the engagement DAG, against plain DuckDB, same run.

For each size (default 1M and 10M interactions) this applies the pipeline into a fresh
database, inserts one batch of 1,000 events and refreshes the whole DAG incrementally (the
first such refresh also compiles the incremental plans, so it is shown apart), then times
``--repeat`` more batch-and-incremental-refresh rounds (their median is the incremental
time), then inserts another batch and refreshes it fully; all in the same run.

The baseline (see ``bench/baseline.py``) is plain DuckDB doing the same work in a file of its
own under the same memory limit: for apply, generating the base tables with the same generators
then ``CREATE TABLE AS`` of each dynamic table's translated query in dependency order; for a
full refresh, those ``CREATE TABLE AS`` alone on a copy of the same base tables (taken after
the last batch). It prints each phase's time, pipe over the baseline, peak RSS per phase, and
the sizes of what the database holds (file, change logs, state tables).

    python bench/bench_refresh.py                 # 1M and 10M
    python bench/bench_refresh.py --sizes 100000  # quicker
    python bench/bench_refresh.py --sizes 1000000 --profile   # + time per statement shape
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.baseline import METHOD, Plain, copy_base_tables, memory_limit, phase  # noqa: E402
from engine import project as engine  # noqa: E402
from engine.backends.local.store import META  # noqa: E402
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


def show(label: str, measured) -> None:
    print(f"  {label:<40} {measured.seconds:8.3f} s  cpu {measured.cpu:8.3f} s  peak {measured.peak_mb:7,.0f} MB",
          flush=True)


class Profile:
    """Stands in for the store's DuckDB connection and adds up the time of each statement shape
    (its first words, names and numbers kept), to see where a phase spends its time."""

    def __init__(self, con):
        self._con = con
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def __getattr__(self, name):
        return getattr(self._con, name)

    def execute(self, sql, *args):
        start = time.perf_counter()
        try:
            return self._con.execute(sql, *args)
        finally:
            shape = re.sub(r"\s+", " ", sql.strip())[:110]
            self.seconds[shape] += time.perf_counter() - start
            self.calls[shape] += 1

    def report(self, label: str, top: int = 15) -> None:
        total = sum(self.seconds.values())
        print(f"    statements of {label}: {sum(self.calls.values())} taking {total:.2f} s; the slowest shapes:")
        for shape, seconds in sorted(self.seconds.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {seconds:8.3f} s {self.calls[shape]:5d}x  {shape}")
        self.seconds.clear()
        self.calls.clear()


def sizes(store, path: Path) -> dict[str, float]:
    """The database file (MB), the rows of every change log, of every state table (aggregate
    state and pre-aggregation rows) and of the pipeline's own tables."""
    con = store.con
    con.execute("CHECKPOINT")
    rows = dict(con.execute(
        "SELECT schema_name || '.' || table_name, estimated_size FROM duckdb_tables() WHERE database_name = ?",
        [store.database],
    ).fetchall())
    logs = sum(n for t, n in rows.items() if t.startswith(f"{META}.LOG_"))
    state = sum(n for t, n in rows.items() if t.startswith((f"{META}.AGG_", f"{META}.PRE_")))
    tables = sum(n for t, n in rows.items() if t.startswith(store.schema + "."))
    return {"file_mb": path.stat().st_size / 2**20, "log_rows": logs, "state_rows": state, "table_rows": tables}


def run(size: int, batch: int, repeat: int, profile: bool, baseline: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = pipeline_copy(folder, size)
        project = engine.validate(path)
        print(f"{size:,} interactions (memory limit {memory_limit()})", flush=True)
        with phase() as baseline_apply:
            if baseline:
                plain = Plain(project, folder / "baseline-apply.duckdb")
                plain.generate()
                plain.create_dynamic_tables()
                plain.close()
        show("baseline: generate + create tables", baseline_apply)
        with project.backend("local", db=folder / "bench.duckdb") as backend:
            store = backend.store
            recorder = Profile(store.con) if profile else None
            if recorder:
                store.con = recorder
            with phase() as applied:
                engine.apply(project, backend)
            show("apply (generate + create)", applied)
            if recorder:
                recorder.report("apply")
            quiet = Reporter()
            # The first refresh after opening also compiles each table's incremental plan.
            backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [batch, 1])
            with phase() as first:
                engine.refresh(project, backend, reporter=quiet)
            show("refresh, incremental (first, compiles)", first)
            rounds = []
            for i in range(repeat):
                backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [batch, 1])
                with phase() as measured:
                    engine.refresh(project, backend, reporter=quiet)
                show(f"refresh, incremental ({i + 1}/{repeat})", measured)
                rounds.append(measured)
            if recorder:
                recorder.report(f"{repeat} incremental refreshes")
            records = list(reversed(backend.history(limit=5)))
            actions = {r.name: r.refresh_action for r in records}
            for r in records:
                print(f"    {r.name:<28} {r.refresh_action:<11} {r.milliseconds:8.0f} ms  +{r.inserted_rows}/-{r.deleted_rows}")
            backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [batch, 1])
            with phase() as full:
                engine.refresh(project, backend, full=True, reporter=quiet)
            show("refresh, full", full)
            if recorder:
                recorder.report("the full refresh")
            held = sizes(store, backend.path)
            if baseline:
                copy_base_tables(project, store, folder / "baseline-refresh.duckdb")
        plain = Plain(project, folder / "baseline-refresh.duckdb")
        with phase() as baseline_full:
            if baseline:
                plain.create_dynamic_tables()
        plain.close()
        show("baseline: create tables (same base rows)", baseline_full)
        print(f"  database {held['file_mb']:,.0f} MB; rows: tables {held['table_rows']:,}, change logs "
              f"{held['log_rows']:,}, state {held['state_rows']:,}")
    assert actions["MEMBER_SESSIONS"] == "INCREMENTAL", actions
    assert actions["MEMBER_ENGAGEMENT_SUMMARY"] == "INCREMENTAL", actions
    incremental = statistics.median(m.seconds for m in rounds)
    return {
        "size": size, "apply": applied, "baseline_apply": baseline_apply, "full": full,
        "baseline_full": baseline_full, "incremental": incremental,
        "incremental_peak": max(m.peak_mb for m in rounds), **held,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="incremental refreshes timed (their median is used)")
    parser.add_argument("--profile", action="store_true", help="print the slowest statement shapes of each phase")
    parser.add_argument("--no-baseline", action="store_true",
                        help="pipe alone (for sizes where plain DuckDB's run would double a long wait); no ratios")
    args = parser.parse_args()
    results = [run(size, args.batch, args.repeat, args.profile, not args.no_baseline) for size in args.sizes]
    if args.no_baseline:
        for r in results:
            print(f"{r['size']:,}: apply {r['apply'].seconds:.1f} s, incremental {r['incremental']:.3f} s, full "
                  f"{r['full'].seconds:.1f} s; peak MB apply/incr/full {r['apply'].peak_mb:,.0f}/"
                  f"{r['incremental_peak']:,.0f}/{r['full'].peak_mb:,.0f}")
        return
    base = results[0]
    print()
    print(f"peak RSS per phase: {METHOD}; baseline = plain DuckDB, same memory limit ({memory_limit()})")
    print("x base: pipe over the baseline, by wall time and (cpu) by CPU time of all threads")
    print(f"{'interactions':>12} {'apply s':>8} {'x base':>7} {'(cpu)':>6} {'full s':>8} {'x base':>7} {'(cpu)':>6}"
          f" {'incr s':>7} {'x full base':>11} {'incr vs first':>13} {'peak MB apply/incr/full':>24}")
    for r in results:
        peaks = f"{r['apply'].peak_mb:,.0f}/{r['incremental_peak']:,.0f}/{r['full'].peak_mb:,.0f}"
        apply, full, apply_base, full_base = r["apply"], r["full"], r["baseline_apply"], r["baseline_full"]
        print(
            f"{r['size']:>12,} {apply.seconds:>8.2f} {apply.seconds / apply_base.seconds:>6.2f}x"
            f" {apply.cpu / apply_base.cpu:>5.2f}x {full.seconds:>8.2f} {full.seconds / full_base.seconds:>6.2f}x"
            f" {full.cpu / full_base.cpu:>5.2f}x {r['incremental']:>7.3f} {r['incremental'] / full_base.seconds:>10.3f}x"
            f" {r['incremental'] / base['incremental']:>12.2f}x {peaks:>24}"
        )
    apply_base = ", ".join(f"{r['baseline_apply'].seconds:.2f} s (cpu {r['baseline_apply'].cpu:.2f})" for r in results)
    full_base = ", ".join(f"{r['baseline_full'].seconds:.2f} s (cpu {r['baseline_full'].cpu:.2f})" for r in results)
    peaks = ", ".join(f"{r['baseline_apply'].peak_mb:,.0f}/{r['baseline_full'].peak_mb:,.0f}" for r in results)
    print(f"baseline: apply {apply_base}; full {full_base}; peak MB apply/full {peaks}")


if __name__ == "__main__":
    main()
