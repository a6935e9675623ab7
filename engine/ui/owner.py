"""The owner file: how other ``pipe`` commands find the process that holds a local database.

DuckDB lets one process write a database file and no other process open it meanwhile. While
``pipe ui`` or ``pipe stream`` (with or without ``--ui``) holds it, it writes ``<db stem>.owner.json``
beside the file — e.g. ``.pipe/engagement.owner.json`` — with its pid, its loopback port and a token; other
pipe commands send their read commands there (:mod:`engine.ui.client`). The file is readable by
its user only, so only they can present the token. A file whose process is gone is ignored.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Owner:
    """The process that holds a database, as its owner file describes it."""

    pid: int
    port: int
    token: str
    command: str

    @property
    def url(self) -> str:
        """The owner's page."""
        return f"http://127.0.0.1:{self.port}/"


def owner_file(db: str | Path) -> Path:
    """Where the owner of database ``db`` is written: beside it, ``<stem>.owner.json``."""
    db = Path(db)
    return db.with_name(db.stem + ".owner.json")


def claim(db: str | Path, *, port: int, token: str, command: str) -> Path | None:
    """Write this process's owner file for ``db``; its path, or None when it cannot be written."""
    path = owner_file(db)
    payload = {"pid": os.getpid(), "port": port, "token": token, "command": command, "started": time.time()}
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(payload, handle)
        os.replace(temporary, path)
    except OSError:  # a read-only folder: other commands then say the database is in use, as before
        return None
    return path


def release(path: Path) -> None:
    """Remove the owner file written by :func:`claim`, if it is still this process's."""
    found = _read(path)
    if found is not None and found.pid == os.getpid():
        try:
            path.unlink()
        except OSError:
            pass


def find(db: str | Path) -> Owner | None:
    """The live process holding ``db``, from its owner file; None if there is none or it is gone."""
    found = _read(owner_file(db))
    if found is None or not _alive(found.pid) or found.pid == os.getpid():
        return None
    return found


def _read(path: Path) -> Owner | None:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        return Owner(int(payload["pid"]), int(payload["port"]), str(payload["token"]), str(payload.get("command", "pipe ui")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except OSError:
        return False
    return True
