"""Errors of the local database as users should read them: the first error wins, and file
system failures name the file and the cause.

When a statement fails inside a transaction, the ROLLBACK that follows can fail too (after a
failed WAL write DuckDB has no transaction left to roll back). That second error says nothing
about what went wrong: it is logged (visible with ``--debug``) and the first one is raised.
"""

from __future__ import annotations

import errno
import functools
import logging
from pathlib import Path

from engine.errors import BackendError, Location

log = logging.getLogger("pipe")

# (words in the driver's message or OS errno, the cause as the error line says it, how to fix)
_CAUSES = (
    (("no space left on device", "disk full", "not enough space"), {errno.ENOSPC, errno.EDQUOT},
     "the disk is full (no space left on device)",
     "free space on the disk that holds it, or pass --db for a file on another disk; the last change was not saved"),
    (("read-only file system", "read only file system"), {errno.EROFS},
     "its file system is read-only",
     "pass --db for a file on a writable disk"),
    (("permission denied", "operation not permitted"), {errno.EACCES, errno.EPERM},
     "permission denied",
     "make the file and its folder writable by this user, or pass --db for another file"),
)


def rollback(con_or_store, original: BaseException | None = None) -> None:
    """Roll back the open transaction; a failure to do so is logged, never raised, so that the
    error that made the rollback necessary is the one the user sees."""
    con = getattr(con_or_store, "con", con_or_store)
    try:
        con.execute("ROLLBACK")
    except Exception as cleanup:  # noqa: BLE001 - the first error wins
        log.debug("ROLLBACK after %r failed too: %s", original, cleanup)


def file_problem(exc: BaseException, path: Path | str) -> BackendError | None:
    """The one-line error for a disk-full, read-only or permission failure of ``path``, or None
    when ``exc`` (or the error it wraps) is not one."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc).lower()
        code = getattr(exc, "errno", None)
        spill = spill_problem(text, code, path)
        if spill is not None:
            return spill
        for words, codes, cause, hint in _CAUSES:
            if code in codes or any(w in text for w in words):
                return BackendError(
                    f"cannot write the local database: {cause}", location=Location(str(path)), hint=hint
                )
        exc = exc.__cause__ or exc.__context__
    return None


def spill_folder(path: Path | str) -> Path:
    """Where DuckDB writes, beside the database, what does not fit in its memory limit."""
    path = Path(path)
    return path.parent / (path.name + ".tmp")


def spill_problem(text: str, code: int | None, path: Path | str) -> BackendError | None:
    """The one-line error when the disk holding the spill folder is full, or None.

    DuckDB stops spilling at ``max_temp_directory_size``, by default 90% of the space available
    on the spill folder's disk (https://duckdb.org/docs/2.0/operations_manual/limits.html), and
    says so; or the write itself fails with no space left on the device.
    """
    folder = spill_folder(path)
    full = code in _CAUSES[0][1] or any(w in text for w in _CAUSES[0][0])
    if "max_temp_directory_size" not in text and not (full and str(folder).lower() in text):
        return None
    return BackendError(
        f"the disk holding the spill folder {folder} is full: DuckDB writes there what does not fit in "
        "its memory limit",
        location=Location(str(path)),
        hint="free space on that disk, or raise the memory limit (--memory-limit or PIPE_MEMORY_LIMIT, "
        "e.g. 8GB) so that less is spilled; the last change was not saved",
    )


def guard_files(method):
    """Decorate a LocalBackend method: file system failures become one line naming the file."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except BackendError as exc:
            if getattr(exc, "location", None) and exc.location.file:
                raise
            problem = file_problem(exc, self.path)
            if problem is None:
                raise
            raise problem from exc
        except Exception as exc:
            problem = file_problem(exc, self.path)
            if problem is None:
                raise
            raise problem from exc

    return wrapper
