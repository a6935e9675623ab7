"""``pipe ui``: a small HTTP server on 127.0.0.1 serving the live page and its JSON.

Routes:
    ``GET /``                 the page (``static/index.html``), its assets under ``/static/``
    ``GET /api/state``        the DAG, states, latest refreshes, dashboard and stream progress
    ``POST /api/stream``      start a stream: JSON body ``{"batches": n, "records": n, "delay": s}``
    ``POST /api/stream/stop`` stop the running stream before its next batch
    ``POST /api/refresh``     refresh every dynamic table now (MANUAL)

The process serving the page is the database's only writer (see :mod:`engine.ui.worker`).
Every asset ships in the package: the page needs no network. Requests must name a loopback
host (no DNS rebinding) and POSTs must be JSON from the page's own origin (no cross-site writes).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import engine
from engine.backends.base import Backend
from engine.errors import PipeError
from engine.project import Project, StreamSettings
from engine.report import Reporter
from engine.ui.state import build_state, graph_state
from engine.ui.worker import Stopped, Worker

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_MAX_BODY = 64 * 1024


def static_file(name: str) -> bytes:
    """The bytes of one packaged asset of the page.

    Raises:
        FileNotFoundError: there is no such asset.
    """
    folder = resources.files("engine.ui") / "static"
    names = {entry.name for entry in folder.iterdir() if entry.is_file()}
    if name not in names:  # also refuses "../" and anything not shipped
        raise FileNotFoundError(name)
    return (folder / name).read_bytes()


class UiServer:
    """The page's server: HTTP threads in front of one :class:`~engine.ui.worker.Worker`.

    Use as a context manager, or call :meth:`start` and :meth:`close`.

    Args:
        project: the validated pipeline.
        backend: the open backend (this server does not close it).
        port: the loopback port; ``None`` tries 8765 then any free port, 0 picks a free port.
        reporter: receives batch and refresh events (the CLI prints them).
        interval: seconds between scheduler ticks (default: 1 for a local target, 5 for remote).
    """

    def __init__(
        self,
        project: Project,
        backend: Backend,
        *,
        port: int | None = None,
        reporter: Reporter | None = None,
        interval: float | None = None,
    ):
        self.project = project
        self.graph = project.graph
        if interval is None:
            interval = 1.0 if "scheduler" in backend.capabilities else 5.0
        self.worker = Worker(project, backend, reporter=reporter, interval=interval)
        self._min_state_age = min(interval / 2, 1.0)
        self._cache: tuple[float, dict[str, Any]] | None = None
        self._cache_lock = threading.Lock()
        self._httpd = _bind(port, self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://{HOST}:{self.port}/"

    @property
    def backend(self):
        """The backend, safe to call from any thread (each call holds the worker's lock)."""
        return self.worker.backend

    @property
    def reporter(self) -> Reporter:
        """The reporter streams should use, so the page shows their progress."""
        return self.worker.reporter

    def __enter__(self) -> UiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Serve in background threads and start the scheduler."""
        self.worker.start()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="pipe-ui-http", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving, stop the stream and the scheduler. The backend stays open."""
        if self._thread is not None and self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()
        self.worker.close()

    def wait(self) -> None:
        """Block until Ctrl-C, or SIGTERM / SIGHUP (returns normally then, for a clean close)."""
        restore = _stop_on_signals()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for signum, handler in restore.items():
                signal.signal(signum, handler)

    def run_stream(self, settings: StreamSettings, *, until_fresh: bool = False) -> None:
        """Stream ``settings``' batches in the calling thread while the page watches."""
        self.worker.run_stream(settings, until_fresh=until_fresh)

    def open_browser(self) -> bool:
        """Open the page in the desktop's browser, if there is a desktop; returns whether it tried.

        Without a display, Python's :mod:`webbrowser` would start a text browser in this
        terminal, so on Linux and BSD it is only used when ``DISPLAY`` or ``WAYLAND_DISPLAY`` is set.
        """
        desktop = sys.platform in ("darwin", "win32") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        if not desktop:
            return False
        import webbrowser

        threading.Thread(target=webbrowser.open, args=(self.url,), daemon=True).start()
        return True

    # -- what the routes do -------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The payload of ``GET /api/state`` (rebuilt at most every half interval)."""
        with self._cache_lock:
            now = time.monotonic()
            if self._cache is None or now - self._cache[0] >= self._min_state_age:
                self._cache = (now, self._build())
            state = dict(self._cache[1])
        state["stream"] = dict(self.worker.stream)
        if self.worker.error and not state.get("error"):
            state["error"] = self.worker.error
        return state

    def _build(self) -> dict[str, Any]:
        try:
            state = self.worker.read(lambda backend: build_state(self.graph, backend))
            state["error"] = None
            return state
        except Stopped:
            raise
        except PipeError as exc:
            message = str(exc)
        except Exception as exc:  # keep serving; the page shows what went wrong
            message = f"internal error: {type(exc).__name__}: {exc}"
        state = graph_state(self.graph)
        state.update(history=[], dashboard=[], target=self.worker.backend.name, generated_at=None, error=message)
        return state

    def stream(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a stream in the background (``POST /api/stream``)."""
        settings = engine.stream_settings(
            self.project,
            batches=_number(body, "batches", int),
            records=_number(body, "records", int),
            delay=_number(body, "delay", float),
        )
        self.worker.start_stream(settings)
        self._cache = None
        return {"stream": dict(self.worker.stream)}

    def stop_stream(self) -> dict[str, Any]:
        """Ask the running stream to stop (``POST /api/stream/stop``)."""
        self.worker.stop_stream()
        return {"stream": dict(self.worker.stream)}

    def refresh(self) -> dict[str, Any]:
        """Refresh every dynamic table now (``POST /api/refresh``)."""
        count = self.worker.refresh()
        self._cache = None
        return {"refreshes": count}


def _stop_on_signals() -> dict:
    """Make SIGTERM and SIGHUP stop :meth:`UiServer.wait` as Ctrl-C does; the handlers replaced.

    A killed server would leave the database without a clean close.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    replaced = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            replaced[signum] = signal.signal(signum, interrupt)
    return replaced


def _number(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise PipeError(f"{key} must be a number, not {value!r}") from None


def _bind(port: int | None, app: UiServer) -> ThreadingHTTPServer:
    candidates = [DEFAULT_PORT, 0] if port is None else [port]
    for candidate in candidates:
        try:
            httpd = _HTTPServer((HOST, candidate), _Handler)
        except OSError as exc:
            if candidate == candidates[-1]:
                raise PipeError(
                    f"cannot listen on {HOST}:{candidate}: {exc.strerror or exc}",
                    hint="pass --port with another number, or --port 0 for any free port",
                ) from None
            continue
        httpd.app = app
        return httpd
    raise AssertionError("unreachable")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: UiServer


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "pipe-ui"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the page polls every second."""

    # -- routing ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        if not self._loopback_host():
            return
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            return self._asset("index.html")
        if path.startswith("/static/"):
            return self._asset(path[len("/static/"):])
        if path == "/api/state":
            try:
                return self._json(self.server.app.state())
            except Stopped:
                return self._json({"error": "the server is stopping"}, HTTPStatus.SERVICE_UNAVAILABLE)
        self._json({"error": f"no such page: {path}"}, HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:
        if not self._loopback_host() or not self._same_origin_json():
            return
        path = self.path.split("?", 1)[0]
        app = self.server.app
        routes = {
            "/api/stream": lambda body: (app.stream(body), HTTPStatus.ACCEPTED),
            "/api/stream/stop": lambda body: (app.stop_stream(), HTTPStatus.OK),
            "/api/refresh": lambda body: (app.refresh(), HTTPStatus.OK),
        }
        if path not in routes:
            return self._json({"error": f"no such action: {path}"}, HTTPStatus.NOT_FOUND)
        try:
            body = self._body()
            payload, status = routes[path](body)
        except Stopped:
            return self._json({"error": "the server is stopping"}, HTTPStatus.SERVICE_UNAVAILABLE)
        except PipeError as exc:
            return self._json({"error": str(exc)}, HTTPStatus.CONFLICT)
        except Exception as exc:  # a bug: say so to the page instead of dropping the connection
            message = f"internal error: {type(exc).__name__}: {exc}"
            return self._json({"error": message}, HTTPStatus.INTERNAL_SERVER_ERROR)
        self._json(payload, status)

    # -- checks -------------------------------------------------------------------------------

    def _loopback_host(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        if host in ("127.0.0.1", "localhost", "::1"):
            return True
        self._json({"error": "pipe ui answers only to 127.0.0.1 / localhost"}, HTTPStatus.FORBIDDEN)
        return False

    def _same_origin_json(self) -> bool:
        origin = self.headers.get("Origin")
        host = self.headers.get("Host", "")
        if origin is not None and origin not in (f"http://{host}",):
            self._json({"error": "cross-origin requests are refused"}, HTTPStatus.FORBIDDEN)
            return False
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            self._json({"error": "send JSON (Content-Type: application/json)"}, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
            return False
        return True

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise PipeError("request body too large")
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise PipeError("the request body is not JSON") from None
        if not isinstance(body, dict):
            raise PipeError("the request body must be a JSON object")
        return body

    # -- responses ----------------------------------------------------------------------------

    def _asset(self, name: str) -> None:
        try:
            data = static_file(name)
        except FileNotFoundError:
            return self._json({"error": f"no such file: {name}"}, HTTPStatus.NOT_FOUND)
        kind = _TYPES.get(os.path.splitext(name)[1], "application/octet-stream")
        self._send(data, f"{kind}; charset=utf-8")

    def _json(self, payload: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(json.dumps(payload, default=str).encode(), "application/json", status)

    def _send(self, data: bytes, content_type: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        if status >= 400:
            self.close_connection = True  # a refused request's body may be unread
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)
