"""Rows per second of gen_interactions loaded into DuckDB: fast path vs the UDTF path.

    python bench/bench_generators.py [--rows 1000000] [--udtf-rows 100000] [--runs 3]

Both paths go through ``insert_generated`` into an in-memory DuckDB table, NOW fixed; the
UDTF path (``process`` row by row, as on Snowflake) is the baseline, measured in the same run
at a smaller size. Each figure is the median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.generators import generator_columns, insert_generated  # noqa: E402
from engine.spec import load_pipeline  # noqa: E402

NOW = datetime(2025, 6, 1, 12, 0, 0)
GENERATOR = "gen_interactions"


def rows_per_second(pipeline, rows: int, *, fast: bool, runs: int) -> float:
    """Median rows/s of ``runs`` loads of ``rows`` rows, each into a fresh table."""
    columns = generator_columns(pipeline, GENERATOR)
    definition = ", ".join(f"{c.sql_name} {c.duckdb_type}" for c in columns)
    timings = []
    for _ in range(runs):
        con = duckdb.connect()
        con.execute(f"CREATE TABLE RAW_INTERACTIONS ({definition})")
        start = time.perf_counter()
        inserted = insert_generated(con, "RAW_INTERACTIONS", pipeline, GENERATOR, [rows, 30],
                                    seed=pipeline.seed, now=NOW, fast=fast)
        timings.append(time.perf_counter() - start)
        assert inserted == rows == con.execute("SELECT count(*) FROM RAW_INTERACTIONS").fetchone()[0]
        con.close()
    return rows / statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for the fast path")
    parser.add_argument("--udtf-rows", type=int, default=100_000, help="rows for the UDTF path (baseline)")
    parser.add_argument("--runs", type=int, default=3, help="runs per path; the median is reported")
    options = parser.parse_args()

    pipeline = load_pipeline(ROOT / "pipelines" / "engagement.yaml")
    rows_per_second(pipeline, 1000, fast=True, runs=1)  # warm-up: imports, module load
    fast = rows_per_second(pipeline, options.rows, fast=True, runs=options.runs)
    udtf = rows_per_second(pipeline, options.udtf_rows, fast=False, runs=options.runs)
    print(f"{GENERATOR} -> DuckDB, median of {options.runs} runs")
    print(f"  fast path  ({options.rows:>9,} rows): {fast:>12,.0f} rows/s")
    print(f"  UDTF path  ({options.udtf_rows:>9,} rows): {udtf:>12,.0f} rows/s   (baseline)")
    print(f"  ratio fast / UDTF: {fast / udtf:.1f}x   target >= 200,000 rows/s: {'met' if fast >= 200_000 else 'MISSED'}")


if __name__ == "__main__":
    main()
