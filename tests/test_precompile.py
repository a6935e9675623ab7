"""Compiling a wide file's queries in worker processes gives exactly what compiling them one by one
gives: the same compiled facts, translations, warnings and errors (with their file:line:col)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import engine
from engine import precompile
from engine.errors import PipeError
from engine.spec.loader import load_pipeline
from engine.sql import cache
from helpers import ENGAGEMENT, FIXTURES, ROOT, SHOP

GOOD = sorted((FIXTURES / "good").glob("*.yaml"))
BAD = sorted((FIXTURES / "bad").glob("*.yaml")) + sorted((FIXTURES / "bind").glob("*.yaml"))
WIDE = FIXTURES / "precompile" / "wide_fan.yaml"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")


@pytest.fixture
def workers(monkeypatch):
    """Every file's queries compiled by two workers, a few queries per task; counts the entries
    the workers handed over (a list, one count per validation)."""
    monkeypatch.setattr(precompile, "MIN_QUERIES", 1)
    monkeypatch.setattr(precompile, "_CHUNK", 1)
    monkeypatch.setattr(precompile, "_cores", lambda: 2)
    handed: list[int] = []
    compile_in_workers = precompile._compile_in_workers

    def counted(*args):
        entries = compile_in_workers(*args)
        handed.append(len(entries))
        return entries

    monkeypatch.setattr(precompile, "_compile_in_workers", counted)
    return handed


def outcome(path: Path, target: str = "local") -> dict:
    """What validating ``path`` gives, as plain values: the error, or every compiled fact."""
    try:
        project = engine.validate(path, target=target)
    except PipeError as exc:
        return {"error": str(exc), "kind": type(exc).__name__}
    graph = project.graph
    result = {
        "warnings": [str(w) for w in project.warnings],
        "order": graph.create_order,
        "types": graph.types(),
        "modes": {n: graph.refresh_mode(n) for n in graph.dynamic_tables},
    }
    if target == "local":
        result["duckdb"] = {n: graph.duckdb_sql(n) for n in graph.dynamic_tables}
        result["local"] = {n: graph.queries[n].local_full_reason() for n in graph.dynamic_tables}
    return result


def both_ways(path: Path, monkeypatch, target: str = "local") -> tuple[dict, dict]:
    """:func:`outcome` with every query compiled in this process, then with workers (cache off)."""
    monkeypatch.setenv("PIPE_CACHE_DIR", "off")
    monkeypatch.setattr(precompile, "MIN_QUERIES", 10**9)
    alone = outcome(path, target)
    monkeypatch.setattr(precompile, "MIN_QUERIES", 1)
    return alone, outcome(path, target)


@pytest.mark.parametrize("cache_dir", ["off", "folder"])
@pytest.mark.parametrize("path", [ENGAGEMENT, SHOP, WIDE, *GOOD], ids=lambda p: getattr(p, "stem", p))
def test_workers_compile_what_one_process_compiles(path, cache_dir, workers, monkeypatch, tmp_path):
    monkeypatch.setenv("PIPE_CACHE_DIR", "off")
    alone = outcome(path)
    monkeypatch.setenv("PIPE_CACHE_DIR", "off" if cache_dir == "off" else str(tmp_path / "cache"))
    assert outcome(path) == alone
    if len(precompile._uncached(load_pipeline(path))) > 1:  # (one query for workers: one task, no workers)
        assert workers  # the workers ran (and handed over what they could compile: maybe nothing)
    if path in (ENGAGEMENT, WIDE):
        assert workers[-1] > 0
    if cache_dir != "off":
        assert outcome(path) == alone  # read back from what the workers stored


@pytest.mark.parametrize("path", [WIDE, ENGAGEMENT], ids=lambda p: p.stem)
def test_workers_for_a_snowflake_target(path, workers, monkeypatch):
    alone, in_workers = both_ways(path, monkeypatch, "snowflake")
    assert in_workers == alone
    assert workers[-1] > 0


@pytest.mark.parametrize("path", BAD, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_errors_are_the_same_and_in_the_same_place(path, workers, monkeypatch):
    alone, in_workers = both_ways(path, monkeypatch)
    assert "error" in alone
    assert in_workers == alone


def test_only_queries_that_name_no_dynamic_table_go_to_workers(tmp_path):
    """Those naming one are compiled after what they read, by the validation: a worker would only
    parse them. A column named like a dynamic table keeps a query out too (a word test)."""
    assert precompile._uncached(load_pipeline(WIDE)) == [
        "FILTERED", "STARRED", "JOINED", "TOTALS", "LIMITED", "PATHS", "NOTED", "QUALIFIED", "NOW",
    ]
    path = tmp_path / "wide_fan.yaml"
    path.write_text(WIDE.read_text().replace("SELECT id, v FROM BASE WHERE", "SELECT id AS last, v FROM BASE WHERE"))
    assert "FILTERED" not in precompile._uncached(load_pipeline(path))


def test_the_entries_are_held_only_while_validating(workers, monkeypatch):
    monkeypatch.setenv("PIPE_CACHE_DIR", "off")
    engine.validate(WIDE)
    assert workers[-1] > 0
    assert cache.slot("table_refs", ("SELECT 1",)) is None  # nothing held: the cache is off again


def test_few_queries_are_compiled_in_process(monkeypatch):
    """Below MIN_QUERIES no worker starts (the file has 12 dynamic tables)."""
    monkeypatch.setenv("PIPE_CACHE_DIR", "off")
    started = []
    monkeypatch.setattr(precompile, "_compile_in_workers", lambda *a: started.append(a) or {})
    engine.validate(WIDE)
    assert started == []


def test_ctrl_c_stops_workers_and_parent_without_a_traceback(tmp_path):
    """A fan wide enough to take a few seconds; Ctrl-C reaches the whole process group, as in a
    terminal: pipe says it stopped (exit 130), no worker prints anything and none is left."""
    text = WIDE.read_text().split("dynamic_tables:\n")[0] + "dynamic_tables:\n" + "".join(
        f"  DT_{i}:\n    target_lag: 1 minute\n    sql: SELECT id, v FROM BASE WHERE id > {i}\n" for i in range(3000)
    )
    path = tmp_path / "fan.yaml"
    path.write_text(text)

    def foreground():
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as in a terminal, even under a background test run
        os.setpgrp()

    env = {**os.environ, "PIPE_CACHE_DIR": "off", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", "validate", str(path)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=foreground)
    children: list[str] = []
    deadline = time.monotonic() + 60
    while not children and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
        children = subprocess.run(["ps", "--ppid", str(process.pid), "-o", "pid="],
                                  capture_output=True, text=True).stdout.split()
    if not children:
        process.kill()
        pytest.skip("the workers did not start (one core?)")
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out[-300:], err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "stopped" in err + out
    time.sleep(0.5)
    assert [pid for pid in children if Path(f"/proc/{pid}").exists()] == []


@pytest.mark.parametrize("fault", [
    ("b.amount * 2 AS doubled", "b.amuont * 2 AS doubled"),  # an unknown column, with "did you mean"
    ("FROM OUTSIDE o", "FROM OUTSIDES o"),  # an unknown table
    ("SELECT id FROM BASE ORDER BY id LIMIT 5", "SELECT id, SYSTEM$TYPEOF(id) FROM BASE"),  # refused locally
    ("SELECT v, n FROM CHAINED", "SELECT v, nn FROM CHAINED"),  # in a table compiled after the workers
])
def test_an_error_among_many_queries_is_reported_as_alone(fault, workers, monkeypatch, tmp_path):
    path = tmp_path / "wide_fan.yaml"
    path.write_text(WIDE.read_text().replace(*fault))
    alone, in_workers = both_ways(path, monkeypatch)
    assert "error" in alone
    assert in_workers == alone
    assert workers[-1] > 0


def test_pipe_workers_sets_how_many(monkeypatch):
    monkeypatch.setenv("PIPE_WORKERS", "3")
    assert precompile._cores() == 3
    monkeypatch.setenv("PIPE_WORKERS", "1")
    monkeypatch.setenv("PIPE_CACHE_DIR", "off")
    monkeypatch.setattr(precompile, "MIN_QUERIES", 1)
    started = []
    monkeypatch.setattr(precompile, "_compile_in_workers", lambda *a: started.append(a) or {})
    engine.validate(WIDE)
    assert started == []  # one worker is no worker: compiled in this process


def test_a_worker_that_dies_leaves_its_queries_to_the_validation(workers, monkeypatch):
    """A worker killed (as by the kernel when memory runs out) hands over nothing; the validating
    process compiles the other queries, the validation what is missing, and the outcome is unchanged."""
    alone, _ = both_ways(WIDE, monkeypatch)
    base_table, validating = precompile._base_table, os.getpid()

    def worker_dies(pipeline, ref):
        if os.getpid() != validating:  # at its first query
            os._exit(9)
        return base_table(pipeline, ref)

    monkeypatch.setattr(precompile, "_base_table", worker_dies)
    assert outcome(WIDE) == alone
    assert 0 < workers[-1]  # what the validating process compiled
