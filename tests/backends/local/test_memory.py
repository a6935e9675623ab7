"""DuckDB's memory is bounded by default and spills to a folder beside the database."""

from __future__ import annotations

import pytest

from engine.backends.local.store import open_store
from engine.errors import BackendError

from .conftest import Applied, check_oracles, pipeline_dir, run_pipe

GIB = 1024**3


def _setting(store, name: str) -> str:
    return store.con.execute(f"SELECT current_setting('{name}')").fetchone()[0]


def _bytes(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"KiB": 1024, "MiB": 1024**2, "GiB": GIB, "TiB": 1024**4}[unit]


def test_the_default_limit_is_three_gigabytes_and_spills_beside_the_database(tmp_path, monkeypatch):
    monkeypatch.delenv("PIPE_MEMORY_LIMIT", raising=False)
    store = open_store(tmp_path / "p.duckdb", "DB", "SC")
    try:
        assert abs(_bytes(_setting(store, "memory_limit")) - 3e9) < 0.1 * GIB  # shown cut to one decimal of a GiB
        assert _setting(store, "temp_directory") == str(tmp_path / "p.duckdb.tmp")
    finally:
        store.close()


def test_the_limit_comes_from_the_argument_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPE_MEMORY_LIMIT", "500MB")
    store = open_store(tmp_path / "p.duckdb", "DB", "SC")
    try:
        assert abs(_bytes(_setting(store, "memory_limit")) - 500e6) < 1024**2
    finally:
        store.close()
    store = open_store(tmp_path / "p.duckdb", "DB", "SC", memory_limit="8GB")
    try:
        assert abs(_bytes(_setting(store, "memory_limit")) - 8e9) < 0.1 * GIB  # shown cut to one decimal of a GiB
    finally:
        store.close()


def test_a_limit_that_is_not_a_size_is_one_clear_error(tmp_path):
    with pytest.raises(BackendError, match="memory limit 'lots' is not a size"):
        open_store(tmp_path / "p.duckdb", "DB", "SC", memory_limit="lots")


@pytest.mark.slow
def test_an_apply_far_above_the_limit_spills_and_computes_the_same_tables(tmp_path, monkeypatch):
    """200,000 interactions under 150 MB of DuckDB memory: every table still equals its oracle."""
    monkeypatch.setenv("PIPE_MEMORY_LIMIT", "150MB")  # inherited by the pipe process
    folder = pipeline_dir(tmp_path / "pipeline")
    run = Applied(folder, tmp_path / "small.duckdb")
    run_pipe("apply", folder / "engagement_200k.yaml", "--db", run.db, "--yes", ok=True)
    check_oracles(run.db)


@pytest.mark.parametrize("message,hint", [
    ("T: Out of Memory Error: could not allocate block of size 256.0 KiB (2.7 GiB/2.7 GiB used)",
     "raise --memory-limit (or PIPE_MEMORY_LIMIT) and refresh again"),
    ("T: Conversion Error: Could not convert string 'x' to INT32", "fix the query or the data"),
])
def test_a_refresh_that_ran_out_of_memory_says_to_raise_the_limit(tmp_path, monkeypatch, message, hint):
    """DuckDB's own out-of-memory message is kept; the hint points at the limit, not at the query."""
    from pathlib import Path

    from engine import project as api
    from engine.backends.base import RefreshRecord
    from engine.report import Silent

    shop = Path(__file__).resolve().parents[2] / "fixtures" / "incremental" / "shop.yaml"
    project = api.validate(shop)
    with project.backend("local", db=tmp_path / "shop.duckdb") as backend:
        api.apply(project, backend)
        failed = RefreshRecord("T", "FAILED", message, None, "MANUAL", None, None, None)
        monkeypatch.setattr(backend.refresher, "refresh", lambda *args, **kwargs: [failed])
        with pytest.raises(BackendError) as caught:
            backend.refresh([], reporter=Silent())
    assert str(caught.value).startswith(f"refresh failed: {message}")
    assert caught.value.hint.startswith(hint) and "keeps its previous contents" in caught.value.hint
