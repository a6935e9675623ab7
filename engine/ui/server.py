"""``pipe ui``: the live page and its JSON, served on 127.0.0.1 by waitress.

Waitress (a maintained, pure-Python WSGI server) parses requests in one event loop and runs the
application in a fixed pool of threads: a malformed request gets a 400, a body over the limit a
413, a client that stalls or disconnects costs neither a thread nor a traceback, and the number of
connections is capped. The routes are in :mod:`engine.ui.routes`.

The process serving the page is the database's only writer (see :mod:`engine.ui.worker`); while it
runs, other ``pipe`` commands find it through the owner file (:mod:`engine.ui.owner`) and send
their read commands here. State reads never touch the backend: they return the snapshot the
worker keeps, so the page stays live while a long batch or refresh runs.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import threading
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import engine
from engine.backends.base import Backend
from engine.errors import PipeError
from engine.project import Project, StreamSettings
from engine.report import Reporter
from engine.ui import owner, wire
from engine.ui.routes import Application, HttpError, number, static_file
from engine.ui.worker import Stopped, Worker

__all__ = ["DEFAULT_PORT", "HOST", "Limits", "UiServer", "static_file"]

HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@dataclass(frozen=True)
class Limits:
    """What one client may cost the server.

    Attributes:
        max_body: largest request body in bytes (larger: 413).
        max_header: largest request header block in bytes (larger: 431).
        connections: open connections at most; more wait in the listen queue.
        threads: application threads (requests being answered at once).
        timeout: seconds a connection may stay idle, or stall mid-request, before it is closed.
        cleanup: seconds between checks for such connections.
    """

    max_body: int = 64 * 1024
    max_header: int = 16 * 1024
    connections: int = 64
    threads: int = 4
    timeout: int = 30
    cleanup: int = 5


class UiServer:
    """The page's server: waitress in front of one :class:`~engine.ui.worker.Worker`.

    Use as a context manager, or call :meth:`start` and :meth:`close`.

    Args:
        project: the validated pipeline.
        backend: the open backend (this server does not close it).
        port: the loopback port; ``None`` tries 8765 then any free port, 0 picks a free port.
        reporter: receives batch and refresh events (the CLI prints them).
        interval: seconds between scheduler ticks (default: 1 for a local target, 5 for remote).
        limits: what one client may cost (defaults suit a browser tab and a few pipe commands).
        command: how the owner file names this process to other pipe commands.
        page: serve the page; without it only other pipe commands' reads are answered
            (``pipe stream`` without ``--ui``).
    """

    def __init__(
        self,
        project: Project,
        backend: Backend,
        *,
        port: int | None = None,
        reporter: Reporter | None = None,
        interval: float | None = None,
        limits: Limits | None = None,
        command: str = "pipe ui",
        page: bool = True,
    ):
        self.project = project
        self.graph = project.graph
        self.limits = limits or Limits()
        if interval is None:
            interval = 1.0 if "scheduler" in backend.capabilities else 5.0
        self.page = page
        self.worker = Worker(project, backend, reporter=reporter, interval=interval, page=page)
        self.token = secrets.token_urlsafe(24)
        self.command = command
        self._db = getattr(backend, "path", None)
        self._owner_file: Path | None = None
        self._httpd = _bind(port, Application(self, max_body=self.limits.max_body), self.limits)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._httpd.effective_port

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
        """Take the first snapshot, serve in background threads, start the scheduler."""
        self.worker.start()
        self._thread = threading.Thread(target=self._httpd.run, name="pipe-ui-http", daemon=True)
        self._thread.start()
        if self._db is not None:
            self._owner_file = owner.claim(self._db, port=self.port, token=self.token, command=self.command)

    def close(self) -> None:
        """Stop serving, stop the stream and the scheduler. The backend stays open."""
        if self._owner_file is not None:
            owner.release(self._owner_file)
            self._owner_file = None
        _stop(self._httpd, self._thread)
        self.worker.close()

    def wait(self) -> int | None:
        """Block until Ctrl-C, or SIGTERM / SIGHUP (returns normally then, for a clean close).

        Returns:
            The signal that ended the wait (``signal.SIGINT`` for Ctrl-C), None if serving ended.
        """
        received: list[int] = []
        restore = _stop_on_signals(received)
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            if not received:
                received.append(signal.SIGINT)
        finally:
            for signum, handler in restore.items():
                signal.signal(signum, handler)
        return received[0] if received else None

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
        """The payload of ``GET /api/state``: the latest snapshot, with the stream's live progress."""
        state = dict(self.worker.snapshot())
        state.pop("details", None)
        state["stream"] = dict(self.worker.stream)
        if self.worker.error and not state.get("error"):
            state["error"] = self.worker.error
        return state

    def node(self, name: str) -> dict[str, Any]:
        """The payload of ``GET /api/node?name=N``: one object's SQL, columns and history."""
        details = self.worker.snapshot().get("details") or {}
        if name not in details:
            raise HttpError(HTTPStatus.NOT_FOUND, f"{name or '(no name)'} is not an object of {self.project.pipeline.name}")
        return details[name]

    def stream(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a stream in the background (``POST /api/stream``)."""
        batches = number(body, "batches", int, low=1, high=10_000)
        records = number(body, "records", int, low=1, high=10_000_000)
        delay = number(body, "delay", float, low=0, high=86_400)
        try:
            settings = engine.stream_settings(self.project, batches=batches, records=records, delay=delay)
        except PipeError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        self.worker.start_stream(settings)
        return {"stream": dict(self.worker.stream)}

    def stop_stream(self) -> dict[str, Any]:
        """Ask the running stream to stop (``POST /api/stream/stop``)."""
        self.worker.stop_stream()
        return {"stream": dict(self.worker.stream)}

    def refresh(self) -> dict[str, Any]:
        """Refresh every dynamic table now (``POST /api/refresh``)."""
        try:
            return {"refreshes": self.worker.refresh()}
        except Stopped:
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "the server is stopping") from None

    def forwarded(self, command: str, body: dict[str, Any]) -> bytes:
        """Answer a read command of another pipe process (``POST /api/cli/<command>``)."""
        try:
            return wire.answer(command, body, self.worker)
        except Stopped:
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "the server is stopping") from None
        except wire.NotReadOnly as exc:
            raise HttpError(HTTPStatus.CONFLICT, str(exc)) from None
        except PipeError as exc:
            return wire.error(exc)


def _stop_on_signals(received: list[int]) -> dict:
    """Make SIGTERM and SIGHUP stop :meth:`UiServer.wait` as Ctrl-C does, noting which one came in
    ``received``; the handlers replaced.

    A killed server would leave the database without a clean close.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}

    def interrupt(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    replaced = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            replaced[signum] = signal.signal(signum, interrupt)
    return replaced


def _quiet_waitress() -> None:
    """Waitress logs client errors and queue depth; the page's users need none of it."""
    log = logging.getLogger("waitress")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    log.propagate = False


def _bind(port: int | None, app: Application, limits: Limits):
    from waitress.server import create_server  # imported here: pipe --help stays fast

    _quiet_waitress()
    candidates = [DEFAULT_PORT, 0] if port is None else [port]
    for candidate in candidates:
        try:
            return create_server(
                app,
                host=HOST,
                port=candidate,
                threads=limits.threads,
                connection_limit=limits.connections,
                channel_timeout=limits.timeout,
                cleanup_interval=limits.cleanup,
                max_request_body_size=limits.max_body,
                max_request_header_size=limits.max_header,
                ident="pipe-ui",
                expose_tracebacks=False,
                clear_untrusted_proxy_headers=True,
            )
        except OSError as exc:
            if candidate == candidates[-1]:
                raise PipeError(
                    f"cannot listen on {HOST}:{candidate}: {exc.strerror or exc}",
                    hint="pass --port with another number, or --port 0 for any free port",
                ) from None
    raise AssertionError("unreachable")


def _stop(httpd, thread: threading.Thread | None) -> None:
    """Close every connection from inside waitress's loop, so it returns; then stop its threads."""
    from waitress import wasyncore

    if thread is not None and thread.is_alive():
        httpd.trigger.pull_trigger(lambda: wasyncore.close_all(httpd._map))
        thread.join(10)
    else:
        wasyncore.close_all(httpd._map)
    httpd.task_dispatcher.shutdown(timeout=5)
