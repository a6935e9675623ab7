"""The words pipe uses for kinds of objects and their states, as enums.

Each member is a ``str`` whose value is the word printed and stored (``ObjectKind.DYNAMIC_TABLE``
is ``"dynamic_table"``; ``RefreshAction.NO_DATA`` is ``"NO_DATA"``), so output and stored state
read as before, and comparisons with those strings hold; a misspelt member is an AttributeError
rather than a branch silently never taken. Snowflake's words follow its reference:
sql-reference/sql/create-dynamic-table (REFRESH_MODE, INITIALIZE), sql-reference/sql/
show-dynamic-tables (scheduling_state) and sql-reference/functions/dynamic_table_refresh_history
(STATE, REFRESH_ACTION, REFRESH_TRIGGER).
"""

from __future__ import annotations

from enum import Enum


class Word(str, Enum):
    """A ``str`` enum that prints and formats as its value (``enum.StrEnum`` before Python 3.11)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class ObjectKind(Word):
    """What an object of a pipeline or of a plan is."""

    TABLE = "table"
    EXTERNAL = "external"  # a table pipe reads but never creates or drops
    DYNAMIC_TABLE = "dynamic_table"
    FUNCTION = "function"  # a generator's UDTF
    DATABASE = "database"
    SCHEMA = "schema"


class ActionKind(Word):
    """What a plan does to one object."""

    CREATE = "create"
    ALTER = "alter"
    REPLACE = "replace"
    UNCHANGED = "unchanged"
    DROP = "drop"
    CONFLICT = "conflict"  # a table of that name exists and pipe did not create it: never touched


class Keyword(Word):
    """A Snowflake keyword value, upper-case; the first member is the default."""

    @classmethod
    def of(cls, text: str | None):
        """The member a file or SHOW output writes in any case, quoted or not (``auto``,
        ``'FULL'``); the default when absent.

        Raises:
            ValueError: not one of the members.
        """
        return cls(text.strip("'\" ").upper()) if text else next(iter(cls))


class RefreshMode(Keyword):
    """A dynamic table's REFRESH_MODE: declared (AUTO, FULL, INCREMENTAL) or resolved (FULL or
    INCREMENTAL: AUTO resolves once, at creation)."""

    AUTO = "AUTO"
    FULL = "FULL"
    INCREMENTAL = "INCREMENTAL"


class Initialize(Keyword):
    """When a dynamic table is first filled (INITIALIZE)."""

    ON_CREATE = "ON_CREATE"
    ON_SCHEDULE = "ON_SCHEDULE"


class RefreshAction(Word):
    """What one refresh did (REFRESH_ACTION)."""

    NO_DATA = "NO_DATA"  # the inputs did not change: only the data timestamp moves
    INCREMENTAL = "INCREMENTAL"
    FULL = "FULL"
    REINITIALIZE = "REINITIALIZE"


class RefreshTrigger(Word):
    """What started a refresh (REFRESH_TRIGGER)."""

    SCHEDULED = "SCHEDULED"
    MANUAL = "MANUAL"
    CREATION = "CREATION"


class RefreshState(Word):
    """How a refresh ended (STATE of the refresh history). The docs spell CANCELLED in the STATE
    column and CANCELED elsewhere: both are read."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"
    CANCELED = "CANCELED"


class State(Word):
    """An object's state as ``pipe status`` shows it: a dynamic table's scheduling state (ACTIVE
    or SUSPENDED; FAILED locally after a failed refresh), EXTERNAL for a table pipe does not
    manage, NOT CREATED for a declared object that does not exist."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    FAILED = "FAILED"
    EXTERNAL = "EXTERNAL"
    NOT_CREATED = "NOT CREATED"
