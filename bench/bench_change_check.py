"""Cost of the check for writes made outside pipe: the signature of a table (row count, exact
sum of its rows' 64-bit hashes, columns), which a writable pipe command computes once for each
table when it opens the database.

    python bench/bench_change_check.py                 # 1M rows
    python bench/bench_change_check.py --sizes 100000 1000000 10000000

For each size it builds, in a temporary DuckDB file, a table shaped like RAW_INTERACTIONS
(MEMBER_ID, EVENT_DATA as JSON text like the generator's) and one shaped like
SESSION_ENGAGEMENT_DETAIL (13 mixed columns), then times the signature of each (median of
three) and, as the baseline, a bare ``count(*)`` and the old XOR of row hashes over the same
table.
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

from engine.backends.local.changes import ChangeLog  # noqa: E402
from engine.backends.local.store import open_store  # noqa: E402

INTERACTIONS = """CREATE TABLE "{db}"."S"."RAW" AS SELECT 10001 + i % 5000 AS MEMBER_ID,
    json_object('session_id', 'S' || (i // 6), 'resource_id', 100 + i % 100, 'event_type', 'view',
                'timestamp', TIMESTAMP '2026-11-01' + INTERVAL (i % 2592000) SECOND,
                'duration_seconds', i % 600, 'device', 'mobile') AS EVENT_DATA
    FROM range({n}) r(i)"""
WIDE = """CREATE TABLE "{db}"."S"."WIDE" AS SELECT 10001 + i % 5000 AS MEMBER_ID, 'S' || (i // 6) AS SESSION_ID,
    100 + i % 100 AS RESOURCE_ID, 'view' AS EVENT_TYPE, TIMESTAMP '2026-11-01' + INTERVAL (i % 2592000) SECOND AS TS,
    (i % 600)::BIGINT AS DURATION, 'mobile' AS DEVICE, 'member' || (i % 5000) || '@x.org' AS EMAIL,
    'premium' AS MEMBER_TYPE, 'West' AS REGION, 'Title ' || (i % 100) AS TITLE, 'article' AS CONTENT_TYPE,
    (i % 17)::DECIMAL(10, 2) AS SCORE FROM range({n}) r(i)"""


def median_time(work, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    args = parser.parse_args()
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            store = open_store(Path(folder) / "bench.duckdb", "DB", "S")
            store.con.execute(INTERACTIONS.format(db="DB", n=n))
            store.con.execute(WIDE.format(db="DB", n=n))
            log = ChangeLog(store)
            for table in ("RAW", "WIDE"):
                qualified = store.qualified(table)
                signature = median_time(lambda: log.signature(table))
                count = median_time(lambda: store.con.execute(f"SELECT count(*) FROM {qualified}").fetchall())
                xor = median_time(lambda: store.con.execute(f"SELECT bit_xor(hash(t)) FROM {qualified} t").fetchall())
                print(
                    f"{n:>11,} rows {table:<4}: signature {signature:7.3f} s ({signature / n * 1e9:5.0f} ns/row); "
                    f"count(*) {count:.3f} s; old XOR {xor:.3f} s"
                )
            store.close()


if __name__ == "__main__":
    main()
