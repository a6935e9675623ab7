"""A pipeline file parsed before is read back from pipe's cache exactly as the YAML parser gives it:
the same values (dates and timestamps included) and the same positions; what JSON cannot hold,
and errors, are never kept."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.errors import SpecError
from engine.spec import yamlsource
from engine.spec.yamlsource import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*(ROOT / "pipelines").glob("*.yaml"), *(ROOT / "tests" / "fixtures").rglob("*.yaml")])

DATES = """\
name: demo
given:
  - {day: 2025-01-01, at: 2025-01-05 10:00:00, zoned: 2001-12-14t21:59:43.10-05:00, text: '2025-01-01'}
  - [1.5, true, null, "x", 7]
"""


@pytest.fixture
def parses(tmp_path, monkeypatch):
    """The texts the YAML parser reads (a file read back from the cache is not one)."""
    monkeypatch.setenv("PIPE_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[str] = []
    real = yamlsource._parse

    def counting(text, file):
        calls.append(text)
        return real(text, file)

    monkeypatch.setattr(yamlsource, "_parse", counting)
    return calls


def same_source(one, other) -> None:
    assert (one.file, one.lines) == (other.file, other.lines)
    assert one.positions == other.positions
    assert one.key_positions == other.key_positions
    assert (one.block_scalars, one.quoted_scalars) == (other.block_scalars, other.quoted_scalars)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_file_read_back_is_the_file_parsed_and_a_refused_one_is_refused_again(path, parses):
    text = path.read_text(encoding="utf-8")
    try:
        first = parse_yaml(text, str(path))
    except SpecError as refused:
        with pytest.raises(SpecError) as again:
            parse_yaml(text, str(path))
        assert str(again.value) == str(refused) and len(parses) == 2  # errors are never kept
        return
    second = parse_yaml(text, str(path))
    assert len(parses) == 1  # the second came from the cache
    assert second[0] == first[0]
    same_source(second[1], first[1])


def test_dates_and_timestamps_come_back_as_dates_and_timestamps(parses):
    data, _ = parse_yaml(DATES, "d.yaml")
    again, _ = parse_yaml(DATES, "d.yaml")
    assert len(parses) == 1
    row = again["given"][0]
    assert row["day"] == date(2025, 1, 1) and type(row["day"]) is date
    assert row["at"] == datetime(2025, 1, 5, 10, 0, 0)
    zone = timezone(timedelta(hours=-5))
    assert row["zoned"] == datetime(2001, 12, 14, 21, 59, 43, 100000, tzinfo=zone)
    assert row["text"] == "2025-01-01"  # quoted: a string, not a date
    assert again["given"][1] == [1.5, True, None, "x", 7] and again == data


@pytest.mark.parametrize("text", ["a: !!binary aGVsbG8=\n", "1: one\n2: two\n"], ids=["binary", "number keys"])
def test_values_json_cannot_hold_are_parsed_every_time(text, parses):
    first, _ = parse_yaml(text)
    assert parse_yaml(text)[0] == first
    assert len(parses) == 2


def test_another_text_or_file_name_is_parsed_again(parses):
    parse_yaml("name: demo\n", "a.yaml")
    parse_yaml("name: demo2\n", "a.yaml")
    parse_yaml("name: demo\n", "b.yaml")  # its positions name b.yaml
    assert len(parses) == 3
