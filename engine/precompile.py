"""Compiling the queries of a wide pipeline in worker processes, before validation reads them.

A cold ``validate`` of a file with thousands of dynamic tables spends nearly all its time compiling
queries, each on its own: parsing, binding, typing, the refresh-mode analyses and the DuckDB
translation. When many queries are not in the cache, :func:`precompiled` has this process and forked
workers (one process per core in all) compute, for each query that reads only base tables, the same cache entries
(:mod:`engine.sql.cache`) the validation would write, and holds them for the validation that
follows: it then reads them back as from a warm cache, in file order, through the same code. A
query that fails in a worker is simply not held: the validation compiles it again and reports it
exactly as it would have. Where fork is not the platform's way to start processes (macOS,
Windows), the machine has one core or ``PIPE_WORKERS=1``, nothing changes.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from contextlib import nullcontext

from engine.spec.model import Pipeline
from engine.sql import cache

MIN_QUERIES = 200
"""Fewer queries to compile than this are compiled in the validating process: starting workers,
and sending back what they compute, costs more than it saves."""

_CHUNK = 32  # queries a process takes at a time: few takes, and the last ones end close together

_job: dict = {}  # what the forked workers read (set before the fork, so never pickled)


def precompiled(pipeline: Pipeline, *, local: bool):
    """A context within which the cache holds the entries workers computed for ``pipeline``'s
    queries (``local``: their DuckDB translation and local refresh mode too, as a validation for
    the local target reads them); a plain context when it is not worth it."""
    names = _uncached(pipeline)
    workers = min(_cores(), -(-len(names) // _CHUNK))
    forkable = sys.platform.startswith("linux") and threading.active_count() == 1  # no lock held by a thread
    if len(names) < MIN_QUERIES or workers < 2 or not forkable:
        return nullcontext()
    return cache.held(_compile_in_workers(pipeline, names, workers, local))


def _cores() -> int:
    """How many workers at most: ``PIPE_WORKERS`` (1: none), or the cores this process may use."""
    configured = os.environ.get("PIPE_WORKERS", "").strip()
    if configured.isdigit():
        return int(configured)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _uncached(pipeline: Pipeline) -> list[str]:
    """The dynamic tables whose query the cache does not hold (all of them when it is off) and
    that a worker may compile: those whose SQL names no dynamic table (a word test, so a column
    named like one leaves a query to the validation, which compiles it as it would anyway)."""
    dynamic = {name.casefold() for name in pipeline.dynamic_tables}
    names = [
        name for name, dt in pipeline.dynamic_tables.items()
        if dynamic.isdisjoint(word.casefold() for word in _WORD.findall(dt.sql))
    ]
    if cache.directory() is None:
        return names
    return [
        name for name in names
        if not os.path.exists(cache.slot("table_refs", (pipeline.dynamic_tables[name].sql,)))
    ]


_WORD = re.compile(r"[^\W\d][\w$]*")


def _compile_in_workers(pipeline: Pipeline, names: list[str], workers: int, local: bool) -> dict[str, str]:
    """The cache entries computed while compiling ``names``' queries (slot -> JSON), by this process
    and ``workers - 1`` forked ones: each takes the next chunk of queries until none is left, so
    this process is never idle while the others work, and what it compiles needs no sending back.
    Should a worker die (e.g. out of memory), what it did not hand over is compiled by the
    validation itself."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    _prepare()
    context = multiprocessing.get_context("fork")
    chunks = [names[i:i + _CHUNK] for i in range(0, len(names), _CHUNK)]
    taken = context.Value("i", 0)  # how many chunks have been taken, shared with the workers
    _job.update(pipeline=pipeline, local=local, chunks=chunks, taken=taken)
    pool = ProcessPoolExecutor(workers - 1, mp_context=context, initializer=_ignore_ctrl_c)
    try:
        shares = [pool.submit(_compile_share) for _ in range(workers - 1)]
        entries = _compile_share()
        for share in shares:
            try:
                entries.update(share.result())
            except BrokenProcessPool:
                pass
    except BaseException:  # Ctrl-C: no chunk is taken after those being compiled, and the command stops
        taken.value = len(chunks)  # (without the lock: a worker holding it never blocks this)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        _job.clear()
    pool.shutdown()  # the workers are done: they exit, with the thread that watched them
    return entries


def _compile_share() -> dict[str, str]:
    """Compile the next chunk of queries not yet taken, until none is left; the cache entries that
    wrote (slot -> JSON)."""
    chunks, taken = _job["chunks"], _job["taken"]
    written: dict[str, str] = {}
    lock = taken.get_lock()
    while True:
        if not lock.acquire(timeout=_TAKING):  # a process died holding it: the validation compiles the rest
            return written
        try:
            index = taken.value
            taken.value = index + 1
        finally:
            lock.release()
        if index >= len(chunks):
            return written
        written.update(_compile_chunk(chunks[index]))


_TAKING = 10.0  # seconds to wait for the next chunk, which takes microseconds unless a process died taking it


def _prepare() -> None:
    """Import and compute once, before the fork, what every worker would otherwise do alone."""
    import sqlglot.optimizer.annotate_types  # noqa: F401
    import sqlglot.optimizer.qualify  # noqa: F401

    import engine.sql.partition  # noqa: F401
    import engine.sql.translate  # noqa: F401
    from engine.sql.limits import allow_deep_queries
    from engine.sql.parsing import dialect

    allow_deep_queries()
    dialect()
    cache.code_version()


def _ignore_ctrl_c() -> None:
    """Ctrl-C stops the validating process, which ends the workers: they never print it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _compile_chunk(names: list[str]) -> dict[str, str]:
    """In a worker: compile ``names``' queries; the cache entries that wrote (slot -> JSON)."""
    from engine.graph import PipelineGraph, catalog
    from engine.sql import recall

    pipeline, local = _job["pipeline"], _job["local"]
    entries = catalog(pipeline)
    graph = PipelineGraph(pipeline)  # one for the chunk: what the base tables offer is found once
    written: dict[str, str] = {}
    for name in names:
        dt = pipeline.dynamic_tables[name]
        trees: dict = {}
        with cache.recording() as entries_of_query:
            try:
                refs = recall.table_refs(dt.sql, trees)
                if not refs or not all(_base_table(pipeline, ref) for ref in refs):
                    continue  # compiled in dependency order by the validation itself
                compiled = recall.compiled(name, dt.sql, refs, entries, trees)
                if compiled.problems:
                    continue
                if local:  # the key analysis after the translation reads the bound tree, not the tree
                    graph.queries[name] = compiled
                    graph.duckdb_sql(name, last_use=True)
                    compiled.modes(dt.refresh_mode)
            except Exception:  # noqa: BLE001 - whatever it is, the validation raises it in its place
                continue
        # Only a query compiled to the end is handed over: the validation parses any other itself,
        # and keeps the tree for its compile (it would otherwise parse it twice).
        written.update(entries_of_query)
    return written


def _base_table(pipeline: Pipeline, ref) -> bool:
    """Whether a table reference names a base table of the file (as :func:`engine.graph.build_graph`
    resolves it)."""
    from engine.graph import in_target_schema

    return ref.name in pipeline.tables and in_target_schema(pipeline, ref)
