"""A cache on disk of what compiling a query for the local engine gives, keyed by everything it
depends on.

Translating a dynamic table's query to DuckDB and tracing its inputs' changes are pure functions
of the query, the types of the tables it reads, the target names, and the code that does the work
(sqlglot's version and the source of ``engine/sql``). ``pipe validate`` and ``pipe plan`` compute
them for every dynamic table; the second run of an unchanged file reads them back instead.

One small JSON file per entry, under ``$PIPE_CACHE_DIR`` (default ``$XDG_CACHE_HOME/pipe`` or
``~/.cache/pipe``); ``PIPE_CACHE_DIR=off`` turns the cache off. A cache that cannot be read or
written is ignored: the values are computed as without it. Failures are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

_OFF = ("", "0", "off", "false", "no")


def directory() -> Path | None:
    """Where entries are kept, or None when the cache is off."""
    folder = _folder()
    return None if folder is None else Path(folder)


def _folder() -> str | None:
    configured = os.environ.get("PIPE_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in _OFF else configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pipe")


@lru_cache(maxsize=1)
def code_version() -> str:
    """A digest of the code a cached value depends on: sqlglot's version, ``engine/sql``'s files and
    the identifier rules they use (``engine/names.py``)."""
    import sqlglot

    digest = hashlib.sha256(sqlglot.__version__.encode())
    root = Path(__file__).resolve().parent
    for path in [*sorted(root.rglob("*")), root.parent / "names.py"]:
        if path.suffix in (".py", ".txt") and path.is_file():
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def key(kind: str, *parts: Any) -> str:
    """The key of a ``kind`` of value computed from ``parts`` (JSON-serialisable) by this code."""
    text = json.dumps([kind, code_version(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def cached(kind: str, parts: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``, or what it returned for the same ``kind`` and ``parts`` before.

    The value must be JSON-serialisable; an exception from ``compute`` propagates and nothing is
    stored.
    """
    folder = _folder()
    if folder is None:
        return compute()
    # Plain strings, not Path objects: a wide pipeline reads tens of thousands of entries.
    entry = key(kind, *parts)
    path = os.path.join(folder, kind, f"{entry}.json")
    try:
        with open(path, encoding="utf-8") as file:
            return json.loads(file.read())["value"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    value = compute()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = os.path.join(folder, kind, f"{entry}.{os.getpid()}.tmp")
        with open(partial, "w", encoding="utf-8") as file:
            file.write(json.dumps({"value": value}))
        os.replace(partial, path)
    except OSError:
        pass  # a read-only or full disk: the value is still returned
    return value
