"""Overhead of the declared checks on one incremental refresh of the engagement DAG.

For each size (default 1M interactions) this applies engagement.yaml (with its checks) into a
fresh database, then alternates rounds of "insert one 1,000-event batch, refresh the DAG
incrementally" with the checks switched off and on, in the same run and database. It prints
the median refresh time of each, the overhead of the checks as a share of the refresh without
them (the target is under 20%), the time spent inside the checks' hook (a direct measure, less at
the mercy of other load on the machine), and where the checks looked (the change or the table).
CPU time (every thread of the process) is shown beside wall time: on a shared machine it moves
less with the other load. Then it refreshes the whole DAG fully, without and with the checks
(``--full`` times each), since checks on a recomputed table read all of it.

    python bench/bench_checks.py                             # 1M
    python bench/bench_checks.py --sizes 100000              # quicker
    python bench/bench_checks.py --sizes 1000000 3000000     # the overhead as the tables grow
    python bench/bench_checks.py --sizes 10000000 --full 0   # 10M, without the two full refreshes
    python bench/bench_checks.py --profile                   # + the slowest statements inside the checks
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_refresh import Profile, pipeline_copy  # noqa: E402

from engine import project as engine  # noqa: E402
from engine.report import Reporter  # noqa: E402


class CpuProfile(Profile):
    """:class:`Profile` by CPU time (every thread of the process): on a shared machine a
    statement's wall time is mostly waiting for a core."""

    def execute(self, sql, *args):
        start = time.process_time()
        try:
            return self._con.execute(sql, *args)
        finally:
            shape = re.sub(r"\s+", " ", sql.strip())[:110]
            self.seconds[shape] += time.process_time() - start
            self.calls[shape] += 1


def run(size: int, batch: int, repeat: int, full_rounds: int = 1, profile: bool = False) -> dict:
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
            store = backend.store
            recorder = CpuProfile(store.con) if profile else None

            hooked_cpu: list[float] = []

            def timed_within(record):
                start, started = time.perf_counter(), time.process_time()
                if recorder is not None:  # the statements of the checks alone
                    store.con = recorder
                try:
                    return within(record)
                finally:
                    if recorder is not None:
                        store.con = recorder._con
                    hooked.append(time.perf_counter() - start)
                    hooked_cpu.append(time.process_time() - started)

            checks.within = timed_within

            cpu: dict[bool, list[float]] = {False: [], True: []}

            declared = checks.by_table

            def round_(enabled: bool, full: bool = False) -> float:
                # Without checks, none is declared; the hook stays, so that the change log keeps
                # the rows the key counts have yet to follow (as when every write is checked).
                checks.by_table = declared if enabled else {}
                inserting.append(True)
                batch_checks.append(0.0)
                backend.insert_batch("RAW_INTERACTIONS", "gen_interactions", [batch, 1])
                inserting.clear()
                start, started = time.perf_counter(), time.process_time()
                records = engine.refresh(project, backend, full=full, reporter=quiet)
                seconds = time.perf_counter() - start
                if not full:
                    cpu[enabled].append(time.process_time() - started)
                actions = {r.name: r.refresh_action for r in records}
                assert actions["MEMBER_SESSIONS"] == ("FULL" if full else "INCREMENTAL"), actions
                return seconds

            round_(False)  # the first refresh after opening compiles the incremental plans
            round_(True)
            spent.clear()
            hooked.clear()
            hooked_cpu.clear()
            batch_checks.clear()
            if recorder is not None:  # the measured rounds' statements alone
                recorder.seconds.clear()
                recorder.calls.clear()
            off, on = [], []
            for i in range(repeat):
                off.append(round_(False))
                on.append(round_(True))
                print(f"  round {i + 1}/{repeat}: without checks {off[-1]:7.3f} s (cpu {cpu[False][-1]:6.3f}), "
                      f"with checks {on[-1]:7.3f} s (cpu {cpu[True][-1]:6.3f})", flush=True)
            if recorder is not None:
                recorder.report(f"the checks of {repeat} incremental refreshes")
            scopes = backend.store.con.execute(
                "SELECT SCOPE, count(*) FROM _PIPE.CHECK_RESULTS WHERE TRIGGER = 'REFRESH' GROUP BY ALL ORDER BY 1"
            ).fetchall()
            # the incremental rounds' figures, before the full refreshes add theirs
            spent_incremental = {name: list(times) for name, times in spent.items()}
            hooked_incremental, batch_incremental = list(hooked), list(batch_checks)
            hook_cpu = sum(hooked_cpu) / repeat
            full_off, full_on = [], []
            for i in range(full_rounds):
                full_off.append(round_(False, full=True))
                full_on.append(round_(True, full=True))
                print(f"  full refresh {i + 1}/{full_rounds}: without checks {full_off[-1]:7.3f} s, "
                      f"with checks {full_on[-1]:7.3f} s", flush=True)
            if recorder is not None and full_rounds:
                recorder.report(f"the checks of {full_rounds} full refresh(es)")
            full_hook_cpu = sum(hooked_cpu[len(hooked_incremental):]) / max(full_rounds, 1)
    without, with_ = statistics.median(off), statistics.median(on)
    per_round = sum(sum(times) for times in spent_incremental.values()) / repeat
    hook = sum(hooked_incremental) / repeat
    on_insert = sum(batch_incremental) / repeat  # every round inserts a batch; those with checks check it
    slowest = sorted(((sum(t) / len(t), name) for name, t in spent_incremental.items()), reverse=True)[:5]
    return {
        "size": size, "without": without, "with": with_, "overhead": (with_ - without) / without,
        "scopes": scopes, "checks": per_round, "hook": hook, "insert": on_insert, "slowest": slowest,
        "hook_cpu": hook_cpu, "cpu_without": statistics.median(cpu[False]), "cpu_with": statistics.median(cpu[True]),
        "full_without": statistics.median(full_off) if full_off else None,
        "full_with": statistics.median(full_on) if full_on else None, "full_hook_cpu": full_hook_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="rounds of each kind (their medians are compared)")
    parser.add_argument("--full", type=int, default=1, help="full refreshes of each kind timed after them (0: none)")
    parser.add_argument("--profile", action="store_true",
                        help="print the statements inside the checks taking the most CPU time")
    args = parser.parse_args()
    results = [run(size, args.batch, args.repeat, args.full, args.profile) for size in args.sizes]
    print()
    print(f"{'interactions':>14} {'without checks':>15} {'with checks':>12} {'overhead':>9}")
    for r in results:
        print(f"{r['size']:>14,} {r['without']:>13.3f} s {r['with']:>10.3f} s {r['overhead']:>8.1%}")
        print(f"{'':>14} cpu time: {r['cpu_without']:.3f} s without checks, {r['cpu_with']:.3f} s with "
              f"({(r['cpu_with'] - r['cpu_without']) / r['cpu_without']:+.1%})")
        if r["full_without"] is not None:
            print(f"{'':>14} full refresh: {r['full_without']:.3f} s without checks, {r['full_with']:.3f} s with "
                  f"({(r['full_with'] - r['full_without']) / r['full_without']:+.1%}); cpu inside the checks "
                  f"{r['full_hook_cpu']:.3f} s")
        print(f"{'':>14} check evaluations by scope: {', '.join(f'{s} {n}' for s, n in r['scopes'])}")
        print(f"{'':>14} time inside the checks per refresh: {r['checks']:.3f} s "
              f"({r['checks'] / r['without']:.1%} of the refresh without checks)")
        print(f"{'':>14} with staging the change and writing the results: {r['hook']:.3f} s "
              f"({r['hook'] / r['without']:.1%}); cpu {r['hook_cpu']:.3f} s "
              f"({r['hook_cpu'] / r['cpu_without']:.1%} of the refresh's cpu without checks)")
        print(f"{'':>14} the batch's own checks, run with its insert: {r['insert']:.3f} s")
        for seconds, name in r["slowest"]:
            print(f"{'':>16}{seconds * 1000:8.1f} ms  {name}")


if __name__ == "__main__":
    main()
