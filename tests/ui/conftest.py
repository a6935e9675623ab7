"""Fixtures of the page's tests: pipelines applied to temporary databases, a headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import ENGAGEMENT, ENGAGEMENT_EDGES, FIXTURES

WIDE = FIXTURES / "ui" / "wide.yaml"
SCREENSHOTS = Path(__file__).parent / "screenshots"
"""Where the browser tests leave their 1400x900 screenshots for review (git-ignored)."""
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

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
    return copy_db(_applied_template, tmp_path / "engagement.duckdb")


@pytest.fixture(scope="session")
def wide_project():
    """The validated 40-table fixture pipeline."""
    import engine

    return engine.validate(WIDE)


@pytest.fixture(scope="session")
def _wide_template(tmp_path_factory, wide_project) -> Path:
    import engine

    path = tmp_path_factory.mktemp("ui-wide") / "wide.duckdb"
    with wide_project.backend("local", db=path) as backend:
        engine.apply(wide_project, backend)
    return path


@pytest.fixture
def wide_db(tmp_path, _wide_template) -> Path:
    """A fresh copy of a database the 40-table fixture was applied to."""
    return copy_db(_wide_template, tmp_path / "wide.duckdb")


def copy_db(source: Path, target: Path) -> Path:
    """Copy a DuckDB file (and its WAL, if any) to ``target``."""
    shutil.copy(source, target)
    wal = source.with_name(source.name + ".wal")
    if wal.exists():
        shutil.copy(wal, target.with_name(target.name + ".wal"))
    return target


@pytest.fixture(scope="session")
def browser():
    """A headless Debian Chromium driven by Playwright (skipped when either is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_page(browser, width: int = 1400, height: int = 900):
    """A page at ``width`` x ``height`` that records script errors and every URL it requests."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.problems = []  # type: ignore[attr-defined]
    page.requests = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and page.problems.append(msg.text))
    page.on("request", lambda request: page.requests.append(request.url))
    return page


def screenshot(page, name: str) -> Path:
    """Save the page as ``tests/ui/screenshots/<name>.png`` for review; its path."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
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
