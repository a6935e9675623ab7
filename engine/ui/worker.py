"""The one place the page's server touches the backend: a lock, a scheduler thread, a stream job.

A DuckDB connection is not thread-safe and a DuckDB file has one writer, so the process that
serves the page is the writer: every backend call from any thread goes through one lock
(:class:`Serialized`), the scheduler ticks in a background thread, and streams of batches run in
a thread of their own (or in the caller's, for ``pipe stream --ui``).

What the page reads is a snapshot: a thread of its own rebuilds it after every batch and refresh
(and twice a second otherwise), taking the lock between backend calls; readers take the latest
one without waiting, so a long batch never freezes the page.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import engine
from engine.backends.base import Backend
from engine.errors import PipeError
from engine.project import Project, StreamSettings
from engine.report import Reporter, Silent
from engine.ui.state import SnapshotBuilder

SNAPSHOT_EVERY = 0.5
"""Seconds between snapshots when nothing happens (a batch or a refresh takes one at once)."""
IDLE_AFTER = 5.0
"""Seconds after the last read when the idle snapshots stop (the page polls every second)."""


class Stopped(Exception):
    """Raised inside a stream (or any backend call) once it has been asked to stop."""


class Serialized:
    """A backend whose every method call holds one lock, and checks first whether to go on.

    Args:
        backend: the backend to share between threads.
        lock: the lock every call holds.
        check: called under the lock before each call; raises :class:`Stopped` to refuse it.
    """

    def __init__(self, backend: Backend, lock: threading.RLock, check: Callable[[], None] = lambda: None):
        self._backend, self._lock, self._check = backend, lock, check

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._backend, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args, **kwargs):
            with self._lock:
                self._check()
                return attr(*args, **kwargs)

        return call


class Activity(Reporter):
    """Keeps the stream's progress for the page and passes events on to another reporter."""

    def __init__(self, inner: Reporter | None, on_batch: Callable[[dict], None], on_change: Callable[[], None]):
        self.inner = inner or Silent()
        self.on_batch = on_batch
        self.on_change = on_change

    def event(self, kind: str, **data: Any) -> None:
        if kind == "batch":
            self.on_batch(data)
        if kind in ("batch", "refresh"):
            self.on_change()
        self.inner.event(kind, **data)

    def warn(self, message: str) -> None:
        self.inner.warn(message)

    def step(self, message: str) -> None:
        self.inner.step(message)


class Worker:
    """Owns all backend access of the page's server.

    Args:
        project: the validated pipeline.
        backend: the open backend; the caller closes it after :meth:`close`.
        reporter: receives batch and refresh events (the CLI prints them).
        interval: seconds between scheduler ticks.
        page: whether a page reads snapshots; without one (a plain ``pipe stream`` answering
            other commands' reads) no snapshot is taken and the stream alone ticks the scheduler.
    """

    def __init__(
        self,
        project: Project,
        backend: Backend,
        *,
        reporter: Reporter | None = None,
        interval: float = 1.0,
        page: bool = True,
    ):
        self.project = project
        self.page = page
        self.lock = threading.RLock()
        self.interval = interval
        self._raw = backend
        self._closing = threading.Event()
        self._stop_stream = threading.Event()
        self._stream_thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._snapshotter: threading.Thread | None = None
        self._changed = threading.Event()
        self._builder = SnapshotBuilder(project.graph)
        self._snapshot: dict[str, Any] | None = None
        self._last_read = time.monotonic()
        self.reporter = Activity(reporter, self._on_batch, self._changed.set)
        self.backend = Serialized(backend, self.lock, self._check_open)
        self.stream = self._idle_stream()
        self.error: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Take the first snapshot, then start the scheduler and snapshot threads (with a page)."""
        if not self.page:
            return
        self._take_snapshot()
        self._ticker = threading.Thread(target=self._tick_loop, name="pipe-ui-scheduler", daemon=True)
        self._ticker.start()
        self._snapshotter = threading.Thread(target=self._snapshot_loop, name="pipe-ui-snapshot", daemon=True)
        self._snapshotter.start()

    def close(self, timeout: float = 30) -> None:
        """Stop the stream and the scheduler; no backend call starts after this returns."""
        self._stop_stream.set()
        self._closing.set()
        self._changed.set()
        with self.lock:  # waits for the call in flight, if any
            pass
        for thread in (self._stream_thread, self._ticker, self._snapshotter):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)

    def _check_open(self) -> None:
        if self._closing.is_set():
            raise Stopped("the server is stopping")

    # -- scheduler ----------------------------------------------------------------------------

    def _tick_loop(self) -> None:
        while not self._closing.wait(self.interval):
            if self.streaming:
                continue  # a stream ticks the scheduler itself, between its batches
            try:
                self.backend.tick(self.reporter)
                self.error = None
            except Stopped:
                return
            except PipeError as exc:
                self.error = f"scheduler: {exc}"
            except Exception as exc:  # keep serving; the page shows what went wrong
                self.error = f"scheduler: internal error: {type(exc).__name__}: {exc}"

    # -- state --------------------------------------------------------------------------------

    def read(self, build: Callable[[Backend], Any]) -> Any:
        """Run ``build(backend)`` holding the lock, so it sees one consistent moment."""
        with self.lock:
            self._check_open()
            return build(self._raw)

    def snapshot(self) -> dict[str, Any]:
        """The latest state of the pipeline, as the page shows it; never waits for the backend."""
        now = time.monotonic()
        if now - self._last_read > IDLE_AFTER:
            self._changed.set()  # a reader is back: refresh the snapshot at once
        self._last_read = now
        snapshot = self._snapshot
        if snapshot is None:  # before start(): build one now
            snapshot = self._take_snapshot()
        return snapshot

    def _take_snapshot(self) -> dict[str, Any]:
        try:
            snapshot = self.read(self._builder.build)
        except Stopped:
            raise
        except PipeError as exc:
            snapshot = self._builder.unreadable(str(exc), self._raw.name)
        except Exception as exc:  # keep serving; the page shows what went wrong
            snapshot = self._builder.unreadable(f"internal error: {type(exc).__name__}: {exc}", self._raw.name)
        self._snapshot = snapshot
        return snapshot

    def _snapshot_loop(self) -> None:
        while not self._closing.is_set():
            changed = self._changed.wait(SNAPSHOT_EVERY)
            self._changed.clear()
            if not changed and time.monotonic() - self._last_read > IDLE_AFTER:
                continue  # nobody is looking: only changes are worth a snapshot
            try:
                self._take_snapshot()
            except Stopped:
                return

    def refresh(self) -> int:
        """Refresh every dynamic table now (MANUAL), upstream first; returns the refreshes made."""
        count = len(engine.refresh(self.project, self.backend, reporter=self.reporter))
        self._fresh_snapshot()
        return count

    def _fresh_snapshot(self) -> None:
        if not self.page:
            return
        try:
            self._take_snapshot()
        except Stopped:
            pass

    # -- streams ------------------------------------------------------------------------------

    def _idle_stream(self) -> dict[str, Any]:
        spec = self.project.pipeline.stream
        return {
            "available": spec is not None,
            "table": spec.table if spec else None,
            "records": spec.records if spec else None,
            "batches": spec.batches if spec else None,
            "running": False,
            "batch": 0,
            "of": 0,
            "rows": 0,
            "message": None,
            "error": None,
        }

    @property
    def streaming(self) -> bool:
        """Whether a stream is running."""
        return bool(self.stream["running"])

    def start_stream(self, settings: StreamSettings) -> None:
        """Run a stream of batches in a background thread.

        Raises:
            PipeError: a stream is already running.
        """
        with self.lock:
            if self.streaming:
                raise PipeError("a stream is already running", hint="wait for it to finish, or stop it")
            self._begin(settings)
        self._stream_thread = threading.Thread(
            target=self._run_caught, args=(settings,), name="pipe-ui-stream", daemon=True
        )
        self._stream_thread.start()

    def run_stream(self, settings: StreamSettings, *, until_fresh: bool = False) -> None:
        """Run a stream of batches in the calling thread (``pipe stream --ui``).

        Raises:
            PipeError: a stream is already running, or the stream failed.
        """
        with self.lock:
            if self.streaming:
                raise PipeError("a stream is already running")
            self._begin(settings)
        self._run(settings, until_fresh=until_fresh)

    def stop_stream(self) -> None:
        """Ask the running stream to stop before its next batch or refresh."""
        self._stop_stream.set()

    def _begin(self, settings: StreamSettings) -> None:
        """Mark a stream as running (caller holds the lock), once its table is known to exist."""
        self._check_open()
        table = next((s for s in self._raw.status() if s.name == settings.table), None)
        if table is not None and table.state == "NOT CREATED":
            raise PipeError(f"{settings.table} has not been created on the target", hint="run pipe apply first")
        self._stop_stream.clear()
        message = f"streaming {settings.batches} batch(es) of {settings.records:,} rows into {settings.table}"
        self.stream.update(running=True, batch=0, of=settings.batches, rows=0, error=None, message=message)

    def _run_caught(self, settings: StreamSettings) -> None:
        try:
            self._run(settings)
        except Exception:  # already recorded in self.stream for the page
            pass

    def _run(self, settings: StreamSettings, *, until_fresh: bool = False) -> None:
        def check() -> None:
            self._check_open()
            if self._stop_stream.is_set():
                raise Stopped("stopped")

        def sleep(seconds: float) -> None:
            if self._stop_stream.wait(seconds) or self._closing.is_set():
                raise Stopped("stopped")

        backend = Serialized(self._raw, self.lock, check)
        # The outcome is shown with the snapshot after the last refreshes: a page (or a test) that
        # sees "done" sees what the stream did, and the stream is over by then.
        outcome: dict[str, Any] = {}
        try:
            engine.stream(self.project, backend, settings, reporter=self.reporter, until_fresh=until_fresh, sleep=sleep)
            outcome = {"message": f"done: {self.stream['rows']:,} rows in {self.stream['batch']} batch(es)"}
        except Stopped:
            outcome = {"message": f"stopped after {self.stream['batch']} batch(es)"}
        except PipeError as exc:
            outcome = {"error": str(exc), "message": "stream failed"}
            raise
        except Exception as exc:
            outcome = {"error": f"internal error: {type(exc).__name__}: {exc}", "message": "stream failed"}
            raise
        finally:
            self._fresh_snapshot()
            self.stream.update(outcome, running=False)

    def _on_batch(self, data: dict) -> None:
        self.stream.update(
            batch=data["batch"],
            of=data["batches"],
            rows=self.stream["rows"] + data["rows"],
            message=f"batch {data['batch']}/{data['batches']}: inserted {data['rows']:,} rows into {data['table']}",
        )
        # Snapshot now, in the stream's thread, before its refreshes take the lock: the page shows
        # the batch landing first, then the cascade.
        self._fresh_snapshot()
