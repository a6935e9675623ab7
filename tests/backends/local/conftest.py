"""Shared fixtures of the local-backend tests: running ``pipe`` in a subprocess, pipeline copies,
applied databases, and the correctness oracle.

Every test drives the real command line (``python -m engine.cli``) with stdin not a terminal,
and inspects the DuckDB file with a plain ``duckdb.connect``, as any DuckDB client would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from pathlib import Path

import duckdb
import pytest
from helpers import ENGAGEMENT_EDGES

ROOT = Path(__file__).resolve().parents[3]
PIPELINES = ROOT / "pipelines"
FIXTURES = ROOT / "tests" / "fixtures" / "local"
ORACLE = FIXTURES / "oracle"

SCHEMA = "DYNAMIC_TABLES"  # engagement.yaml's snowflake.schema
BASE_TABLES = ["MEMBERS", "RESOURCES", "RAW_INTERACTIONS"]
DYNAMIC_TABLES = [
    "MEMBER_SESSIONS",
    "RESOURCE_CATALOG",
    "SESSION_ENGAGEMENT_DETAIL",
    "MEMBER_ENGAGEMENT_SUMMARY",
    "ENGAGEMENT_DASHBOARD",
]
# engagement.yaml's DAG, written out by hand (upstream -> downstream), shared with the other tests.
EDGES = sorted(ENGAGEMENT_EDGES)


# -- running pipe -------------------------------------------------------------------------------


@dataclass
class Run:
    """A finished ``pipe`` command."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def errors(self) -> list[str]:
        """The ``error:`` lines on stderr."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    def __str__(self) -> str:
        return f"pipe {' '.join(self.args)} -> {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def pipe_command(*args) -> list[str]:
    """The argv of ``pipe ARGS``, with this interpreter."""
    return [sys.executable, "-m", "engine.cli", *map(str, args)]


def run_pipe(*args, cwd: Path | None = None, timeout: float = 600, ok: bool | None = None) -> Run:
    """Run ``pipe ARGS`` to completion with no terminal on stdin.

    Whatever happens, stderr must not hold a traceback. With ``ok=True`` the command must
    succeed; with ``ok=False`` it must fail with exactly one ``error:`` line.
    """
    done = subprocess.run(
        pipe_command(*args),
        cwd=cwd or ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=pipe_env(),
    )
    run = Run([str(a) for a in args], done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout, str(run)
    if ok is True:
        assert run.returncode == 0, str(run)
    elif ok is False:
        assert run.returncode != 0, str(run)
        assert len(run.errors) == 1, str(run)
    return run


def pipe_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("SNOWFLAKE_DEFAULT_CONNECTION_NAME", None)
    return env


def as_json(run: Run):
    """stdout of a ``--format json`` command, parsed."""
    return json.loads(run.stdout)


# -- pipelines and databases ---------------------------------------------------------------------


def pipeline_dir(where: Path) -> Path:
    """A folder holding engagement.yaml, its generators and every fixture pipeline of
    tests/fixtures/local (all resolve ``generators/engagement.py`` next to them)."""
    where.mkdir(parents=True, exist_ok=True)
    shutil.copy(PIPELINES / "engagement.yaml", where / "engagement.yaml")
    shutil.copytree(PIPELINES / "generators", where / "generators", dirs_exist_ok=True)
    for path in FIXTURES.glob("*.yaml"):
        shutil.copy(path, where / path.name)
    return where


@dataclass
class Applied:
    """A pipeline folder and the database a clean ``pipe apply --yes`` made from engagement.yaml."""

    folder: Path
    db: Path
    run: Run | None = None

    @property
    def yaml(self) -> Path:
        return self.folder / "engagement.yaml"

    def pipe(self, command: str, *args, file: str = "engagement.yaml", ok: bool | None = None, **kwargs) -> Run:
        """``pipe COMMAND FILE --db DB ARGS`` on this database."""
        return run_pipe(command, self.folder / file, "--db", self.db, *args, ok=ok, **kwargs)


def apply_engagement(where: Path, file: str = "engagement.yaml") -> Applied:
    folder = pipeline_dir(where / "pipeline")
    db = where / "state" / "engagement.duckdb"
    return Applied(folder, db, run_pipe("apply", folder / file, "--db", db, "--yes", ok=True))


@pytest.fixture(scope="session")
def engagement_db(tmp_path_factory) -> Applied:
    """engagement.yaml applied once to a fresh database; tests using it must only read it."""
    return apply_engagement(tmp_path_factory.mktemp("engagement"))


@pytest.fixture
def applied(tmp_path) -> Applied:
    """engagement.yaml freshly applied, for one test to change."""
    return apply_engagement(tmp_path)


def connect(db: Path, *, read_only: bool = True):
    """A plain DuckDB connection to the pipeline's file, in the pipeline's schema."""
    con = duckdb.connect(str(db), read_only=read_only)
    con.execute(f"USE {SCHEMA}")
    return con


def table_names(db: Path) -> set[str]:
    """The tables of the pipeline's schema, as any DuckDB client lists them."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [SCHEMA]
        ).fetchall()
    return {r[0] for r in rows}


def row_counts(db: Path) -> dict[str, int]:
    with connect(db) as con:
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in table_names(db)}


def snapshot(db: Path, table: str) -> Counter:
    """Every row of ``table`` as a multiset of normalised tuples."""
    with connect(db) as con:
        cursor = con.execute(f'SELECT * FROM "{table}"')
        types = [str(d[1]) for d in cursor.description]
        return Counter(tuple(normalise(v, t) for v, t in zip(row, types)) for row in cursor.fetchall())


def history(applied: Applied, *names: str) -> list[dict]:
    return as_json(applied.pipe("history", *names, "--format", "json", ok=True))


def status(applied: Applied) -> dict[str, dict]:
    return {s["name"]: s for s in as_json(applied.pipe("status", "--format", "json", ok=True))}


# -- the oracle ----------------------------------------------------------------------------------


def normalise(value, type_name: str = ""):
    """A comparable form of a value read from DuckDB.

    JSON (VARIANT) text is parsed; arrays are sorted (ARRAY_AGG has no defined order); objects
    become sorted item tuples; decimals and floats become floats rounded to 9 places so that
    10, 10.0 and Decimal('10') compare equal.
    """
    if type_name == "JSON" and isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, dict):
        return tuple(sorted((k, normalise(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(sorted((normalise(v) for v in value), key=repr))
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else round(float(value), 9)
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 9)
    return value


@dataclass(frozen=True)
class OracleSpec:
    """How one dynamic table is compared with its oracle.

    Args:
        key: the column identifying a row, for the columns compared row by row.
        candidates: MODE columns: the oracle gives the list of most frequent values, and the
            table's value must be one of them.
        clock: columns reading the clock, with the tolerance of the comparison.
        averages: columns computed as ROUND(AVG(...), 1), exact when compared strictly.
    """

    key: str | None = None
    candidates: tuple[str, ...] = ()
    clock: dict = field(default_factory=dict)
    averages: tuple[str, ...] = ()


SPECS = {
    "MEMBER_SESSIONS": OracleSpec(),
    "RESOURCE_CATALOG": OracleSpec(key="RESOURCE_ID", clock={"DAYS_SINCE_PUBLISH": 1}),
    "SESSION_ENGAGEMENT_DETAIL": OracleSpec(),
    "MEMBER_ENGAGEMENT_SUMMARY": OracleSpec(
        key="MEMBER_ID",
        candidates=("FAVORITE_TOPIC", "PREFERRED_CONTENT_TYPE"),
        averages=("AVG_EVENTS_PER_SESSION",),
    ),
    "ENGAGEMENT_DASHBOARD": OracleSpec(
        candidates=("MOST_POPULAR_TOPIC", "MOST_POPULAR_CONTENT_TYPE"),
        clock={"REPORT_GENERATED_AT": timedelta(hours=1)},
        averages=("AVG_ENGAGEMENT_MINUTES_PER_MEMBER",),
    ),
}


def oracle_sql(name: str) -> str:
    return (ORACLE / f"{name}.sql").read_text()


_PLAIN_TYPES = ("VARCHAR", "BIGINT", "INTEGER", "HUGEINT", "DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "BOOLEAN")


def _fetch(con, sql: str) -> tuple[list[str], list[tuple]]:
    """Column names and rows, with the values of non-plain types normalised."""
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    fix = [(i, str(d[1])) for i, d in enumerate(cursor.description) if str(d[1]) not in _PLAIN_TYPES]
    rows = cursor.fetchall()
    if fix:
        fixed = []
        for row in rows:
            row = list(row)
            for i, type_name in fix:
                row[i] = normalise(row[i], type_name)
            fixed.append(tuple(row))
        rows = fixed
    return columns, rows


def _clock_close(actual, expected, tolerance) -> bool:
    if actual is None or expected is None:
        return actual is expected
    if isinstance(actual, datetime):
        # the table was refreshed before the oracle ran: its clock reads earlier, within tolerance
        return timedelta(0) <= expected - actual <= tolerance
    return abs(actual - expected) <= tolerance


def compare_with_oracle(con, name: str, *, avg_tolerance: float = 0.0) -> int:
    """Compare dynamic table ``name`` with ``ORACLE_<name>`` (already materialised); every column
    of every row. Returns the number of rows compared.

    ``avg_tolerance`` > 0 compares the ROUND(AVG(...), 1) columns within it instead of exactly:
    only for tests about something else (convergence after SIGKILL) while the local engine
    rounds AVG of integers as a DOUBLE (see test_commands' xfail test of ROUND(AVG(...), 1)).

    Raises:
        AssertionError: with the first differing rows.
    """
    spec = SPECS[name]
    tolerances = dict(spec.clock)
    if avg_tolerance:
        tolerances.update({column: avg_tolerance + 1e-9 for column in spec.averages})
    special = set(spec.candidates) | set(tolerances)
    if not special and _all_plain(con, name) and _all_plain(con, f"ORACLE_{name}"):
        return _compare_in_sql(con, name)
    columns, actual = _fetch(con, f'SELECT * FROM "{name}"')
    oracle_columns, expected = _fetch(con, f"SELECT * FROM ORACLE_{name}")
    assert columns == oracle_columns, f"{name}: columns {columns} != oracle's {oracle_columns}"

    exact = [c for c in columns if c not in special]
    if special:
        pick = itemgetter(*[columns.index(c) for c in exact])
        have, want = Counter(map(pick, actual)), Counter(map(pick, expected))
    else:
        have, want = Counter(actual), Counter(expected)
    if have != want:
        extra, missing = list((have - want).elements())[:3], list((want - have).elements())[:3]
        raise AssertionError(
            f"{name}: {len(actual)} rows vs oracle {len(expected)}; columns {exact}\n"
            f"  only in the table: {extra}\n  only in the oracle: {missing}"
        )
    if special:
        actual = [dict(zip(columns, row)) for row in actual]
        expected = [dict(zip(columns, row)) for row in expected]
        if spec.key is None:
            assert len(actual) == len(expected) == 1, f"{name}: expected one row"
            pairs = [(actual[0], expected[0])]
        else:
            by_key = {r[spec.key]: r for r in expected}
            assert len(by_key) == len(expected), f"{name}: oracle key {spec.key} is not unique"
            pairs = [(r, by_key[r[spec.key]]) for r in actual]
        for row, oracle_row in pairs:
            for column in spec.candidates:
                options = oracle_row[column] or (None,)
                assert row[column] in options, (
                    f"{name} {spec.key}={row.get(spec.key)}: {column} = {row[column]!r}, "
                    f"not one of the most frequent values {options}"
                )
            for column, tolerance in tolerances.items():
                assert _clock_close(row[column], oracle_row[column], tolerance), (
                    f"{name} {spec.key}={row.get(spec.key)}: {column} = {row[column]!r}, "
                    f"oracle {oracle_row[column]!r} (tolerance {tolerance})"
                )
    return len(actual)


def _all_plain(con, table: str) -> bool:
    return all(str(d[1]) in _PLAIN_TYPES for d in con.execute(f'SELECT * FROM "{table}" LIMIT 0').description)


def _compare_in_sql(con, name: str) -> int:
    """The multiset comparison done by DuckDB (EXCEPT ALL both ways), for plain-typed tables."""
    columns = [d[0] for d in con.execute(f'SELECT * FROM "{name}" LIMIT 0').description]
    oracle_columns = [d[0] for d in con.execute(f"SELECT * FROM ORACLE_{name} LIMIT 0").description]
    assert columns == oracle_columns, f"{name}: columns {columns} != oracle's {oracle_columns}"
    table, oracle = f'SELECT * FROM "{name}"', f"SELECT * FROM ORACLE_{name}"
    extra = con.execute(f"SELECT * FROM ({table} EXCEPT ALL {oracle}) LIMIT 3").fetchall()
    missing = con.execute(f"SELECT * FROM ({oracle} EXCEPT ALL {table}) LIMIT 3").fetchall()
    rows = con.execute(f"SELECT count(*) FROM ({table})").fetchone()[0]
    if extra or missing:
        expected = con.execute(f"SELECT count(*) FROM ({oracle})").fetchone()[0]
        raise AssertionError(
            f"{name}: {rows} rows vs oracle {expected}; columns {columns}\n"
            f"  only in the table: {extra}\n  only in the oracle: {missing}"
        )
    return rows


def materialise_oracles(con, names=DYNAMIC_TABLES) -> None:
    """Create TEMP tables ORACLE_<DT> from the hand-written oracle files, upstream first."""
    for name in names:
        con.execute(f"CREATE OR REPLACE TEMP TABLE ORACLE_{name} AS {oracle_sql(name)}")


def check_oracles(db: Path, names=DYNAMIC_TABLES, *, avg_tolerance: float = 0.0) -> dict[str, int]:
    """Every dynamic table of the database at ``db`` equals its oracle; returns rows compared."""
    with connect(db) as con:
        materialise_oracles(con)
        return {name: compare_with_oracle(con, name, avg_tolerance=avg_tolerance) for name in names}


@pytest.fixture(scope="module")
def aggregate_state_kept():
    """Grouped tables keep aggregate state even when their groups are small, as the tiny tables of
    the tests using this are: the state's own behaviour is under test there, not the choice."""
    from engine.backends.local.incremental import orchestrator

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(orchestrator, "SMALL_GROUPS", 0)
        yield
