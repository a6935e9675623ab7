"""Plain DuckDB doing the work pipe wraps, and peak memory per phase: the baseline of the
refresh and apply benchmarks, measured in the same run.

The baseline of a full refresh is ``CREATE TABLE AS`` of each dynamic table's translated query
(the DuckDB SQL pipe itself runs, ``graph.duckdb_sql``), in dependency order, on a copy of the
same base tables, in a DuckDB file of its own under the same memory limit and spilling the same
way. The baseline of an apply adds generating the base tables with the same generators, seed
and row order first.

Run as a script, it is the apply baseline in a process of its own (so that its peak memory is
its own)::

    python bench/baseline.py PIPELINE.yaml DB.duckdb

Peak memory: when ``/proc/self/clear_refs`` is writable (Linux), each phase resets the
process's high-water mark (``echo 5 > /proc/self/clear_refs``) and reads ``VmHWM`` from
``/proc/self/status`` at its end: exact, no sampling. Elsewhere a thread samples ``VmRSS``
every 10 ms (a peak shorter than that can be missed); where neither exists the process's
lifetime peak (``ru_maxrss``) is shown.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.backends.local.store import DEFAULT_MEMORY_LIMIT, quote  # noqa: E402

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def memory_limit() -> str:
    """The limit pipe's local engine runs under, which the baseline gets too."""
    return os.environ.get("PIPE_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


# -- peak memory per phase -------------------------------------------------------------------------


def _status_mb(field: str) -> float | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        CLEAR_REFS.write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


class Phase:
    """The wall time, CPU time (every thread of the process, user and system) and peak RSS (MB)
    of one phase, once it has ended. On a machine other work shares, CPU time is the steadier
    measure of the work done."""

    seconds: float = 0.0
    cpu: float = 0.0
    peak_mb: float = 0.0


METHOD = "VmHWM reset through /proc/self/clear_refs" if _reset_peak() else (
    "VmRSS sampled every 10 ms" if _status_mb("VmRSS") is not None else "ru_maxrss (process lifetime)"
)


@contextmanager
def phase():
    """Measure the enclosed work: ``with phase() as p: ...`` then ``p.seconds``, ``p.peak_mb``."""
    result = Phase()
    sampled = [0.0]
    stop = threading.Event()
    sampler = None
    if METHOD.startswith("VmHWM"):
        _reset_peak()
    elif METHOD.startswith("VmRSS"):
        def sample():
            while not stop.wait(0.01):
                sampled[0] = max(sampled[0], _status_mb("VmRSS") or 0.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    start, cpu = time.perf_counter(), time.process_time()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        result.cpu = time.process_time() - cpu
        stop.set()
        if sampler is not None:
            sampler.join()
        if METHOD.startswith("VmHWM"):
            result.peak_mb = _status_mb("VmHWM") or 0.0
        elif METHOD.startswith("VmRSS"):
            result.peak_mb = max(sampled[0], _status_mb("VmRSS") or 0.0)
        else:
            result.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- plain DuckDB ----------------------------------------------------------------------------------


class Plain:
    """A DuckDB file of its own, laid out as pipe's (``DATABASE.SCHEMA.TABLE``) so that the
    translated queries run unchanged, under pipe's memory limit and spilling beside the file."""

    def __init__(self, project, path: Path):
        import duckdb

        target = project.pipeline.snowflake
        self.project = project
        self.path = Path(path)
        self.database, self.schema = target.database, target.schema_name
        self.con = duckdb.connect()
        self.con.execute(f"SET memory_limit = '{memory_limit()}'")
        self.con.execute(f"SET temp_directory = '{self.path}.tmp'")
        self.con.execute(f"ATTACH '{self.path}' AS {quote(self.database)}")
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.database)}.{quote(self.schema)}")
        self.con.execute(f"USE {quote(self.database)}.{quote(self.schema)}")

    def qualified(self, name: str) -> str:
        return f"{quote(self.database)}.{quote(self.schema)}.{quote(name)}"

    def close(self) -> None:
        self.con.close()

    def generate(self) -> None:
        """Create the base tables and fill them as ``pipe apply`` does (same generator, seed and
        row order)."""
        from engine.generators.local import generator_columns, insert_generated

        pipeline = self.project.pipeline
        for name, table in pipeline.tables.items():
            if table.external or not table.generator:
                continue
            columns = generator_columns(pipeline, table.generator)
            ddl = ", ".join(f"{c.sql_name} {c.duckdb_type}" for c in columns)
            self.con.execute(f"CREATE TABLE {self.qualified(name)} ({ddl})")
            insert_generated(self.con, self.qualified(name), pipeline, table.generator, list(table.args),
                             seed=pipeline.seed, order_by=[c.upper() for c in table.order_by])

    def create_dynamic_tables(self) -> None:
        """``CREATE TABLE AS`` each dynamic table's translated query, upstream first."""
        graph = self.project.graph
        for name in graph.dynamic_tables:
            self.con.execute(f"DROP TABLE IF EXISTS {self.qualified(name)}")
            self.con.execute(f"CREATE TABLE {self.qualified(name)} AS {graph.duckdb_sql(name)}")


def copy_base_tables(project, store, path: Path) -> None:
    """Copy the base tables of pipe's open database (``store``) into a new DuckDB file at ``path``,
    through pipe's own connection (which holds the file's lock)."""
    target = project.pipeline.snowflake
    con = store.con
    con.execute(f"ATTACH '{path}' AS __BASELINE")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS __BASELINE.{quote(target.schema_name)}")
        for name, table in project.pipeline.tables.items():
            if not table.external:
                con.execute(f"CREATE TABLE __BASELINE.{quote(target.schema_name)}.{quote(name)} AS "
                            f"SELECT * FROM {store.qualified(name)}")
    finally:
        con.execute("DETACH __BASELINE")


def main() -> None:
    """The apply baseline: generate the base tables, then create the dynamic tables."""
    from engine import project as engine

    pipeline, db = sys.argv[1:3]
    project = engine.validate(pipeline)
    plain = Plain(project, Path(db))
    try:
        with phase() as generated:
            plain.generate()
        with phase() as created:
            plain.create_dynamic_tables()
    finally:
        plain.close()
    print(json.dumps({"generate": generated.seconds, "create": created.seconds, "cpu": generated.cpu + created.cpu}))


if __name__ == "__main__":
    main()
