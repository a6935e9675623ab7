"""What compiling a query finds, as plain values: the tables it names and the refresh mode
Snowflake's AUTO would pick, with the reasons.

They need no parser to exist, so a compiled query read back from the cache (see
:mod:`engine.sql.recall`) is made of them without importing sqlglot. :mod:`engine.sql.parsing` and
:mod:`engine.sql.lint` compute them.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine import names
from engine.kinds import RefreshMode


@dataclass(frozen=True)
class TableRef:
    """A table named in a query: its parts as written and where it stands."""

    name: str
    schema: str | None
    database: str | None
    line: int | None
    column: int | None

    @property
    def written(self) -> str:
        """The name as it is written in SQL, dotted (quoted parts quoted)."""
        return names.dotted(self.database, self.schema, self.name)


@dataclass(frozen=True)
class Finding:
    """One reason a query cannot refresh incrementally, with where it stands in the SQL."""

    construct: str
    reason: str
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class RefreshDecision:
    """The refresh mode a query resolves to and the reasons."""

    mode: RefreshMode  # INCREMENTAL or FULL
    reason: str
    findings: tuple[Finding, ...]
    warnings: tuple[Finding, ...]

    @property
    def incremental(self) -> bool:
        """Whether the query supports incremental refresh."""
        return not self.findings
