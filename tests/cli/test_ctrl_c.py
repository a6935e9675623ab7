"""Ctrl-C ends every command with one line saying what it kept, exit 130, and never "error".

Each test sends a real SIGINT: to a child process that runs a minutes-long statement (the
three-way cross join of tests/fixtures/local/slow.yaml), or to this process at a chosen step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from engine import project as api
from helpers import FIXTURES

SLOW = FIXTURES / "local" / "slow.yaml"

pytestmark = pytest.mark.usefixtures("ctrl_c_raises")  # the tests send this process a real SIGINT


def _start(args, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a foreground job gets it
    )


def _wait_for_cpu(pid: int, seconds: float, timeout: float = 60) -> None:
    """Wait until process ``pid`` has used ``seconds`` of CPU: past start-up, inside the long statement."""
    stat = f"/proc/{pid}/stat"
    if not os.path.exists(stat):
        time.sleep(seconds + 2)
        return
    ticks = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(stat) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        if (int(fields[11]) + int(fields[12])) / ticks >= seconds:
            return
        time.sleep(0.2)


def _interrupt(proc: subprocess.Popen) -> tuple[str, str]:
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    pressed = time.monotonic()
    out, err = proc.communicate(timeout=120)
    assert time.monotonic() - pressed < 15  # the running statement was cancelled, not waited for
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "error" not in err  # a clean stop is not a failure
    return out, err


@pytest.fixture
def slow(tmp_path):
    """slow.yaml applied to a database whose NUMBERS make PAIRS' query run for minutes; (folder, db)."""
    shutil.copy(SLOW, tmp_path / "slow.yaml")
    db = tmp_path / "slow.duckdb"
    project = api.validate(tmp_path / "slow.yaml")
    with project.backend("local", db=db) as backend:
        api.apply(project, backend)
        backend.query("INSERT INTO NUMBERS SELECT range FROM range(5000)")
    return tmp_path, db


def test_ctrl_c_during_apply_keeps_nothing_of_it(slow, run_pipe):
    folder, db = slow
    text = (folder / "slow.yaml").read_text()
    (folder / "slow.yaml").write_text(text.replace("a.n * b.n <> c.n", "a.n * b.n <> c.n + 1"))
    apply = _start(["apply", "slow.yaml", "--db", str(db), "--yes"], folder)
    _wait_for_cpu(apply.pid, seconds=3)  # inside the replaced table's initial refresh
    _, err = _interrupt(apply)
    assert err.strip().splitlines()[-1] == "stopped; nothing was applied (a local run is all or nothing)"
    plan = run_pipe("plan", "slow.yaml", "--db", db, "--format", "json", cwd=folder)
    actions = {(a["action"], a["name"]) for a in json.loads(plan.stdout)["actions"]}
    assert ("replace", "PAIRS") in actions  # the replace is still to do


def test_ctrl_c_during_query_cancels_the_statement(slow, run_pipe):
    folder, db = slow
    sql = "INSERT INTO NUMBERS SELECT COUNT(*) FROM NUMBERS a, NUMBERS b, NUMBERS c WHERE a.n * b.n <> c.n"
    query = _start(["query", "slow.yaml", sql, "--db", str(db)], folder)
    _wait_for_cpu(query.pid, seconds=3)
    _, err = _interrupt(query)
    assert err.strip().splitlines()[-1] == "stopped; the statement was cancelled and nothing it did was kept"
    count = run_pipe("query", "slow.yaml", "SELECT COUNT(*) AS N FROM NUMBERS", "--db", db, "--format", "json", cwd=folder)
    assert json.loads(count.stdout) == [{"N": 5000}]  # no row of the INSERT


def test_ctrl_c_ends_pipe_ui_saying_what_it_kept(slow):
    folder, db = slow
    ui = _start(["ui", "slow.yaml", "--db", str(db), "--port", "0", "--no-browser"], folder)
    line = ui.stdout.readline()
    assert line.startswith("pipe ui: serving http://127.0.0.1:"), line + ui.stderr.read()
    time.sleep(1)
    _, err = _interrupt(ui)
    assert re.fullmatch(
        r"stopped pipe ui; kept 0 rows streamed and \d+ refreshes \(every batch and refresh it made is committed\)",
        err.strip().splitlines()[-1],
    )


def _ctrl_c_at(monkeypatch, owner, name: str, after: int = 0) -> list:
    """Send this process a SIGINT when ``owner.name`` is called for the ``after``+1-th time,
    after that call has run; the calls seen."""
    original = getattr(owner, name)
    calls = []

    def call(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append(args)
        if len(calls) == after + 1:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(2)  # the handler raises here
        return result

    monkeypatch.setattr(owner, name, call)
    return calls


def test_ctrl_c_during_a_local_destroy_drops_nothing(tmp_path, engagement_dir, run_pipe, monkeypatch):
    from engine.backends.local.apply import Applier

    db = tmp_path / "e.duckdb"
    assert run_pipe("apply", engagement_dir / "engagement.yaml", "--db", db, "--yes").code == 0
    calls = _ctrl_c_at(monkeypatch, Applier, "run")  # after the first DROP, inside the transaction
    result = run_pipe("destroy", engagement_dir / "engagement.yaml", "--db", db, "--yes")
    assert len(calls) == 1
    assert result.code == 130 and "error" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "stopped; nothing was dropped (a local run is all or nothing)"
    monkeypatch.undo()
    status = run_pipe("status", engagement_dir / "engagement.yaml", "--db", db, "--format", "json")
    states = {item["name"]: item["state"] for item in json.loads(status.stdout)}
    assert "NOT CREATED" not in states.values() and len(states) == 8  # every object is still there


def test_ctrl_c_during_refresh_names_the_tables_refreshed_before_it(tmp_path, engagement_dir, run_pipe, monkeypatch):
    from engine.backends.local.refresh import Refresher

    db = tmp_path / "e.duckdb"
    assert run_pipe("apply", engagement_dir / "engagement.yaml", "--db", db, "--yes").code == 0
    records = []
    original = Refresher.refresh

    def refresh(self, names, *, reporter=None, **kwargs):
        class Pressing:  # passes events on; presses Ctrl-C once two tables have refreshed
            def __getattr__(self, name):
                return getattr(reporter, name)

            def event(self, kind, **data):
                reporter.event(kind, **data)
                if kind == "refresh":
                    records.append(data["record"].name)
                    if len(records) == 2:
                        os.kill(os.getpid(), signal.SIGINT)
                        time.sleep(2)

        return original(self, names, reporter=Pressing(), **kwargs)

    monkeypatch.setattr(Refresher, "refresh", refresh)
    result = run_pipe("refresh", engagement_dir / "engagement.yaml", "--db", db)
    assert result.code == 130 and "error" not in result.stderr
    # the dynamic tables refresh upstream first: the first two of the create order
    assert records == ["MEMBER_SESSIONS", "RESOURCE_CATALOG"]
    assert result.stderr.strip().splitlines()[-1] == (
        "stopped after refreshing MEMBER_SESSIONS, RESOURCE_CATALOG; any other table keeps its contents"
    )
