"""Commands import only the drivers they need: fast help and validate, no foreign driver on plan.

Each command runs in a fresh interpreter through the ``pipe`` entry point
(``engine.cli.main``); at exit the wrapper reports which heavy modules were imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import ENGAGEMENT, ROOT

DRIVERS = ("duckdb", "snowflake.connector")

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
""" % (DRIVERS,)


def imported(*args: str, cwd=ROOT) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps([str(a) for a in args])],
        cwd=cwd, capture_output=True, text=True, timeout=120,
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
    assert imported(*args) == set()


def test_validate_imports_no_driver():
    # The local target's validate checks that DuckDB can run each query: it must do so
    # without importing duckdb (translation is sqlglot work).
    assert imported("validate", str(ENGAGEMENT)) == set()


def test_plan_on_the_local_target_does_not_import_the_snowflake_connector(tmp_path):
    modules = imported("plan", str(ENGAGEMENT), "--db", str(tmp_path / "missing.duckdb"))
    assert "snowflake.connector" not in modules
