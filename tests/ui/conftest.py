"""Fixtures of the page's tests: the engagement pipeline applied to a temporary database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import ENGAGEMENT, ENGAGEMENT_EDGES

DYNAMIC = [
    "MEMBER_SESSIONS", "RESOURCE_CATALOG", "SESSION_ENGAGEMENT_DETAIL", "MEMBER_ENGAGEMENT_SUMMARY", "ENGAGEMENT_DASHBOARD",
]
NODES = {"MEMBERS", "RESOURCES", "RAW_INTERACTIONS", *DYNAMIC}
EDGES = ENGAGEMENT_EDGES


@pytest.fixture(scope="session")
def project():
    """The validated engagement pipeline."""
    import engine

    return engine.validate(ENGAGEMENT)


@pytest.fixture(scope="session")
def _applied_template(tmp_path_factory, project) -> Path:
    import engine

    path = tmp_path_factory.mktemp("ui-template") / "engagement.duckdb"
    with project.backend("local", db=path) as backend:
        engine.apply(project, backend)
    return path


@pytest.fixture
def applied_db(tmp_path, _applied_template) -> Path:
    """A fresh copy of a database the engagement pipeline was applied to."""
    path = tmp_path / "engagement.duckdb"
    shutil.copy(_applied_template, path)
    wal = _applied_template.with_name(_applied_template.name + ".wal")
    if wal.exists():
        shutil.copy(wal, path.with_name(path.name + ".wal"))
    return path


def wait_for(predicate, timeout: float = 30, every: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s")


def start_pipe(args: list[str], cwd) -> tuple[subprocess.Popen, str]:
    """Start ``pipe ARGS`` and return it with the page's address, read from its output."""
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    found: list[str] = []

    def read():
        for line in proc.stdout:
            found.append(line)

    proc.reader = threading.Thread(target=read, daemon=True)  # type: ignore[attr-defined]
    proc.reader.start()  # type: ignore[attr-defined]
    try:
        line = wait_for(lambda: next((x for x in found if "serving http://127.0.0.1:" in x), None), timeout=60)
    except AssertionError:
        proc.kill()
        raise AssertionError(f"pipe did not start: {proc.stderr.read()}") from None
    proc.found = found  # type: ignore[attr-defined]
    return proc, line.split("serving ", 1)[1].split()[0]
