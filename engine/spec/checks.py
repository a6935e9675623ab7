"""The typed model of declared checks (``checks:`` on a table) and query unit tests (``tests:``).

A check states what must stay true of a table: each entry names exactly one kind
(``not_null``, ``unique``, ``accepted_values``, ``relationships``, ``row_count``, ``freshness``
or ``sql``) and may set a ``severity`` and a ``name``. A unit test gives rows for a dynamic
table's inputs and the rows its query must return.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine import names
from engine.lag import parse_duration

Scalar = int | float | bool | str | None


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # docstrings: engine.spec.schema


Severity = Literal["error", "warn"]


class CheckKind(str, Enum):
    """The kinds of check, one key each in a check entry."""

    not_null = "not_null"
    unique = "unique"
    accepted_values = "accepted_values"
    relationships = "relationships"
    row_count = "row_count"
    freshness = "freshness"
    sql = "sql"


def _columns(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class AcceptedValues(_Spec):
    """Every non-null value of ``column`` is one of ``values``."""

    column: str
    """The column checked."""
    values: list[Scalar] = Field(min_length=1)
    """The values allowed."""


class Relationship(_Spec):
    """Every non-null value of ``column`` exists in column ``field`` of table ``to``."""

    column: str
    """The column checked."""
    to: str
    """The table (or dynamic table) holding the known values."""
    field: str | None = None
    """The column of ``to`` holding them (default: the same name as ``column``)."""


class RowCount(_Spec):
    """The number of rows is within bounds."""

    min: int | None = Field(None, ge=0)
    """At least this many rows."""
    max: int | None = Field(None, ge=0)
    """At most this many rows."""

    @model_validator(mode="after")
    def _bounds(self) -> RowCount:
        if self.min is None and self.max is None:
            raise ValueError("row_count needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"row_count min {self.min} is above max {self.max}")
        return self


class Freshness(_Spec):
    """The data is no older than ``max_lag``: measured from a timestamp column when one is
    named, else (dynamic tables) from the table's data timestamp."""

    max_lag: str
    """How old the data may be, e.g. '2 minutes'."""
    column: str | None = None
    """A timestamp column whose latest value is the age of the data."""

    @field_validator("max_lag")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def seconds(self) -> float:
        """``max_lag`` in seconds."""
        return parse_duration(self.max_lag)


class Check(_Spec):
    """One check on a table: exactly one of the kind keys, with an optional name and severity."""

    not_null: list[str] | str | None = None
    """Columns that must never be NULL (one name or a list)."""
    unique: list[str] | str | None = None
    """Columns whose values together identify a row (one name or a list)."""
    accepted_values: AcceptedValues | None = None
    """A column whose values must be among a set."""
    relationships: Relationship | None = None
    """A column whose values must exist in another table's column."""
    row_count: RowCount | None = None
    """Bounds on the number of rows."""
    freshness: Freshness | None = None
    """How old the data may be."""
    sql: str | None = Field(None, min_length=1)
    """A Snowflake query returning the offending rows (none when the check passes)."""
    name: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The check's name (default: derived from its kind and columns)."""
    severity: Severity = "error"
    """error (fails pipe test, marks the refresh) or warn (reported only)."""

    @field_validator("not_null", "unique", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _columns(value)

    @model_validator(mode="after")
    def _one_kind(self) -> Check:
        kinds = [k.value for k in CheckKind if getattr(self, k.value) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"a check needs exactly one of {', '.join(k.value for k in CheckKind)} (found {found})"
            )
        for key in ("not_null", "unique"):
            columns = getattr(self, key)
            if columns is not None and not columns:
                raise ValueError(f"{key} needs at least one column")
        return self

    @property
    def kind(self) -> CheckKind:
        """Which kind of check this is."""
        return next(k for k in CheckKind if getattr(self, k.value) is not None)

    @property
    def columns(self) -> list[str]:
        """The columns of the guarded table the check reads."""
        kind = self.kind
        if kind in (CheckKind.not_null, CheckKind.unique):
            return list(getattr(self, kind.value))
        if kind is CheckKind.accepted_values:
            return [self.accepted_values.column]
        if kind is CheckKind.relationships:
            return [self.relationships.column]
        if kind is CheckKind.freshness and self.freshness.column:
            return [self.freshness.column]
        return []

    def label(self) -> str:
        """The check's name: declared, or its kind and columns as a file writes them
        (``unique(session_id, member_id)``, ``not_null("Région")``)."""
        if self.name:
            return self.name
        columns = [names.shown(names.key(c)) for c in self.columns]
        return f"{self.kind.value}({', '.join(columns)})" if columns else self.kind.value


class Rows(_Spec):
    """Rows given inline or read from a CSV file (relative to the pipeline file)."""

    rows: list[dict[str, Any]] | None = None
    """Rows as mappings of column -> value."""
    csv: str | None = None
    """A CSV file with a header line."""

    @model_validator(mode="after")
    def _one_form(self) -> Rows:
        if (self.rows is None) == (self.csv is None):
            raise ValueError("give rows as a list of mappings or csv: FILE, not both")
        return self


# A list of rows, a CSV file name, or {rows: …} / {csv: …}.
RowsInput = list[dict[str, Any]] | str | Rows


def as_rows(value: RowsInput) -> Rows:
    """The :class:`Rows` of any of the accepted forms."""
    if isinstance(value, Rows):
        return value
    return Rows(rows=value) if isinstance(value, list) else Rows(csv=value)


class UnitTest(_Spec):
    """Given rows for a dynamic table's inputs, the rows its query must return."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The test's name."""
    table: str
    """The dynamic table under test."""
    given: dict[str, RowsInput] = {}
    """Rows of each input table (inline list or a CSV file); inputs not given are empty."""
    expect: RowsInput
    """The rows the query must return (only the columns named are compared, in any order)."""
    description: str = ""
    """What the test shows."""


class UnitTestFile(_Spec):
    """A file of query unit tests in the ``tests/`` folder beside the pipeline file."""

    tests: list[UnitTest] = []
    """Query unit tests, written as under the pipeline file's ``tests:`` key; CSV files they name
    are relative to this file."""
