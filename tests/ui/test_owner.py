"""One database, many readers: while pipe ui holds the database, read commands go through it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import datetime
from decimal import Decimal

import pytest

from engine.errors import InUseError, SqlError
from engine.ui import owner, wire
from helpers import ENGAGEMENT

from .conftest import DYNAMIC, NODES, start_pipe

# engagement.yaml's tables: MEMBERS(1000), RESOURCES(100), RAW_INTERACTIONS(10000, 30 days)
DECLARED_ROWS = {"MEMBERS": 1000, "RESOURCES": 100, "RAW_INTERACTIONS": 10000}


@pytest.fixture
def held(applied_db, tmp_path):
    """``pipe ui`` holding a copy of the applied database; (its process, its URL, the database)."""
    proc, url = start_pipe(["ui", str(ENGAGEMENT), "--db", str(applied_db), "--port", "0", "--no-browser"], tmp_path)
    yield proc, url, applied_db
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_the_owner_file_names_the_live_process(held):
    proc, url, db = held
    path = db.with_name("engagement.owner.json")
    assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
    found = owner.find(db)
    assert found is not None and found.pid == proc.pid and found.url == url and found.command == "pipe ui"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert not path.exists()  # a clean stop removes it


def test_status_history_and_query_are_answered_by_the_owner(held, run_pipe):
    _, _, db = held
    status = run_pipe("status", ENGAGEMENT, "--db", db, "--format", "json")
    assert status.code == 0, status.stderr
    rows = {item["name"]: item for item in json.loads(status.stdout)}
    assert set(rows) == NODES
    assert {name: rows[name]["rows"] for name in DECLARED_ROWS} == DECLARED_ROWS
    assert all(rows[name]["state"] == "ACTIVE" for name in DYNAMIC)

    history = run_pipe("history", ENGAGEMENT, "MEMBER_SESSIONS", "--db", db, "--limit", "2", "--format", "json")
    assert history.code == 0, history.stderr
    records = json.loads(history.stdout)
    assert 1 <= len(records) <= 2 and {r["NAME"] for r in records} == {"MEMBER_SESSIONS"}

    sql = "SELECT COUNT(*) AS N, MIN(MEMBER_ID) AS LOW FROM MEMBERS"
    query = run_pipe("query", ENGAGEMENT, sql, "--db", db, "--format", "json")
    assert query.code == 0, query.stderr
    assert json.loads(query.stdout) == [{"N": 1000, "LOW": 10001}]  # MEMBER_ID_START of the generator module


def test_write_commands_say_who_holds_the_database_and_how_to_go_on(held, run_pipe):
    proc, url, db = held
    for args in (("refresh", ENGAGEMENT), ("apply", ENGAGEMENT, "--yes"), ("stream", ENGAGEMENT, "--batches", "1")):
        result = run_pipe(*args, "--db", db)
        assert result.code == 1, args
        lines = result.error_lines
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert lines[0] == (
            f"error: {db}: the local database is held by pipe ui (pid {proc.pid}, {url}) "
            "(stream or refresh from that page, or stop it with Ctrl-C and run this command again)"
        )
    insert = run_pipe("query", ENGAGEMENT, "DELETE FROM MEMBERS", "--db", db)
    assert insert.code == 1 and len(insert.error_lines) == 1
    assert "DELETE statements change the database" in insert.stderr and f"pid {proc.pid}" in insert.stderr
    count = run_pipe("query", ENGAGEMENT, "SELECT COUNT(*) AS N FROM MEMBERS", "--db", db, "--format", "json")
    assert json.loads(count.stdout) == [{"N": 1000}]  # nothing was deleted


def test_a_query_error_comes_back_as_the_owner_raised_it(held, run_pipe):
    _, _, db = held
    result = run_pipe("query", ENGAGEMENT, "SELECT NO_SUCH_COLUMN FROM MEMBERS", "--db", db)
    assert result.code == 1 and len(result.error_lines) == 1  # after the one-line count of lint warnings
    assert "NO_SUCH_COLUMN" in result.error_lines[0] and "Traceback" not in result.stderr


def test_a_stale_owner_file_is_ignored(tmp_path):
    db = tmp_path / "x.duckdb"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    owner.owner_file(db).write_text(json.dumps({"pid": int(dead.stdout), "port": 1, "token": "t"}))
    assert owner.find(db) is None
    owner.owner_file(db).write_text("not json")
    assert owner.find(db) is None
    error = InUseError("the local database x.duckdb is in use")
    from engine.ui.client import through_owner

    with pytest.raises(InUseError) as info:
        through_owner(db, error, read=True)
    assert info.value is error  # no live owner: the original error, as it was


def test_values_and_errors_keep_their_types_on_the_wire():
    row = [datetime(2026, 1, 2, 3, 4, 5), Decimal("1.50"), {"$": 1, "a": [1, None]}, b"\x00\xff", 2.5, "x"]
    raw = json.dumps({"query": wire._encode({"columns": ["a"], "rows": [row], "types": ["T"]})}).encode()
    assert wire.decode(raw, "query").rows == [tuple(row)]
    error = SqlError("unknown column X", hint="check the name", sql="SELECT X", sql_line=1, sql_column=8)
    with pytest.raises(SqlError) as info:
        wire.decode(wire.error(error), "query")
    assert str(info.value) == str(error) and info.value.excerpt() == error.excerpt()


def test_the_cli_endpoints_need_the_owner_token(held):
    import urllib.error
    import urllib.request

    _, url, _ = held
    for headers in ({}, {"X-Pipe-Token": "guess"}, {"X-Pipe-Token": owner.find(held[2]).token, "Origin": url.rstrip("/")}):
        request = urllib.request.Request(url + "api/cli/status", data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json", **headers})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        assert info.value.code == 403


def test_the_cli_loads_the_page_server_only_when_it_serves():
    code = "import sys, engine.cli; print(sorted(m for m in ('waitress', 'engine.ui', 'engine.ui.server') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_a_plain_stream_answers_reads_and_tells_writers_to_wait(applied_db, tmp_path, run_pipe):
    """pipe stream without --ui holds the database for its whole run; other commands still read."""
    from .conftest import wait_for

    db = applied_db
    stream = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "stream", str(ENGAGEMENT), "--db", str(db),
         "--batches", "1000", "--records", "50", "--delay", "0.2"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        found = wait_for(lambda: owner.find(db), timeout=60)
        assert found.pid == stream.pid and found.command == "pipe stream"
        seen = ""
        while "batch 2/1000" not in seen:
            seen += stream.stdout.readline()
        query = run_pipe("query", ENGAGEMENT, "SELECT COUNT(*) AS N FROM RAW_INTERACTIONS", "--db", db, "--format", "json")
        assert query.code == 0, query.stderr
        (row,) = json.loads(query.stdout)
        assert row["N"] >= 10_100 and (row["N"] - 10_000) % 50 == 0  # whole batches, 2 at least
        status = run_pipe("status", ENGAGEMENT, "--db", db, "--format", "json")
        assert status.code == 0, status.stderr
        rows = {item["name"]: item["rows"] for item in json.loads(status.stdout)}
        assert rows["MEMBERS"] == 1000 and rows["RAW_INTERACTIONS"] >= row["N"]
        history = run_pipe("history", ENGAGEMENT, "--db", db, "--format", "json")
        assert history.code == 0 and json.loads(history.stdout), history.stderr
        refresh = run_pipe("refresh", ENGAGEMENT, "--db", db)
        assert refresh.code == 1 and refresh.error_lines == [
            f"error: {db}: the local database is held by pipe stream (pid {stream.pid}) "
            "(wait for the stream to end, or stop it with Ctrl-C, and run this command again)"
        ]
    finally:
        stream.send_signal(signal.SIGINT)
        out, err = stream.communicate(timeout=60)
    assert stream.returncode == 130 and "Traceback" not in err, err
    assert not owner.owner_file(db).exists()  # released with the database
    kept = json.loads(run_pipe("query", ENGAGEMENT, "SELECT COUNT(*) - 10000 AS K FROM RAW_INTERACTIONS", "--db", db,
                               "--format", "json").stdout)[0]["K"]
    assert kept >= row["N"] - 10_000  # the stop said what the table gained
    assert err.strip().splitlines()[-1] == f"stopped after batch {kept // 50} of 1000; {kept:,} rows kept"
