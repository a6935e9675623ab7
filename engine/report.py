"""How the library tells its caller what it is doing, without printing.

The CLI implements :class:`Reporter` with rich; the Python API default ignores everything.
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator
from typing import Any


class Progress:
    """A unit of long work: advanced as it goes."""

    def advance(self, amount: int = 1, *, description: str | None = None) -> None:
        """Mark ``amount`` more done."""


class Reporter:
    """Receives progress and events. Every method may be overridden; the defaults do nothing."""

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Progress]:
        """Open a progress bar for ``total`` units of work."""
        yield Progress()

    def step(self, message: str) -> None:
        """A step has started or finished."""

    def warn(self, message: str) -> None:
        """Something worth the user's attention that is not an error."""

    def event(self, kind: str, **data: Any) -> None:
        """A structured event (``refresh``, ``batch``, ``action`` …) for live displays."""


class Silent(Reporter):
    """A reporter that ignores everything."""
