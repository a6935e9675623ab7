"""The page's server on 127.0.0.1: its routes, its checks, and streams run in the serving process."""

from __future__ import annotations

import json
import signal
import socket
import threading
import urllib.error
import urllib.request

import pytest

from engine.errors import PipeError
from engine.ui import UiServer

from .conftest import DYNAMIC, NODES, start_pipe, wait_for


def get(url: str, headers: dict | None = None):
    """(status, content type, body) of a GET."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def post(url: str, body: dict | None = None, headers: dict | None = None):
    """(status, JSON) of a POST of ``body`` as JSON."""
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def state(server) -> dict:
    status, kind, body = get(server.url + "api/state")
    assert status == 200 and kind == "application/json"
    return json.loads(body)


def history_keys(payload: dict) -> set:
    return {(r["NAME"], r["REFRESH_START_TIME"]) for r in payload["history"]}


@pytest.fixture
def server(project, applied_db):
    backend = project.backend("local", db=applied_db)
    ui = UiServer(project, backend, port=0, interval=0.2)
    ui.start()
    yield ui
    ui.close()
    backend.close()


def test_serves_the_page_and_its_assets(server):
    assert server.url.startswith("http://127.0.0.1:")
    assert server._httpd.effective_host == "127.0.0.1"
    status, kind, body = get(server.url)
    assert status == 200 and kind.startswith("text/html")
    assert b"/static/app.js" in body and b"/static/style.css" in body
    for name, expected in (("app.js", "text/javascript"), ("style.css", "text/css")):
        status, kind, body = get(server.url + "static/" + name)
        assert status == 200 and kind.startswith(expected) and body
    assert get(server.url + "static/nothing.js")[0] == 404
    assert get(server.url + "static/..%2Fserver.py")[0] == 404
    assert get(server.url + "api/nothing")[0] == 404


def test_state(server):
    payload = state(server)
    assert payload["error"] is None
    assert {n["name"] for n in payload["nodes"]} == NODES and len(payload["edges"]) == 7
    assert payload["dashboard"][0]["name"] == "ENGAGEMENT_DASHBOARD"
    assert payload["stream"]["available"] and not payload["stream"]["running"]
    assert payload["stream"]["table"] == "RAW_INTERACTIONS"


def test_a_streamed_batch_shows_up_as_new_refreshes(server):
    before = state(server)
    rows_before = next(n["rows"] for n in before["nodes"] if n["name"] == "RAW_INTERACTIONS")
    status, answer = post(server.url + "api/stream", {"batches": 1, "records": 40})
    assert status == 202 and answer["stream"]["running"]

    after = wait_for(lambda: (lambda s: s if not s["stream"]["running"] else None)(state(server)))
    assert after["stream"]["error"] is None
    assert after["stream"]["rows"] == 40 and after["stream"]["batch"] == 1
    rows_after = next(n["rows"] for n in after["nodes"] if n["name"] == "RAW_INTERACTIONS")
    assert rows_after == rows_before + 40
    new = [r for r in after["history"] if (r["NAME"], r["REFRESH_START_TIME"]) not in history_keys(before)]
    assert {r["NAME"] for r in new} == set(DYNAMIC)  # the whole cascade refreshed
    # A batch changes MEMBER_SESSIONS' input: one of its refreshes since then did work (a later one
    # may find nothing new, when the scheduler's tick after the batch already refreshed it).
    sessions = [r for r in new if r["NAME"] == "MEMBER_SESSIONS"]
    assert all(r["STATE"] == "SUCCEEDED" for r in sessions)
    assert {r["REFRESH_ACTION"] for r in sessions} & {"INCREMENTAL", "FULL"}


def test_one_stream_at_a_time_and_stop(server):
    status, _ = post(server.url + "api/stream", {"batches": 3, "records": 10, "delay": 60})
    assert status == 202
    wait_for(lambda: state(server)["stream"]["batch"] == 1)
    status, answer = post(server.url + "api/stream", {"batches": 1})
    assert status == 409 and "already running" in answer["error"]
    assert post(server.url + "api/stream/stop")[0] == 200
    final = wait_for(lambda: (lambda s: s if not s["stream"]["running"] else None)(state(server)), timeout=10)
    assert final["stream"]["message"] == "stopped after 1 batch(es)"


def test_bad_stream_requests_are_refused(server):
    status, answer = post(server.url + "api/stream", {"batches": 0})
    assert status == 400 and answer["error"] == "batches must be between 1 and 10000, not 0"
    status, answer = post(server.url + "api/stream", {"batches": "many"})
    assert status == 400 and answer["error"] == "batches must be a whole number, not 'many'"


def test_refresh_now(server):
    status, answer = post(server.url + "api/refresh")
    assert status == 200 and answer["refreshes"] == len(DYNAMIC)
    payload = state(server)
    manual = [r for r in payload["history"] if r["REFRESH_TRIGGER"] == "MANUAL"]
    assert {r["NAME"] for r in manual} == set(DYNAMIC)


def test_refuses_other_hosts_and_cross_site_writes(server):
    assert get(server.url + "api/state", {"Host": "attacker.example"})[0] == 403  # DNS rebinding
    assert post(server.url + "api/stream", {}, {"Origin": "http://attacker.example"})[0] == 403
    request = urllib.request.Request(server.url + "api/stream", data=b"batches=1", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:  # a form post: not JSON
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 415


def test_concurrent_readers_while_streaming(server):
    """One lock serializes every backend call: many pollers and a stream do not collide."""
    errors: list = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                payload = state(server)
                if payload.get("error"):
                    errors.append(payload["error"])
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(repr(exc))

    readers = [threading.Thread(target=poll) for _ in range(6)]
    for reader in readers:
        reader.start()
    try:
        assert post(server.url + "api/stream", {"batches": 3, "records": 30, "delay": 0})[0] == 202
        wait_for(lambda: not state(server)["stream"]["running"])
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert errors == []
    assert state(server)["stream"]["rows"] == 90


def test_port_in_use(project, applied_db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with project.backend("local", db=applied_db) as backend:
            with pytest.raises(PipeError, match=f"cannot listen on 127.0.0.1:{port}"):
                UiServer(project, backend, port=port)


def test_pipe_stream_ui_serves_the_page_while_streaming(applied_db, tmp_path):
    """One command: stream the file's batches and watch them on the page; Ctrl-C ends it."""
    from helpers import ENGAGEMENT

    proc, url = start_pipe(
        ["stream", str(ENGAGEMENT), "--db", str(applied_db), "--ui", "--port", "0", "--no-browser",
         "--batches", "2", "--records", "20", "--delay", "0.5"],
        tmp_path,
    )
    try:
        def done():
            with urllib.request.urlopen(url + "api/state", timeout=10) as response:
                payload = json.loads(response.read())
            return payload if payload["stream"]["message"] and payload["stream"]["message"].startswith("done") else None

        payload = wait_for(done, timeout=60)
        assert payload["stream"]["rows"] == 40 and payload["stream"]["batch"] == 2
        assert any(r["NAME"] == "MEMBER_SESSIONS" and r["REFRESH_ACTION"] != "NO_DATA" for r in payload["history"])
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        proc.reader.join(10)  # type: ignore[attr-defined]
    err = proc.stderr.read()
    output = "".join(proc.found)  # type: ignore[attr-defined]
    assert proc.returncode == 130, err  # closed with Ctrl-C
    assert err.strip().splitlines()[-1] == "stopped after batch 2 of 2; 40 rows kept"
    assert "batch 2/2" in output
    assert "ENGAGEMENT_DASHBOARD" in output  # the sinks, printed once the page is closed


def test_stream_before_apply_says_what_to_do(project, tmp_path):
    with project.backend("local", db=tmp_path / "empty.duckdb") as backend:
        with UiServer(project, backend, port=0) as ui:
            status, answer = post(ui.url + "api/stream", {"batches": 1})
            assert status == 409
            assert answer["error"] == "RAW_INTERACTIONS has not been created on the target (run pipe apply first)"
            assert not state(ui)["stream"]["running"]


def test_pipe_ui_stops_cleanly_on_sigterm(applied_db, tmp_path):
    from helpers import ENGAGEMENT

    proc, url = start_pipe(["ui", str(ENGAGEMENT), "--db", str(applied_db), "--port", "0", "--no-browser"], tmp_path)
    with urllib.request.urlopen(url + "api/state", timeout=10) as response:
        assert response.status == 200
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
