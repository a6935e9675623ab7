"""Read commands of a database another pipe process holds: asked of that process over loopback.

    >>> backend = through_owner(db, in_use_error, read=True)   # doctest: +SKIP
    >>> backend.status()                                        # answered by pipe ui

The owner is ``pipe ui``, ``pipe stream --ui`` or a plain ``pipe stream`` (which serves these
reads without a page). Only ``status``, ``history`` and ``query`` (read-only statements) travel; a command that would
write gets one line saying which process holds the database and how to go on.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.backends.base import ObjectStatus, QueryResult, RefreshRecord
from engine.errors import BackendError, InUseError, Location
from engine.ui import owner, wire
from engine.ui.routes import TOKEN_HEADER

TIMEOUT = 600.0
"""Seconds to wait for an answer: the owner answers between its own backend calls."""


class OwnerBackend:
    """The read side of a backend, answered by the process that owns the database."""

    name = "local"
    capabilities = frozenset()

    def __init__(self, found: owner.Owner, db: Path):
        self.owner = found
        self.path = db

    def __enter__(self) -> OwnerBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to close: each call is one request."""

    def interrupt(self) -> None:
        """A Ctrl-C ends the request; the owner finishes the read it started."""

    def status(self) -> list[ObjectStatus]:
        return self._ask("status", {})

    def history(self, *, names: Sequence[str] = (), limit: int | None = None) -> list[RefreshRecord]:
        return self._ask("history", {"names": list(names), "limit": limit})

    def query(self, sql: str) -> QueryResult:
        return self._ask("query", {"sql": sql})

    def _ask(self, command: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            f"{self.owner.url}api/cli/{command}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", TOKEN_HEADER: self.owner.token},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise BackendError(f"{self._who()} refused: {_reason(exc)}", hint=self._how()) from None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendError(f"{self._who()} did not answer: {reason}", hint=self._how()) from None
        return wire.decode(raw, command)

    def _who(self) -> str:
        return f"{self.owner.command} (pid {self.owner.pid}), which holds {self.path},"

    def _how(self) -> str:
        return f"stop it with Ctrl-C (or kill {self.owner.pid}) and run the command again"


def through_owner(db: str | Path, exc: InUseError, *, read: bool) -> OwnerBackend:
    """A backend that asks the live owner of ``db`` (read commands), or the error to show.

    Raises:
        InUseError: ``exc`` as it was, when no live pipe process has written an owner file.
        BackendError: a write command, with the owner's page and how to go on.
    """
    found = owner.find(db)
    if found is None:
        raise exc
    if read:
        return OwnerBackend(found, Path(db))
    if found.command == "pipe stream":  # no page to act from: wait for the stream
        who, how = f"pipe stream (pid {found.pid})", "wait for the stream to end, or stop it with Ctrl-C, and run this command again"
    else:
        who, how = f"{found.command} (pid {found.pid}, {found.url})", "stream or refresh from that page, or stop it with Ctrl-C and run this command again"
    raise InUseError(
        f"the local database is held by {who}",
        location=exc.location if str(exc.location) else Location(str(db)),
        hint=how,
    )


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"])
    except (ValueError, KeyError, TypeError, OSError):
        return f"HTTP {exc.code}"
