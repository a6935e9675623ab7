"""The page server against bad and slow clients: real sockets on 127.0.0.1, every loop bounded."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from engine.ui import UiServer
from engine.ui.server import Limits

from .conftest import wait_for

LIMITS = Limits(max_body=1024, max_header=4096, connections=8, threads=2, timeout=1, cleanup=1)


@pytest.fixture
def server(project, applied_db):
    backend = project.backend("local", db=applied_db)
    ui = UiServer(project, backend, port=0, interval=0.2, limits=LIMITS)
    ui.start()
    yield ui
    ui.close()
    backend.close()


def exchange(server, request: bytes, timeout: float = 10) -> tuple[int, dict, bytes]:
    """Send raw ``request`` bytes; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None)
            if length is not None and len(body) >= length:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def post_raw(server, body: bytes, *, length: str | None = None, path: str = "/api/stream") -> bytes:
    size = str(len(body)) if length is None else length
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def get_raw(server, path: str = "/api/state") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nConnection: close\r\n\r\n".encode()


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "99999999999999999999999"])
def test_a_malformed_content_length_is_a_400(server, length, capfd):
    status, _, _ = exchange(server, post_raw(server, b"{}", length=length))
    assert status in (400, 413)  # the last one is a number, too large
    assert status == (413 if length.isdigit() else 400)
    assert exchange(server, get_raw(server))[0] == 200  # still serving
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"batches":1e400}', "batches must be between 1 and 10000, not 1E+400"),
        (b'{"batches":Infinity}', "the request body is not JSON"),
        (b'{"batches":NaN}', "the request body is not JSON"),
        (b'{"batches":2.5}', "batches must be a whole number, not '2.5'"),
        (b'{"batches":true}', "batches must be a whole number, not 'True'"),
        (b'{"delay":-1}', "delay must be between 0 and 86400, not -1"),
        (b'{"batches":', "the request body is not JSON"),
        (b"[1, 2]", "the request body must be a JSON object"),
        (b"[" * 500 + b"]" * 500, "the request body must be a JSON object"),
    ],
)
def test_a_malformed_body_is_a_400_saying_what_is_wrong(server, body, message, capfd):
    status, headers, answer = exchange(server, post_raw(server, body))
    assert (status, json.loads(answer)) == (400, {"error": message})
    assert headers["content-type"] == "application/json"
    assert not server.worker.streaming
    assert "Traceback" not in capfd.readouterr().err


def test_a_body_over_the_limit_is_a_413(server):
    body = json.dumps({"batches": 1, "pad": "x" * 2000}).encode()
    assert len(body) > LIMITS.max_body
    status, _, _ = exchange(server, post_raw(server, body))
    assert status == 413
    chunked = (
        f"POST /api/stream HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode() + b"".join(b"%x\r\n%s\r\n" % (200, b"x" * 200) for _ in range(8)) + b"0\r\n\r\n"
    assert exchange(server, chunked)[0] == 413
    assert not server.worker.streaming


def test_malformed_headers_are_a_400(server):
    for request in (
        b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nBroken header line\r\n\r\n",
        b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nX: a\rb\r\n\r\n",
        b"G@T /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ):
        assert exchange(server, request)[0] == 400, request
    big = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n"
    assert exchange(server, big)[0] == 431


def test_every_answer_forbids_framing(server):
    for request in (get_raw(server, "/"), get_raw(server, "/static/app.js"), get_raw(server), get_raw(server, "/nothing"),
                    post_raw(server, b"{", path="/api/stream")):
        status, headers, _ = exchange(server, request)
        assert headers["x-frame-options"] == "DENY", (request, status)
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


def test_clients_that_leave_early_cost_nothing_and_print_nothing(server, capfd):
    for _ in range(30):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(get_raw(server))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    for _ in range(10):  # and some that leave mid-request
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(post_raw(server, b'{"batches": 1}', length="14")[:-5])
    assert exchange(server, get_raw(server))[0] == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err


def test_slow_clients_neither_block_others_nor_stay_forever(server):
    threads_before = threading.active_count()
    slow = []
    for _ in range(LIMITS.connections - 2):  # half-sent requests, never finished
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        slow.append(sock)
    started = time.monotonic()
    assert exchange(server, get_raw(server))[0] == 200
    assert time.monotonic() - started < 2, "a stalled client held the server up"
    assert threading.active_count() <= threads_before  # no thread per connection
    for sock in slow:  # the server closes them after LIMITS.timeout (checked every LIMITS.cleanup)
        sock.settimeout(LIMITS.timeout + 3 * LIMITS.cleanup + 5)
        assert sock.recv(1024) == b""
        sock.close()


def test_connections_over_the_limit_wait_and_threads_stay_bounded(server):
    threads_before = threading.active_count()
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(3 * LIMITS.connections)]
    try:
        time.sleep(0.3)
        assert threading.active_count() <= threads_before
    finally:
        for sock in held:
            sock.close()
    assert wait_for(lambda: exchange(server, get_raw(server), timeout=5)[0] == 200, timeout=15)
    assert threading.active_count() <= threads_before


def test_state_is_served_from_a_snapshot_while_a_long_batch_holds_the_database(server):
    before = json.loads(exchange(server, get_raw(server))[2])
    with server.worker.lock:  # what a long batch or refresh does for its whole duration
        started = time.monotonic()
        status, _, body = exchange(server, get_raw(server), timeout=5)
        waited = time.monotonic() - started
    assert status == 200 and waited < 1.0
    during = json.loads(body)
    assert [n["rows"] for n in during["nodes"]] == [n["rows"] for n in before["nodes"]]
    assert during["error"] is None
