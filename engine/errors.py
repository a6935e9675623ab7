"""One exception tree for everything pipe reports to a user.

Every error carries where it happened (file, line, column, table, SQL position) and, where
possible, how to fix it. ``str(error)`` is the one line the CLI prints.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file position and/or a table and a position inside its SQL."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    table: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.file:
            pos = self.file
            if self.line:
                pos += f":{self.line}"
                if self.column:
                    pos += f":{self.column}"
            parts.append(pos)
        if self.table:
            parts.append(self.table)
        return ": ".join(parts)


class PipeError(Exception):
    """Root of every error pipe raises on purpose.

    Args:
        message: what is wrong.
        location: where it is.
        hint: how to fix it, phrased as an instruction.
    """

    def __init__(self, message: str, *, location: Location | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location or Location()
        self.hint = hint

    def __str__(self) -> str:
        where = str(self.location)
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class SpecError(PipeError):
    """The pipeline file is malformed or inconsistent."""


class GraphError(PipeError):
    """The dependency graph is invalid (unknown name, lag rule)."""


class CycleError(GraphError):
    """The dynamic tables depend on each other in a cycle."""

    def __init__(self, cycle: list[str], *, location: Location | None = None):
        path = " → ".join([*cycle, cycle[0]])
        super().__init__(
            f"dependency cycle: {path}",
            location=location,
            hint="a dynamic table cannot read itself, directly or through others",
        )
        self.cycle = cycle


class SqlError(PipeError):
    """A query does not parse, or uses something the target cannot run."""

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        hint: str | None = None,
        sql: str | None = None,
        sql_line: int | None = None,
        sql_column: int | None = None,
    ):
        super().__init__(message, location=location, hint=hint)
        self.sql = sql
        self.sql_line = sql_line
        self.sql_column = sql_column

    def __str__(self) -> str:
        text = super().__str__()
        if self.sql_line:
            where = f"SQL line {self.sql_line}" + (f", col {self.sql_column}" if self.sql_column else "")
            text = text.replace(self.message, f"{self.message} [{where}]", 1)
        return text

    def excerpt(self) -> str | None:
        """The SQL line at fault with a caret under the column, for terminals."""
        if not (self.sql and self.sql_line):
            return None
        lines = self.sql.splitlines()
        if not 0 < self.sql_line <= len(lines):
            return None
        line = lines[self.sql_line - 1]
        caret = " " * max((self.sql_column or 1) - 1, 0) + "^"
        return f"{line}\n{caret}"


class Errors(PipeError):
    """Several problems found in one pass, e.g. every query of a file that does not bind.

    ``str()`` is one line per problem; ``errors`` holds them, at most ``LIMIT``.
    """

    LIMIT = 50

    def __init__(self, errors: list[PipeError]):
        self.errors = errors[: self.LIMIT]
        self.more = max(len(errors) - self.LIMIT, 0)
        super().__init__(f"{len(errors)} problems")

    def __str__(self) -> str:
        lines = [str(e) for e in self.errors]
        if self.more:
            lines.append(f"… and {self.more} more")
        return "\n".join(lines)

    @staticmethod
    def raise_if_any(errors: list[PipeError]) -> None:
        """Raise the one error, or :class:`Errors` holding several; nothing when there are none."""
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise Errors(errors)


class PlanError(PipeError):
    """The plan cannot be built or applied as asked."""


class BackendError(PipeError):
    """The target failed. ``transient`` errors may succeed when retried."""

    def __init__(self, message: str, *, transient: bool = False, code: str | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.transient = transient
        self.code = code


class ConnectionConfigError(BackendError):
    """No usable connection to the target is configured."""


class InUseError(BackendError):
    """Another pipe process holds the local database."""


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean X?' hint for an unknown name, or None when nothing is close."""
    by_upper = {c.upper(): c for c in choices}
    match = difflib.get_close_matches(name.upper(), list(by_upper), n=1, cutoff=0.6)
    return f"did you mean {by_upper[match[0]]}?" if match else None


def is_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C, raised as such or as the database's "query interrupted" error.

    DuckDB answers a KeyboardInterrupt that arrives while a statement runs by cancelling the
    statement and raising its own error instead.
    """
    if isinstance(exc, KeyboardInterrupt):
        return True
    if type(exc).__name__ == "InterruptException":
        return True
    return isinstance(exc, RuntimeError) and str(exc).strip().lower() == "query interrupted"
