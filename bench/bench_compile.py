"""What compiling one dynamic table's query costs, stage by stage, with no cache: the per-query
cost behind a cold ``pipe validate`` of a wide pipeline (bench_graph.py's fan).

    python bench/bench_compile.py                 # 2,000 queries of the fan's shape
    python bench/bench_compile.py --queries 500

Each stage is called as ``validate`` calls it, on the result of the stage before: parsing, binding
(columns qualified against the catalog), the rest of the compile (typing the output, the refresh-mode
lint), the key analysis (which output rows a change can touch) and the DuckDB translation. Figures
are CPU milliseconds per query (the machine may be shared), the best of ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOG = {"BASE": {"ID": "number", "V": "varchar"}}


def stages(queries: list[str]) -> dict[str, float]:
    """CPU seconds each stage takes over ``queries``."""
    from engine.sql import binder, compiler
    from engine.sql.translate import to_duckdb

    times = dict.fromkeys(("parse", "bind", "type and lint", "keys", "translate"), 0.0)
    for sql in queries:
        start = time.process_time()
        tree, refs = compiler.parse(sql)
        parsed = time.process_time()
        binder.bind(tree, CATALOG)
        bound = time.process_time()
        compiled = compiler.compile_query("DT", sql, tree, refs, CATALOG)  # binds again: counted below
        done = time.process_time()
        compiled.partitioning  # noqa: B018 - computed on first read
        keyed = time.process_time()
        reuse = {"types": compiled.types} if hasattr(compiled, "types") else {}  # (older code: typed afresh)
        to_duckdb(sql, database="BENCH", schema="GRAPH", catalog=CATALOG, parsed=tree, **reuse)
        translated = time.process_time()
        times["parse"] += parsed - start
        times["bind"] += bound - parsed
        times["type and lint"] += max(done - bound - (bound - parsed), 0.0)
        times["keys"] += keyed - done
        times["translate"] += translated - keyed
    return times


def sqlglot_build() -> str:
    """sqlglot's version, and whether its compiled build (sqlglotc) is the one imported."""
    import sqlglot
    import sqlglot.parser

    compiled = not sqlglot.parser.__file__.endswith(".py")
    return f"sqlglot {sqlglot.__version__}, {'compiled (sqlglotc)' if compiled else 'pure Python'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--instructions", action="store_true",
                        help="also count the instructions per query under valgrind (the same however busy the machine)")
    parser.add_argument("--only", type=int, help=argparse.SUPPRESS)  # compile this many, untimed (for valgrind)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.only is not None:
        stages([f"SELECT id, v FROM BASE WHERE id > {i}" for i in range(args.only)])
        return
    queries = [f"SELECT id, v FROM BASE WHERE id > {i}" for i in range(args.queries)]
    stages(queries[:50])  # imports and first-use tables
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for stage, seconds in stages(queries).items():
            best[stage] = min(best.get(stage, seconds), seconds)
    total = sum(best.values())
    print(f"{args.queries} queries, {1000 * total / args.queries:.2f} ms CPU per query ({sqlglot_build()}):")
    for stage, seconds in best.items():
        print(f"  {stage:>14}: {1000 * seconds / args.queries:6.3f} ms ({100 * seconds / total:4.1f} %)")
    if args.instructions:
        print(instructions_per_query())


def instructions_per_query(few: int = 50, many: int = 250) -> str:
    """Instructions one query's compile takes, counted by valgrind: those of compiling ``many``
    queries less those of ``few`` (start-up and imports cancel out), over ``many - few``."""
    import re
    import shutil
    import subprocess

    if shutil.which("valgrind") is None:
        return "instructions: valgrind is not installed"
    counts = []
    for count in (few, many):
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__, "--only", str(count)],
            capture_output=True, text=True, cwd=ROOT,
        )
        found = re.search(r"Collected : (\d+)", done.stderr)
        if found is None:
            return f"instructions: valgrind failed: {done.stderr.strip()[-200:]}"
        counts.append(int(found.group(1)))
    return f"instructions: {(counts[1] - counts[0]) / (many - few) / 1e6:.2f} million per query (valgrind)"


if __name__ == "__main__":
    main()
