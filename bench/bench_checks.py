"""Overhead of the declared checks on one incremental refresh of the engagement DAG.

For each size (default 1M interactions) this applies engagement.yaml (with its checks) into a
fresh database, then alternates rounds of "insert one 1,000-event batch, refresh the DAG
incrementally" with the checks switched off and on, in the same run and database. It prints
the median refresh time of each, the overhead of the checks as a share of the refresh without
them (the target is under 20%), the time spent inside the checks' hook (a direct measure, less at
the mercy of other load on the machine), and where the checks looked (the change or the table).

    python bench/bench_checks.py                  # 1M
    python bench/bench_checks.py --sizes 100000   # quicker
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_refresh import pipeline_copy  # noqa: E402

from engine import project as engine  # noqa: E402
from engine.report import Reporter  # noqa: E402


def run(size: int, batch: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        project = engine.validate(pipeline_copy(folder, size))
        with project.backend("local", db=folder / "bench.duckdb") as backend:
            print(f"{size:,} interactions", flush=True)
            start = time.perf_counter()
            engine.apply(project, backend)
            print(f"  apply (generate + create)            {time.perf_counter() - start:8.3f} s", flush=True)
            quiet = Reporter()
            checks = backend.refresher.checks
            assert checks is not None, "engagement.yaml declares checks"
            # Time each check evaluation too: a direct measure, less at the mercy of other load.
            spent: dict[str, list[float]] = {}
            evaluate = checks.checks.run

            def timed_run(item, inserted=None, **kwargs):
                start = time.perf_counter()
                result = evaluate(item, inserted, **kwargs)
                seconds = time.perf_counter() - start
                if inserting:  # the batch's own checks run with its insert, not with the refresh
                    batch_checks[-1] += seconds
                else:
                    spent.setdefault(f"{item.table}.{item.name} ({result.scope})", []).append(seconds)
                return result

            inserting: list[bool] = []
            batch_checks: list[float] = []

            checks.checks.run = timed_run
            # And the whole hook: staging the change, every check, writing the results.
            hooked: list[float] = []
            within = checks.within

            def timed_within(record):
                start = time.perf_counter()
                try:
                    return within(record)
                finally:
                    hooked.append(time.perf_counter() - start)

            checks.within = timed_within

            def round_(enabled: bool) -> float:
                backend.refresher.checks = checks if enabled else None
                inserting.append(True)
                batch_checks.append(0.0)
                backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [batch, 1])
                inserting.clear()
                start = time.perf_counter()
                records = engine.refresh(project, backend, reporter=quiet)
                seconds = time.perf_counter() - start
                actions = {r.name: r.refresh_action for r in records}
                assert actions["MEMBER_SESSIONS"] == "INCREMENTAL", actions
                return seconds

            round_(False)  # the first refresh after opening compiles the incremental plans
            round_(True)
            spent.clear()
            hooked.clear()
            batch_checks.clear()
            off, on = [], []
            for i in range(repeat):
                off.append(round_(False))
                on.append(round_(True))
                print(f"  round {i + 1}/{repeat}: without checks {off[-1]:7.3f} s, with checks {on[-1]:7.3f} s", flush=True)
            scopes = backend.store.con.execute(
                "SELECT SCOPE, count(*) FROM _PIPE.CHECK_RESULTS WHERE TRIGGER = 'REFRESH' GROUP BY ALL ORDER BY 1"
            ).fetchall()
    without, with_ = statistics.median(off), statistics.median(on)
    per_round = sum(sum(times) for times in spent.values()) / repeat
    hook = sum(hooked) / repeat
    on_insert = sum(batch_checks) / repeat  # every round inserts a batch; those with checks check it
    slowest = sorted(((sum(t) / len(t), name) for name, t in spent.items()), reverse=True)[:5]
    return {
        "size": size, "without": without, "with": with_, "overhead": (with_ - without) / without,
        "scopes": scopes, "checks": per_round, "hook": hook, "insert": on_insert, "slowest": slowest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="rounds of each kind (their medians are compared)")
    args = parser.parse_args()
    results = [run(size, args.batch, args.repeat) for size in args.sizes]
    print()
    print(f"{'interactions':>14} {'without checks':>15} {'with checks':>12} {'overhead':>9}")
    for r in results:
        print(f"{r['size']:>14,} {r['without']:>13.3f} s {r['with']:>10.3f} s {r['overhead']:>8.1%}")
        print(f"{'':>14} check evaluations by scope: {', '.join(f'{s} {n}' for s, n in r['scopes'])}")
        print(f"{'':>14} time inside the checks per refresh: {r['checks']:.3f} s "
              f"({r['checks'] / r['without']:.1%} of the refresh without checks)")
        print(f"{'':>14} with staging the change and writing the results: {r['hook']:.3f} s "
              f"({r['hook'] / r['without']:.1%})")
        print(f"{'':>14} the batch's own checks, run with its insert: {r['insert']:.3f} s")
        for seconds, name in r["slowest"]:
            print(f"{'':>16}{seconds * 1000:8.1f} ms  {name}")


if __name__ == "__main__":
    main()
