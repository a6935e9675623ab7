"""Wall time of ``pipe validate`` on wide and deep pipelines: a chain of dynamic tables each
reading the previous one, and a fan of dynamic tables all reading one base table.

    python bench/bench_graph.py                     # chain 1000, fan 10000, 200 nested
    python bench/bench_graph.py --chain 1000 --fan 10000 --nested 200

The pipeline files are written to a temporary folder; each is validated in a fresh process
(``python -m engine.cli validate``) twice: cold (``PIPE_CACHE_DIR=off``: every query parsed, bound,
typed and translated; by worker processes, one per core, when there are 200 or more: the
``cold, 1 process`` line is the same with ``PIPE_WORKERS=1``) and warm (a second run over a cache the
first run filled: each query's compiled results read back). Each figure is wall time, with the process's CPU time beside it (on a
shared machine the wall time also counts waiting for a core). Then the phases of a warm validation
through the library (``engine.validate``), without interpreter start-up, beside the time sqlglot
alone takes to parse the same queries (the floor). Goal: each under 5 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 5.0

HEAD = """version: 1
name: {name}
snowflake: {{database: BENCH, schema: GRAPH, warehouse: WH}}
tables:
  BASE: {{columns: {{id: number, v: varchar}}}}
dynamic_tables:
"""


def chain(n: int) -> str:
    """``n`` dynamic tables, each reading the one before it; the last one has a time lag."""
    lines = [HEAD.format(name="chain")]
    for i in range(n):
        source = "BASE" if i == 0 else f"DT_{i - 1}"
        lag = "1 minute" if i == n - 1 else "downstream"
        lines.append(f"  DT_{i}:\n    target_lag: {lag}\n    sql: SELECT id, v FROM {source}\n")
    return "".join(lines)


def fan(n: int) -> str:
    """``n`` dynamic tables, all reading the base table."""
    lines = [HEAD.format(name="fan")]
    for i in range(n):
        lines.append(f"  DT_{i}:\n    target_lag: 1 minute\n    sql: SELECT id, v FROM BASE WHERE id > {i}\n")
    return "".join(lines)


def timed_cli(path: Path, cache: str, workers: str = "") -> tuple[float, float, int, str]:
    """Wall and CPU seconds (its workers' included) of ``pipe validate path`` in a fresh process with
    ``PIPE_CACHE_DIR=cache`` (and ``PIPE_WORKERS=workers``), its exit code and the end of its output."""
    env = {**os.environ, "PIPE_CACHE_DIR": cache, "PIPE_WORKERS": workers}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "engine.cli", "validate", str(path)], cwd=ROOT,
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode, (done.stderr or done.stdout).strip()[-200:]


def phases(path: Path) -> dict[str, float]:
    """Seconds of each phase of validation, through the library: reading the YAML, parsing the
    queries into the graph, the graph algorithms alone (orders, cycle and lag checks, effective
    lags, on the built graph), and the local translation check."""
    from engine.graph import PipelineGraph, _check_cycles, _check_lags, build_graph
    from engine.project import Project, _check_local_sql
    from engine.spec.loader import load_pipeline

    times = {}
    start = time.perf_counter()
    pipeline = load_pipeline(path)
    times["yaml"] = time.perf_counter() - start
    start = time.perf_counter()
    built = build_graph(pipeline)
    times["parse+graph"] = time.perf_counter() - start
    start = time.perf_counter()
    fresh = PipelineGraph(pipeline, built.reads, built.decisions)
    _check_cycles(pipeline, fresh.reads)
    _check_lags(fresh)
    for name in fresh.dynamic_tables:
        fresh.effective_lag(name), fresh.upstream(name), fresh.downstream(name)
    fresh.levels()
    times["graph algorithms"] = time.perf_counter() - start
    start = time.perf_counter()
    _check_local_sql(Project(pipeline, built))
    times["local sql check"] = time.perf_counter() - start
    return times


def sqlglot_alone(path: Path) -> float:
    """Seconds sqlglot takes to parse the same queries and nothing else: the floor to compare with."""
    import sqlglot
    import yaml

    from engine.sql.limits import allow_deep_queries

    allow_deep_queries()  # as pipe does before it parses
    queries = [dt["sql"] for dt in yaml.safe_load(path.read_text())["dynamic_tables"].values()]
    start = time.perf_counter()
    for sql in queries:
        sqlglot.parse_one(sql, read="snowflake")
    return time.perf_counter() - start


def nested(levels: int) -> str:
    """One dynamic table whose query nests ``levels`` subqueries in FROM."""
    sql = "SELECT id, v FROM BASE"
    for i in range(levels):
        sql = f"SELECT id, v FROM ({sql}) AS s{i}"
    return HEAD.format(name="nested") + f"  DEEP:\n    target_lag: 1 minute\n    sql: \"{sql}\"\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", type=int, default=1000)
    parser.add_argument("--fan", type=int, default=10000)
    parser.add_argument("--nested", type=int, default=200, help="subqueries nested in one query")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    shapes = ((f"chain of {args.chain}", chain(args.chain)), (f"fan of {args.fan}", fan(args.fan)),
              (f"{args.nested} nested", nested(args.nested)))
    from bench_compile import sqlglot_build

    print(sqlglot_build())
    with tempfile.TemporaryDirectory() as folder:
        cache = str(Path(folder) / "cache")
        os.environ["PIPE_CACHE_DIR"] = cache  # the phases below run warm, in this process
        for label, text in shapes:
            path = Path(folder) / f"{label.split()[-1]}.yaml"
            path.write_text(text)
            runs = (("cold", "off", ""), ("cold, 1 process", "off", "1"), (None, cache, ""), ("warm", cache, ""))
            for run, directory, workers in runs:
                if workers == "1" and text.count("sql:") < 200:
                    continue  # (no workers for so few queries: the same as cold)
                wall, cpu, code, output = timed_cli(path, directory, workers)
                if run is None:
                    continue  # fills the cache
                verdict = "ok" if code == 0 and wall < GOAL else "OVER GOAL" if code == 0 else f"FAILED: {output}"
                print(f"{label:>16}: pipe validate {run} {wall:6.2f} s (cpu {cpu:5.2f} s; goal {GOAL:.0f} s) {verdict}")
            times = phases(path)
            detail = ", ".join(f"{k} {v:.2f} s" for k, v in times.items())
            print(f"{'':>16}  warm, of which {detail}")
            floor = sqlglot_alone(path)
            total = sum(times.values())
            print(f"{'':>16}  sqlglot parsing alone {floor:.2f} s: warm validate is {total / floor:.1f}x that")

if __name__ == "__main__":
    main()
