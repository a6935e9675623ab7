"""Ctrl-C: cancel the statement running now, or wait for a point where stopping loses nothing.

DuckDB runs Python's SIGINT handler while a statement executes, but only notes the
KeyboardInterrupt and goes on to the end of the statement: minutes, for a full refresh of a large
table. Within :func:`cancelling` the handler also cancels the running statement, which then fails
at once with DuckDB's "interrupted" error (see :func:`engine.errors.is_interrupt`), rolling back as
any failed statement does.

Within :func:`deferred` the first Ctrl-C is only a request, which the caller honours at its next
safe point (``pipe stream`` between batches); a second Ctrl-C cancels at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class StopRequest:
    """A Ctrl-C waiting for the caller's next safe point."""

    def __init__(self) -> None:
        self.requested = False

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed since the request began."""
        if self.requested:
            raise KeyboardInterrupt


_requests: list[StopRequest] = []
_cancels: list[Callable[[], None]] = []


def _on_ctrl_c(signum, frame) -> None:
    """The SIGINT handler while :func:`deferred` or :func:`cancelling` is active."""
    if _requests and not _requests[-1].requested:
        _requests[-1].requested = True
        return
    for cancel in _cancels:
        cancel()
    raise KeyboardInterrupt


def _receives_ctrl_c() -> bool:
    """Only the main thread receives signals; a process started to ignore SIGINT keeps doing so."""
    return threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) not in (
        signal.SIG_IGN,
        None,
    )


@contextmanager
def _while_active(stack: list, item) -> Iterator[None]:
    if not _receives_ctrl_c():
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_ctrl_c)
    stack.append(item)
    try:
        yield
    finally:
        stack.remove(item)
        signal.signal(signal.SIGINT, previous)


@contextmanager
def deferred() -> Iterator[StopRequest]:
    """Within this block the first Ctrl-C only sets ``request.requested``; the caller checks it
    with ``request.check()`` where stopping is safe. A second Ctrl-C raises KeyboardInterrupt
    (and cancels the running statement within :func:`cancelling`)."""
    request = StopRequest()
    with _while_active(_requests, request):
        yield request


@contextmanager
def cancelling(cancel: Callable[[], None]) -> Iterator[None]:
    """Within this block a Ctrl-C also calls ``cancel()``, which must stop the running statement
    and be harmless when none runs."""
    with _while_active(_cancels, cancel):
        yield
