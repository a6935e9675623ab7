"""Every kind of bad input gets one clear ``error:`` line with where it is, exit code 1, no traceback.

Each file in tests/fixtures/bad/ is one case (see the README there): its first two lines say
the text the error must contain and where it must point. The expected positions were worked
out by reading each fixture, not copied from pipe's output.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import BAD

CASES = sorted(BAD.glob("*.yaml"))
_HEADER = re.compile(r"^# (error|at): (.*)$")


def expectation(path: Path) -> tuple[str, str]:
    """The ``# error:`` and ``# at:`` texts of a fixture."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines()[:2]:
        match = _HEADER.match(line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    assert set(found) == {"error", "at"}, f"{path.name} must start with '# error:' and '# at:' lines"
    return found["error"], found["at"]


def where_pattern(case: str, at: str) -> re.Pattern:
    """What the error line must start with for an ``# at:`` value.

    ``L:C`` is exactly that line and column of the case file; ``L`` that line (any column or
    none); ``-`` the file without a line; ``path:L[:C]`` a position in another file.
    """
    if at == "-":
        return re.compile(rf"^error: {re.escape(case)}: ")
    other = re.fullmatch(r"(.+\.\w+):(\d+(?::\d+)?)", at)
    if other:
        return re.compile(rf"^error: .*{re.escape(other.group(1))}:{other.group(2)}(:\d+)?: ")
    if re.fullmatch(r"\d+", at):
        return re.compile(rf"^error: {re.escape(case)}:{at}(:\d+)?: ")
    assert re.fullmatch(r"\d+:\d+", at), f"bad '# at:' value {at!r}"
    return re.compile(rf"^error: {re.escape(case)}:{at}: ")


def test_there_is_a_case_for_every_listed_kind_of_bad_input():
    names = {p.stem for p in CASES}
    # The kinds of bad input the issue lists, each with at least one fixture.
    required = {
        "malformed_yaml", "unknown_key", "wrong_type_seed", "duplicate_key", "duplicate_name",
        "invalid_identifier_table", "unknown_table", "sql_syntax_error", "cycle", "self_reference",
        "lag_unparseable", "lag_negative", "lag_under_minimum", "lag_shorter_than_upstream",
        "unknown_generator", "generator_module_missing", "generator_handler_missing",
        "argument_count_table", "empty_sql", "undefined_var", "sandbox_class", "empty_file",
        "not_a_mapping", "unsupported_version", "stream_unknown_table", "stream_unknown_generator",
    }
    assert required <= names, f"missing fixtures: {sorted(required - names)}"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_bad_input_gives_one_clear_error(path: Path, run_pipe):
    error, at = expectation(path)
    result = run_pipe("validate", path.name, cwd=path.parent)

    assert result.code == 1, f"exit code {result.code}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in result.stderr
    assert len(result.error_lines) == 1, result.stderr
    line = result.error_lines[0]
    assert error in line, f"expected {error!r} in:\n{line}"
    assert where_pattern(path.name, at).match(line), f"expected the position {at} in:\n{line}"
    assert "✓" not in result.stdout  # nothing claims the file is valid


@pytest.mark.parametrize("name", ["unknown_key", "cycle", "sql_syntax_error", "sandbox_class"])
def test_bad_input_in_a_real_process(name: str, run_pipe):
    """The same, through ``python -m engine.cli`` in a child process (what a shell runs)."""
    path = BAD / f"{name}.yaml"
    error, _ = expectation(path)
    result = run_pipe("validate", path.name, cwd=BAD, subprocess=True)
    assert result.code == 1
    assert "Traceback" not in result.stderr
    assert len(result.error_lines) == 1 and error in result.error_lines[0]
    assert result.stdout == ""


def test_sql_errors_show_the_line_with_a_caret(run_pipe):
    result = run_pipe("validate", "sql_syntax_error.yaml", cwd=BAD)
    lines = result.stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("error:"))
    assert "[SQL line 3, col 12]" in lines[at]
    assert lines[at + 1] == "WHERE id = = 3"
    assert lines[at + 2] == " " * 11 + "^"


def test_debug_shows_the_traceback(run_pipe):
    result = run_pipe("validate", "cycle.yaml", "--debug", cwd=BAD, subprocess=True)
    assert result.code != 0
    assert "Traceback" in result.stderr and "CycleError" in result.stderr


def test_missing_file(run_pipe, tmp_path):
    result = run_pipe("validate", "nowhere.yaml", cwd=tmp_path)
    assert result.code == 1
    assert result.error_lines == ["error: no such file: nowhere.yaml (check the path)"]
