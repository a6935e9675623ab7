"""The typed model of a pipeline file.

Every model is frozen and rejects unknown keys. Field docstrings feed ``pipe schema``
(:mod:`engine.spec.schema` reads them there, only: reading them costs every command's start-up).
Object names are Snowflake identifiers; unquoted identifiers are case-insensitive, so names
are kept upper-case here (``members`` and ``MEMBERS`` are the same table).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from engine import names
from engine.lag import parse_duration, parse_lag
from engine.spec.checks import Check, UnitTest

_TYPE = re.compile(
    r"^(?P<base>number|numeric|decimal|int|integer|bigint|smallint|tinyint|byteint|float|float4|float8|"
    r"double|double precision|real|varchar|string|text|char|character|boolean|date|time|datetime|"
    r"timestamp|timestamp_ntz|timestamp_ltz|timestamp_tz|variant|object|array|binary)"
    r"\s*(\(\s*\d+\s*(,\s*\d+\s*)?\))?$",
    re.IGNORECASE,
)


RESERVED = names.RESERVED  # sql-reference/reserved-keywords


def _identifier(value: str) -> str:
    """A name as Snowflake stores it: unquoted upper-cased, ``"quoted"`` kept exactly (engine.names)."""
    return names.resolve(value)


def _name(value: str) -> str:
    """A Snowflake identifier kept as written (``member_id``, ``"Café"``); :func:`engine.names.resolve`
    gives the name Snowflake stores."""
    names.resolve(value)
    return value


def _unique_columns(columns: dict[str, str], what: str) -> None:
    seen: dict[str, str] = {}
    for column in columns:
        if names.key(column) in seen:
            raise ValueError(f"{what} has {seen[names.key(column)]} and {column}: column names are case-insensitive")
        seen[names.key(column)] = column


def _snowflake_type(value: str) -> str:
    text = re.sub(r"\s+", " ", value.strip()) if isinstance(value, str) else None
    if text is None or not _TYPE.match(text):
        fix = " (or quote it: inside {…} a comma ends the value, so write 'number(10,2)')" if (
            text and "(" in text and ")" not in text
        ) else ""
        raise ValueError(f"{value!r} is not a Snowflake column type (e.g. number, varchar, date, variant){fix}")
    return text.upper()


def _lag(value: str) -> str:
    parse_lag(value)
    return value.strip()


Identifier = Annotated[str, AfterValidator(_identifier)]
Name = Annotated[str, AfterValidator(_name)]
SnowflakeType = Annotated[str, AfterValidator(_snowflake_type)]
Lag = Annotated[str, AfterValidator(_lag)]
Scalar = int | float | bool | str


class Spec(BaseModel):
    """Base of every model: frozen, unknown keys rejected; docstrings are the JSON Schema's
    descriptions (:func:`engine.spec.schema.json_schema`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SnowflakeTarget(Spec):
    """Where the objects live on Snowflake; the local engine mirrors the names."""

    database: Identifier
    """Database holding every object."""
    schema_name: Identifier = Field(alias="schema")
    """Schema holding every object."""
    warehouse: Identifier
    """Default warehouse of every dynamic table, and the one used to fill base tables."""

    model_config = ConfigDict(populate_by_name=True)


class Generator(Spec):
    """A Faker-based data generator: a Python UDTF on Snowflake, a function locally."""

    module: str
    """Python file holding the handler class, relative to the pipeline file."""
    handler: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Class whose ``process(self, *args)`` yields one tuple per row."""
    args: dict[Name, SnowflakeType] = {}
    """Arguments in order: name -> Snowflake type."""
    returns: dict[Name, SnowflakeType]
    """Output columns in order: name -> Snowflake type."""
    packages: list[str] = ["faker"]
    """Anaconda packages the UDTF imports on Snowflake."""
    runtime_version: str = "3.11"
    """Python runtime version of the UDTF on Snowflake."""
    comment: str | None = None
    """Comment stored on the function."""

    @model_validator(mode="after")
    def _check_columns(self) -> Generator:
        if not self.returns:
            raise ValueError("returns must list at least one column")
        _unique_columns(self.args, "args")
        _unique_columns(self.returns, "returns")
        return self


class Table(Spec):
    """A base table: filled from a generator, declared empty with columns, or external."""

    generator: str | None = None
    """Generator whose rows fill the table at creation."""
    args: list[Scalar] = []
    """Arguments passed to the generator (may use {{ vars.NAME }})."""
    order_by: list[str] = []
    """Columns the generated rows are ordered by."""
    columns: dict[Name, SnowflakeType] | None = None
    """Columns of an empty table, or of an external one so queries reading it are checked: name -> Snowflake type."""
    external: bool = False
    """The table already exists on the target: never created or dropped."""
    comment: str | None = None
    """Comment stored on the table."""
    checks: list[Check] = []
    """What must stay true of the table's rows (run by pipe test)."""

    @model_validator(mode="after")
    def _one_form(self) -> Table:
        forms = [self.generator is not None, self.columns is not None and not self.external, self.external]
        if sum(forms) != 1:
            raise ValueError("a table needs exactly one of generator, columns or external: true")
        if self.generator is None and (self.args or self.order_by):
            raise ValueError("args and order_by go with generator")
        if self.columns is not None:
            if not self.columns:
                raise ValueError("columns must list at least one column")
            _unique_columns(self.columns, "columns")
        return self

    @property
    def kind(self) -> str:
        """``generated``, ``empty`` or ``external``."""
        if self.external:
            return "external"
        return "generated" if self.generator else "empty"


class DynamicTable(Spec):
    """A Snowflake dynamic table: a SELECT kept fresh within a target lag."""

    sql: str = Field(min_length=1)
    """The defining query, Snowflake SQL. Dependencies are inferred from it."""
    target_lag: Lag
    """'<n> seconds|minutes|hours|days' (at least 60 seconds) or downstream."""
    refresh_mode: Literal["auto", "full", "incremental"] = "auto"
    """How refreshes are computed; auto picks incremental when the query allows it."""
    initialize: Literal["on_create", "on_schedule"] = "on_create"
    """Fill the table when it is created, or at its first scheduled refresh."""
    warehouse: Identifier | None = None
    """Warehouse of the refreshes; defaults to snowflake.warehouse."""
    comment: str | None = None
    """Comment stored on the dynamic table."""
    checks: list[Check] = []
    """What must stay true of the table's rows (run after every refresh and by pipe test)."""

    @property
    def lag_seconds(self) -> int | None:
        """The target lag in seconds, or None for DOWNSTREAM."""
        return parse_lag(self.target_lag)


class Stream(Spec):
    """What ``pipe stream`` inserts."""

    table: Identifier
    """Base table receiving the rows."""
    generator: str
    """Generator producing them."""
    args: list[Scalar] = []
    """Generator arguments; {{ records }}, {{ batch }} (1, 2, … in each run) and {{ rows }} (the
    table's row count before the batch: unlike {{ batch }}, unique across runs) are available. Each
    batch is seeded with the pipeline's seed plus {{ rows }}, on both targets."""
    batches: int = Field(5, ge=1)
    """Number of batches."""
    records: int = Field(100, ge=1)
    """Rows per batch."""
    delay: str | float = "10 seconds"
    """Pause between batches, e.g. '10 seconds' or 2.5."""

    @field_validator("delay")
    @classmethod
    def _check_delay(cls, value: str | float) -> str | float:
        parse_duration(value)
        return value

    @property
    def delay_seconds(self) -> float:
        """The delay in seconds."""
        return parse_duration(self.delay)


class Pipeline(Spec):
    """A pipe pipeline file."""

    version: Literal[1]
    """Format version: 1."""
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    """Pipeline name; names the local database file."""
    description: str = ""
    """What the pipeline is for."""
    snowflake: SnowflakeTarget
    """Target database, schema and warehouse."""
    seed: int = 42
    """Seed making generated data reproducible."""
    vars: dict[str, Any] = {}
    """Values usable as {{ vars.NAME }} in SQL and generator arguments."""
    generators: dict[Name, Generator] = {}
    """Data generators by function name."""
    tables: dict[Identifier, Table] = {}
    """Base tables by name."""
    dynamic_tables: dict[Identifier, DynamicTable] = {}
    """Dynamic tables by name."""
    stream: Stream | None = None
    """What ``pipe stream`` inserts."""
    tests: list[UnitTest] = []
    """Query unit tests: given input rows, the rows a dynamic table's query returns (pipe test).
    More can live in ``tests/*.yaml`` files beside this file, each holding ``tests:`` like this key."""

    _source: Any = PrivateAttr(default=None)
    _base_dir: Any = PrivateAttr(default=None)

    @property
    def source(self):
        """The :class:`SourceMap` of the file this pipeline was loaded from (or None)."""
        return self._source

    @property
    def base_dir(self):
        """The folder of the pipeline file: generator modules are relative to it."""
        return self._base_dir

    def generator(self, name: str) -> Generator | None:
        """The generator called ``name`` (case-insensitive)."""
        for key, gen in self.generators.items():
            if names.same(key, name):
                return gen
        return None

    def generator_name(self, name: str) -> str:
        """The declared spelling of generator ``name``."""
        return next(key for key in self.generators if names.same(key, name))

    def locate(self, *path, table: str | None = None, sql_line: int | None = None, sql_column: int | None = None):
        """The :class:`Location` in the file of ``path`` (names matched case-insensitively).

        With ``sql_line``, the location of that line of the SQL string at ``path``.
        """
        from engine.errors import Location

        if self._source is None:
            return Location(table=table)
        path = self._source.resolve_names(path)
        if sql_line is not None:
            position = self._source.text_position(path, sql_line, sql_column)
            if position is not None:
                return Location(self._source.file, *position, table)
        return self._source.locate(path, table=table)

    @property
    def object_names(self) -> list[str]:
        """Every table and dynamic table name, as Snowflake stores it (unquoted ones upper-case)."""
        return [*self.tables, *self.dynamic_tables]
