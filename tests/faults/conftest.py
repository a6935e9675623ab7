"""Fault injection against the local target: one clean database per session, copied for each
case, then broken from outside (another DuckDB client, SIGKILL, a full or read-only disk) and
checked with the hand-written oracles of tests/backends/local.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from backends.local.conftest import Applied, apply_engagement, check_oracles, row_counts  # noqa: F401


@pytest.fixture(scope="session")
def clean(tmp_path_factory) -> Applied:
    """engagement.yaml applied once; tests copy it (see ``fresh``) and never change it."""
    return apply_engagement(tmp_path_factory.mktemp("faults"))


@pytest.fixture
def fresh(clean, tmp_path) -> Applied:
    """A private copy of the clean database, for one test to break."""
    db = tmp_path / "engagement.duckdb"
    shutil.copy(clean.db, db)
    return Applied(clean.folder, db)


def outside(db: Path, *statements: str) -> None:
    """Run ``statements`` with a plain DuckDB client, as another tool would, in the schema."""
    with duckdb.connect(str(db)) as con:
        con.execute("USE DYNAMIC_TABLES")
        for statement in statements:
            con.execute(statement)


def scalar(db: Path, sql: str):
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("USE DYNAMIC_TABLES")
        return con.execute(sql).fetchone()[0]
