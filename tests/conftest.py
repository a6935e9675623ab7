"""Shared fixtures: fixture folders, pipelines loaded from them, and the CLI as a user runs it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import FIXTURES, ROOT, Run


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt in this process, as in a terminal's foreground job, even
    when the test run was started as a background job (which starts with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def pipeline_dir(tmp_path: Path):
    """Copy a folder of tests/fixtures (default ``pipelines``) to a temporary directory.

    Returns a function: ``pipeline_dir("pipelines") -> Path`` of the copy.
    """

    def copy(name: str = "pipelines") -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURES / name, target)
        return target

    return copy


@pytest.fixture
def engagement_dir(tmp_path: Path) -> Path:
    """A copy of pipelines/ (engagement.yaml and its generators) in a temporary directory."""
    target = tmp_path / "pipelines"
    shutil.copytree(ROOT / "pipelines", target)
    return target


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FORCE_COLOR", None)
    env["COLUMNS"] = "200"
    return env


@pytest.fixture
def run_pipe(monkeypatch, capsys):
    """Run the CLI as a user does: ``run_pipe(*args, cwd=None, subprocess=False) -> Run``.

    By default ``engine.cli.main`` (the ``pipe`` entry point, with its error boundary) runs
    in this process with ``sys.argv`` set and output captured. ``subprocess=True`` runs
    ``python -m engine.cli`` in a child process, with stdout and stderr as pipes.
    """

    def run(*args: str, cwd: Path | None = None, subprocess: bool = False) -> Run:
        args = tuple(str(a) for a in args)
        if subprocess:
            return _run_subprocess(args, cwd)
        from engine import cli

        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["pipe", *args])
        capsys.readouterr()
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


def _run_subprocess(args: tuple[str, ...], cwd: Path | None) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_subprocess_env(),
        timeout=120,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)
