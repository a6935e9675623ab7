"""The app that runs one command holds that command alone, and answers as the app of every command."""

from __future__ import annotations

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from engine.cli import COMMANDS, app, app_for

NAMES = [command.__name__ for command in COMMANDS]


def _answer(the_app, args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(the_app, args, prog_name="pipe")
    return result.exit_code, result.output


def test_every_command_is_registered_in_order():
    assert list(get_command(app).commands) == NAMES
    assert NAMES[:2] == ["validate", "plan"] and len(set(NAMES)) == len(NAMES) == 14


@pytest.mark.parametrize("name", NAMES)
def test_a_named_command_runs_in_an_app_of_its_own(name):
    narrowed = app_for([name, "--help"])
    assert list(get_command(narrowed).commands) == [name]
    code, text = _answer(narrowed, [name, "--help"])
    assert (code, text) == _answer(app, [name, "--help"])
    assert code == 0 and text.startswith(f"Usage: pipe {name} [OPTIONS]")


@pytest.mark.parametrize(
    "args",
    [["plan"], ["plan", "--bogus", "f.yaml"], ["plan", "--format", "xml", "f.yaml"], ["validate", "a", "b"]],
    ids=["missing-file", "unknown-option", "bad-choice", "extra-argument"],
)
def test_usage_errors_read_the_same(args):
    code, text = _answer(app_for(args), args)
    assert (code, text) == _answer(app, args)
    assert code == 2 and "Error" in text


@pytest.mark.parametrize("args", [[], ["--help"], ["--version"], ["plna", "x"], ["--debug", "plan"]])
def test_anything_else_runs_in_the_app_of_every_command(args):
    assert app_for(args) is app


def test_completion_asks_the_app_of_every_command(monkeypatch):
    monkeypatch.setenv("_PIPE_COMPLETE", "complete_bash")
    assert app_for(["plan", "x"]) is app
