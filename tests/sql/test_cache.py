"""The cache of compiled-query values: a hit returns what was computed, any change of input or
code misses, failures are not kept, and an unusable directory is ignored."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from engine.sql import cache


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


def test_a_second_call_reads_the_first_value(folder):
    compute, calls = counting({"sql": "SELECT 1", "n": [1, 2]})
    assert cache.cached("t", ("SELECT 1",), compute) == {"sql": "SELECT 1", "n": [1, 2]}
    assert cache.cached("t", ("SELECT 1",), compute) == {"sql": "SELECT 1", "n": [1, 2]}
    assert len(calls) == 1
    assert len(list((folder / "t").glob("*.json"))) == 1


def test_other_inputs_or_kinds_miss(folder):
    compute, calls = counting("x")
    cache.cached("t", ("a", {"T": {"C": "DATE"}}), compute)
    cache.cached("t", ("a", {"T": {"C": "VARCHAR"}}), compute)
    cache.cached("u", ("a", {"T": {"C": "DATE"}}), compute)
    assert len(calls) == 3


def test_none_is_a_value(folder):
    compute, calls = counting(None)
    assert cache.cached("t", (1,), compute) is None
    assert cache.cached("t", (1,), compute) is None
    assert len(calls) == 1


def test_a_change_of_code_misses(folder, monkeypatch):
    compute, calls = counting("x")
    cache.cached("t", (1,), compute)
    monkeypatch.setattr(cache, "code_version", lambda: "another version")
    cache.cached("t", (1,), compute)
    assert len(calls) == 2


def test_failures_are_not_kept(folder):
    def fail():
        raise ValueError("no")

    with pytest.raises(ValueError):
        cache.cached("t", (1,), fail)
    compute, calls = counting("x")
    assert cache.cached("t", (1,), compute) == "x" and calls == [1]


def test_a_corrupt_entry_is_computed_again(folder):
    compute, calls = counting("x")
    cache.cached("t", (1,), compute)
    next((folder / "t").glob("*.json")).write_text("{not json")
    assert cache.cached("t", (1,), compute) == "x" and len(calls) == 2


def test_off_and_unwritable_directories_compute_every_time(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPE_CACHE_DIR", "off")
    compute, calls = counting("x")
    cache.cached("t", (1,), compute)
    cache.cached("t", (1,), compute)
    assert len(calls) == 2
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("PIPE_CACHE_DIR", str(blocker / "cache"))  # under a file: cannot be made
    assert cache.cached("t", (1,), compute) == "x" and len(calls) == 3


def test_validate_reads_translations_back(folder):
    import engine
    from helpers import ENGAGEMENT

    first = engine.validate(ENGAGEMENT)
    translations = {n: first.graph.duckdb_sql(n) for n in first.graph.dynamic_tables}
    assert len(list((folder / "duckdb").glob("*.json"))) == len(translations)
    again = engine.validate(ENGAGEMENT)
    assert {n: again.graph.duckdb_sql(n) for n in again.graph.dynamic_tables} == translations


@pytest.mark.parametrize(
    "value",
    [
        ["compiled", "SELECT a FROM t", {"T": [["A", "NUMBER(38,0)"], ["B", None]]}],
        {"b": 1, "a": [1.5, -0.0, 1e300, 10**30, True, False, None], "ü": "café \"q\" \\ \n \t \u2028 😀"},
        [[], {}, "", [[["deep"]]], {"z": {"y": {"x": 1}}}],
        ["a date-like object", datetime.date(2024, 1, 31), Path("some/where")],
    ],
)
def test_keys_and_entries_are_written_as_json_dumps_writes_them(value):
    """Keys and entries are written by encoders made once (cache._json_writer), as json.dumps would
    write them: a key changed by it would miss every entry kept before."""
    assert cache._key_text(value) == json.dumps(value, sort_keys=True, default=str)
    if not any(isinstance(v, (datetime.date, Path)) for v in value):
        assert cache._entry_text(value) == json.dumps(value)
    else:
        with pytest.raises(TypeError):
            cache._entry_text(value)
