"""Opening the local database: its bookkeeping format is checked before anything is read."""

from pathlib import Path

import duckdb
import pytest

from engine import project as api
from engine.errors import BackendError

SHOP = Path(__file__).resolve().parents[2] / "fixtures" / "incremental" / "shop.yaml"


def test_a_database_of_another_format_is_refused_not_misread(tmp_path):
    project = api.validate(SHOP)
    db = tmp_path / "shop.duckdb"
    with project.backend("local", db=db) as backend:
        api.apply(project, backend)
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE _PIPE.FORMAT SET VERSION = 99")
    for read_only in (False, True):
        with pytest.raises(BackendError, match="format 99, this pipe reads format 1"):
            project.backend("local", db=db, read_only=read_only)


def test_a_new_database_records_its_format(tmp_path):
    project = api.validate(SHOP)
    db = tmp_path / "shop.duckdb"
    with project.backend("local", db=db) as backend:
        api.apply(project, backend)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT VERSION FROM _PIPE.FORMAT").fetchall() == [(1,)]
