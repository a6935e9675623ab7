"""A cache on disk of what compiling a query for the local engine gives (and of a pipeline file's
parsed YAML), keyed by everything it depends on.

Translating a dynamic table's query to DuckDB and tracing its inputs' changes are pure functions
of the query, the types of the tables it reads, the target names, and the code that does the work
(sqlglot's and PyYAML's versions and the source of ``engine/sql`` and of the modules of :data:`ALSO`).
``pipe validate`` and ``pipe plan`` compute them for every dynamic table; the second run of an
unchanged file reads them back instead.

One small JSON file per entry, under ``$PIPE_CACHE_DIR`` (default ``$XDG_CACHE_HOME/pipe`` or
``~/.cache/pipe``); ``PIPE_CACHE_DIR=off`` turns the cache off. A cache that cannot be read or
written is ignored: the values are computed as without it. Failures are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

_OFF = ("", "0", "off", "false", "no")

ALSO = ("names.py", "kinds.py", "spec/loader.py", "spec/yamlsource.py")
"""The modules outside ``engine/sql`` whose code cached values depend on (paths under ``engine/``)."""

MISSING = object()
"""What :func:`recall` returns for a value not in the cache (None is a value)."""

MEMORY = "<memory>"
"""The folder of the slots of a cache that is off while entries are kept in memory (:func:`held`)."""

_held: dict[str, str] = {}  # slot -> the JSON text of its entry, computed elsewhere for this run
_recorded: list[dict[str, str]] = []  # where the entries written now are also noted (:func:`recording`)


def directory() -> Path | None:
    """Where entries are kept, or None when the cache is off."""
    folder = _folder()
    return None if folder is None else Path(folder)


def _folder() -> str | None:
    # A plain string, not a Path: a wide pipeline reads tens of thousands of entries.
    configured = os.environ.get("PIPE_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in _OFF else configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pipe")


@lru_cache(maxsize=1)
def code_version() -> str:
    """A digest of the code a cached value depends on: sqlglot's and PyYAML's versions,
    ``engine/sql``'s files and the modules of :data:`ALSO`."""
    digest = hashlib.sha256(_version_file("sqlglot", "_version.py"))
    digest.update(_version_file("yaml", "__init__.py"))
    root = Path(__file__).resolve().parent
    for path in [*sorted(root.rglob("*")), *(root.parent / also for also in ALSO)]:
        if path.suffix in (".py", ".txt") and path.is_file():
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _version_file(package: str, name: str) -> bytes:
    """The file of ``package`` that holds its version, read without importing it (a cached value
    needs neither the parser nor the YAML reader)."""
    from importlib.util import find_spec

    spec = find_spec(package)
    if spec is not None and spec.origin:
        try:
            return (Path(spec.origin).parent / name).read_bytes()
        except OSError:
            pass
    return __import__(package).__version__.encode()


def key(kind: str, *parts: Any) -> str:
    """The key of a ``kind`` of value computed from ``parts`` (JSON-serialisable) by this code."""
    text = _key_text([kind, code_version(), *parts])
    return hashlib.sha256(text.encode()).hexdigest()


def _json_writer(sort_keys: bool, default: Callable[[Any], Any]) -> Callable[[Any], str]:
    """What ``json.dumps(value, sort_keys=sort_keys, default=default)`` writes, as a function made
    once: a wide pipeline computes tens of thousands of keys and entries, and ``json.dumps`` (with
    options, or even without) makes its encoder again on every call. The encoder is the one
    ``json.dumps`` makes, without the check for a value that contains itself (no key or entry does)."""
    plain = json.JSONEncoder(sort_keys=sort_keys, default=default).encode
    make = json.encoder.c_make_encoder
    try:  # (the json module's C part, as its encoder calls it; a Python without it, or whose
        # signature differs, has json.dumps itself: the sample below must read the same)
        encode = make(None, default, json.encoder.encode_basestring_ascii, None, ": ", ", ", sort_keys, False, True)
        fast = lambda value: "".join(encode(value, 0))  # noqa: E731
        if fast(_SAMPLE) == plain(_SAMPLE):
            return fast
    except TypeError:
        pass
    return plain


_SAMPLE = ["kind", {"b": [1, 2.5, None, True], "a": "café \"quoted\"\n"}, [[], {}], -0.0, 10**20]


def _unknown(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_key_text = _json_writer(True, str)  # json.dumps(value, sort_keys=True, default=str)
_entry_text = _json_writer(False, _unknown)  # json.dumps(value)
_ENTRY = json.JSONDecoder()  # made once too, for reading entries back


def cached(kind: str, parts: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``, or what it returned for the same ``kind`` and ``parts`` before.

    The value must be JSON-serialisable; an exception from ``compute`` propagates and nothing is
    stored.
    """
    path = slot(kind, parts)
    found = read(path)
    if found is not MISSING:
        return found
    value = compute()
    write(path, value)
    return value


def slot(kind: str, parts: tuple) -> str | None:
    """Where the entry of ``kind`` and ``parts`` is kept (None when the cache is off): found once
    for a :func:`read` then a :func:`write`, its key is computed once."""
    folder = _folder()
    if folder is None:
        if not (_held or _recorded):
            return None
        folder = MEMORY
    known = (kind, code_version(), parts)
    try:
        found = _keys.get(known)
    except TypeError:  # parts holding a dict or a list: computed each time
        return f"{folder}{os.sep}{kind}{os.sep}{key(kind, *parts)}.json"
    if found is None:
        found = _keys[known] = key(kind, *parts)
    return f"{folder}{os.sep}{kind}{os.sep}{found}.json"  # (os.path.join: a tenth of a warm run's reads)


# The keys of plain parts (a query's text alone), kept for the process: the check for uncached
# queries before the worker processes start, the workers (forked with it) and the validation
# after them each look the same query up.
_keys: dict[tuple, str] = {}


def recall(kind: str, parts: tuple) -> Any:
    """What :func:`keep` stored for ``kind`` and ``parts``, or :data:`MISSING`."""
    return read(slot(kind, parts))


def keep(kind: str, parts: tuple, value: Any) -> None:
    """Store ``value`` (JSON-serialisable) for ``kind`` and ``parts``; a cache that is off or cannot
    be written keeps nothing."""
    write(slot(kind, parts), value)


def read(path: str | None) -> Any:
    """The value kept at ``path`` (a :func:`slot`), or :data:`MISSING`."""
    if path is not None:
        text = _held.get(path) if _held else None
        if text is not None:
            return _ENTRY.decode(text)["value"]
        if path.startswith(MEMORY):
            return MISSING
        try:
            with open(path, "rb") as file:  # bytes, decoded at once: no text layer
                return _ENTRY.decode(file.read().decode())["value"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return MISSING


def write(path: str | None, value: Any) -> None:
    """Keep ``value`` (JSON-serialisable) at ``path`` (a :func:`slot`; None keeps nothing)."""
    if path is None:
        return
    text = _entry_text({"value": value})
    if _recorded:
        _recorded[-1][path] = text
    if path.startswith(MEMORY):
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = f"{path[:-len('.json')]}.{os.getpid()}.tmp"
        with open(partial, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(partial, path)
    except OSError:
        pass  # a read-only or full disk: the value is still returned


@contextmanager
def recording() -> Iterator[dict[str, str]]:
    """Note every entry written within (even with the cache off) in the dict yielded: slot -> JSON
    text, for :func:`held` in another process."""
    entries: dict[str, str] = {}
    _recorded.append(entries)
    try:
        yield entries
    finally:
        _recorded.pop()


@contextmanager
def held(entries: dict[str, str]) -> Iterator[None]:
    """Read ``entries`` (noted by :func:`recording`) as if they were kept, within; each reads back as
    it would from disk."""
    _held.update(entries)
    try:
        yield
    finally:
        _held.clear()
