"""Commands import only the drivers they need: fast help and validate, no foreign driver on plan.

Each command runs in a fresh interpreter through the ``pipe`` entry point
(``engine.cli.main``); at exit the wrapper reports which heavy modules were imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import ENGAGEMENT, ROOT

DRIVERS = ("duckdb", "snowflake.connector")
# Heavy modules that validate and plan do without: a translation read from the cache needs
# neither the translator nor sqlglot's DuckDB dialect; validate renders no template, and plan reads
# back the statements it rendered before. Neither reads emoji codes (rich's table of them): in SQL
# ':key:' is a variant path.
HEAVY = ("engine.sql.translate", "sqlglot.dialects.duckdb", "faker", "numpy", "jinja2", "rich._emoji_codes")
# What a warm cache spares validate and plan: parsing (sqlglot: each query's compiled facts are read
# back; yaml: the file's parsed values are), networkx (the standard library orders the DAG), and for validate the planner and the
# backends; for plan, the local engine's refresh code (the missing database is never refreshed).
WARM_VALIDATE_SKIPS = (
    "sqlglot", "yaml", "networkx", "engine.planner", "engine.backends.base", "engine.checks.after_refresh",
)
WARM_PLAN_SKIPS = ("sqlglot", "yaml", "networkx", "engine.backends.local.refresh", "engine.backends.local.incremental")

WRAPPER = """
import json, sys
sys.argv = ["pipe", *json.loads(sys.argv[1])]
from engine.cli import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
print("IMPORTED=" + json.dumps({"code": code, "modules": [m for m in %r if m in sys.modules]}), file=sys.stderr)
""" % (tuple(dict.fromkeys(DRIVERS + HEAVY + WARM_VALIDATE_SKIPS + WARM_PLAN_SKIPS)),)


def imported(*args: str, cwd=ROOT, env=None) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps([str(a) for a in args])],
        cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )
    line = next(l for l in proc.stderr.splitlines() if l.startswith("IMPORTED="))
    report = json.loads(line.removeprefix("IMPORTED="))
    assert report["code"] in (0, None), proc.stderr
    return set(report["modules"])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["validate", "--help"],
        ["schema"],
        ["graph", str(ENGAGEMENT)],
        ["validate", str(ENGAGEMENT), "--target", "snowflake"],
    ],
    ids=["help", "validate-help", "schema", "graph", "validate-snowflake"],
)
def test_no_driver_is_imported(args):
    assert not imported(*args) & set(DRIVERS)


def test_validate_imports_no_driver():
    # The local target's validate checks that DuckDB can run each query: it must do so
    # without importing duckdb (translation is sqlglot work).
    assert not imported("validate", str(ENGAGEMENT)) & set(DRIVERS)


def test_plan_on_the_local_target_does_not_import_the_snowflake_connector(tmp_path):
    modules = imported("plan", str(ENGAGEMENT), "--db", str(tmp_path / "missing.duckdb"))
    assert "snowflake.connector" not in modules


def test_validate_and_plan_with_a_warm_cache_import_nothing_heavy(tmp_path):
    env = {"PIPE_CACHE_DIR": str(tmp_path / "cache")}
    first = imported("validate", str(ENGAGEMENT), env=env)
    assert "engine.sql.translate" in first  # a cold cache: every query is translated
    assert imported("validate", str(ENGAGEMENT), env=env) & set(HEAVY) == set()
    plan = ("plan", str(ENGAGEMENT), "--db", str(tmp_path / "missing.duckdb"))
    assert imported(*plan, env=env) & set(HEAVY) == {"jinja2"}  # renders the statements, once
    assert imported(*plan, env=env) & set(HEAVY) == set()


def test_a_warm_cache_spares_validate_and_plan_the_parser_and_networkx(tmp_path):
    env = {"PIPE_CACHE_DIR": str(tmp_path / "cache")}
    cold = imported("validate", str(ENGAGEMENT), env=env)
    assert "sqlglot" in cold and "networkx" not in cold  # a cold cache parses every query
    assert imported("validate", str(ENGAGEMENT), env=env) & set(WARM_VALIDATE_SKIPS) == set()
    plan = imported("plan", str(ENGAGEMENT), "--db", str(tmp_path / "missing.duckdb"), env=env)
    assert "engine.planner" in plan and plan & set(WARM_PLAN_SKIPS) == set()


def test_with_the_cache_off_validate_parses_every_time():
    env = {"PIPE_CACHE_DIR": "off"}
    for _ in range(2):
        assert "sqlglot" in imported("validate", str(ENGAGEMENT), env=env)
