"""The local database: a DuckDB file holding the pipeline's tables and pipe's own bookkeeping.

The file is attached under the pipeline's Snowflake database name, with its tables in a schema
of the pipeline's schema name, so ``UNDERSTOOD_DEMO.DYNAMIC_TABLES.MEMBERS`` resolves as on
Snowflake. pipe's bookkeeping lives in the ``_PIPE`` schema of the same file.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.backends.local.errors import log
from engine.backends.local.refresh_state import META, RefreshState
from engine.errors import BackendError, InUseError, Location

# DuckDB's own default is 80% of the machine's memory; pipe keeps well under a laptop's and lets
# DuckDB spill the rest to a folder beside the database. PIPE_MEMORY_LIMIT or --memory-limit
# change it (any size DuckDB reads, e.g. 8GB or 500MB).
DEFAULT_MEMORY_LIMIT = "3GB"
# A lookup by join (see Store.lookups) filters the other side's scan by the keys when they are at
# most this many (DuckDB's dynamic_or_filter_threshold, 50 by default): as many as pipe looks up
# by index (keys.MAX_LITERAL_KEYS).
LOOKUP_KEYS = 2_000
FORMAT = 1  # the layout of the _PIPE schema; a database of another layout is refused, not misread

_DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {META}",
    f"""CREATE TABLE IF NOT EXISTS {META}.OBJECTS (
        KEY VARCHAR PRIMARY KEY, NAME VARCHAR, KIND VARCHAR, PROPERTIES JSON)""",
    f"""CREATE TABLE IF NOT EXISTS {META}.DYNAMIC_TABLES (
        NAME VARCHAR PRIMARY KEY,
        STATE VARCHAR,
        REFRESH_MODE VARCHAR,
        REFRESH_MODE_REASON VARCHAR,
        DATA_TIMESTAMP TIMESTAMP,
        INPUT_VERSIONS JSON,
        CONSECUTIVE_FAILURES INTEGER DEFAULT 0,
        LAST_ACTION VARCHAR,
        NEEDS_REINITIALIZE BOOLEAN DEFAULT FALSE)""",
    f"""CREATE TABLE IF NOT EXISTS {META}.REFRESH_HISTORY (
        NAME VARCHAR, STATE VARCHAR, STATE_MESSAGE VARCHAR, REFRESH_ACTION VARCHAR,
        REFRESH_TRIGGER VARCHAR, DATA_TIMESTAMP TIMESTAMP, REFRESH_START_TIME TIMESTAMP,
        REFRESH_END_TIME TIMESTAMP, INSERTED_ROWS BIGINT, DELETED_ROWS BIGINT, SEQ BIGINT)""",
    # VERSION counts the writes to a table; its change log holds every row written after
    # LOGGED_SINCE. SIGNATURE detects writes made outside pipe.
    f"""CREATE TABLE IF NOT EXISTS {META}.TABLE_VERSIONS (
        NAME VARCHAR PRIMARY KEY, VERSION BIGINT, LOGGED_SINCE BIGINT, SIGNATURE VARCHAR,
        CHANGED_AT TIMESTAMP)""",
    # One row per check evaluation, after a refresh of its table or by pipe test.
    f"""CREATE TABLE IF NOT EXISTS {META}.CHECK_RESULTS (
        MEASUREMENT_TIME TIMESTAMP, TABLE_NAME VARCHAR, CHECK_NAME VARCHAR, KIND VARCHAR,
        SEVERITY VARCHAR, STATUS VARCHAR, FAILING_ROWS BIGINT, SAMPLE JSON, SCOPE VARCHAR,
        MESSAGE VARCHAR, DATA_TIMESTAMP TIMESTAMP, TRIGGER VARCHAR)""",
]


def utcnow() -> datetime:
    """Now, as a naive UTC timestamp (how local timestamps are stored)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Store(RefreshState):
    """An open local database for one pipeline: its tables, and pipe's bookkeeping of them
    (the refresh state and history of :class:`RefreshState`, the change log of :mod:`.changes`)."""

    con: Any
    path: Path
    database: str
    schema: str
    read_only: bool
    _threads: int | None = None  # DuckDB's configured thread count, read once (see parallel)
    _parallel: bool = True
    _lookups_left_on: bool = False  # a failed lookup left DuckDB's filter setting raised (see lookups)

    def qualified(self, name: str) -> str:
        """``DATABASE.SCHEMA.NAME``, quoted for DuckDB."""
        return f"{quote(self.database)}.{quote(self.schema)}.{quote(name)}"

    def table(self, name: str):
        """Table ``name`` of the pipeline's schema, as a sqlglot table."""
        from sqlglot import exp

        return exp.table_(
            exp.to_identifier(name, quoted=True),
            db=exp.to_identifier(self.schema, quoted=True),
            catalog=exp.to_identifier(self.database, quoted=True),
        )

    def kept_table(self, name: str):
        """Table ``name`` of pipe's own schema, where the incremental engine keeps what a dynamic
        table's refreshes need (pre-aggregation rows, aggregate state), as a sqlglot table."""
        from sqlglot import exp

        return exp.table_(exp.to_identifier(name, quoted=True), db=exp.to_identifier(META, quoted=True))

    def kept_exists(self, name: str) -> bool:
        """Whether :meth:`kept_table` ``name`` exists."""
        return self.table_exists(name, schema=META)

    def drop_kept(self, names) -> None:
        """Drop the :meth:`kept_table` tables ``names`` (those that exist)."""
        for name in names:
            self.con.execute(f"DROP TABLE IF EXISTS {META}.{quote(name)}")

    def kept_tables(self) -> set[str]:
        """The names of the :meth:`kept_table` tables that exist."""
        rows = self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ?", [META]
        ).fetchall()
        return {name for (name,) in rows}

    def kept_sizes(self) -> dict[str, int]:
        """The :meth:`kept_table` tables that exist, with DuckDB's estimate of their rows."""
        return self.estimated_sizes(META)

    def estimated_sizes(self, schema: str, names=None) -> dict[str, int]:
        """DuckDB's estimate of the rows of each table of ``schema`` (of those ``names``, when
        given) that exists, from the catalog: nothing is counted."""
        query = ("SELECT table_name, estimated_size FROM duckdb_tables() "
                 "WHERE database_name = current_database() AND schema_name = ?")
        params = [schema]
        if names is not None:
            names = list(names)
            if not names:
                return {}
            query += f" AND table_name IN ({', '.join('?' * len(names))})"
            params += names
        return {name: int(size) for name, size in self.con.execute(query, params).fetchall()}

    def kept_indexes(self) -> set[str]:
        """The names of the indexes on :meth:`kept_table` tables."""
        return self.indexes(META)

    def indexes(self, schema: str) -> set[str]:
        """The names of the indexes on the tables of ``schema``."""
        rows = self.con.execute(
            "SELECT index_name FROM duckdb_indexes() WHERE database_name = current_database() AND schema_name = ?", [schema]
        ).fetchall()
        return {name for (name,) in rows}

    def drop_indexes(self, tables, prefix: str) -> None:
        """Drop the indexes named ``prefix``… on the pipeline's tables ``tables``."""
        self._drop_indexes(self.schema, tables, prefix)

    def drop_kept_indexes(self, names) -> None:
        """Drop the indexes on the :meth:`kept_table` tables ``names``."""
        self._drop_indexes(META, names, "")

    def _drop_indexes(self, schema: str, tables, prefix: str) -> None:
        tables = list(tables)
        if not tables:
            return
        rows = self.con.execute(
            "SELECT index_name FROM duckdb_indexes() WHERE database_name = current_database() AND schema_name = ? "
            "AND list_contains(?, table_name) AND starts_with(index_name, ?)", [schema, tables, prefix]
        ).fetchall()
        for (name,) in rows:
            self.con.execute(f"DROP INDEX IF EXISTS {quote(schema)}.{quote(name)}")

    def columns_of(self, relation) -> list[str]:
        """The column names of ``relation`` (a sqlglot table), in order."""
        from sqlglot import exp

        query = exp.select(exp.Star()).from_(relation.copy()).limit(0)
        return [d[0] for d in self.con.execute(query.sql(dialect="duckdb")).description]

    def type_of(self, relation, column: str) -> str:
        """DuckDB's name of the type of column ``column`` of ``relation`` (a sqlglot table)."""
        from sqlglot import exp

        query = exp.select(exp.column(column, quoted=True)).from_(relation.copy()).limit(0)
        return str(self.con.execute(query.sql(dialect="duckdb")).description[0][1])

    def memory_limit_bytes(self) -> int:
        """DuckDB's memory limit, in bytes."""
        (setting,) = self.con.execute("SELECT current_setting('memory_limit')").fetchone()
        return size_in_bytes(setting)

    def execute(self, sql: str, params: list | tuple | None = None):
        """Run ``sql``, mapping DuckDB errors to BackendError."""
        import duckdb

        try:
            return self.con.execute(sql, params) if params is not None else self.con.execute(sql)
        except duckdb.Error as exc:
            raise BackendError(f"local engine error: {_first_line(exc)}") from exc

    def parallel(self, on: bool) -> None:
        """Let DuckDB run the statements that follow on all its threads (``on``) or on one.

        An incremental refresh runs a few hundred statements of a few milliseconds each over
        small temporary tables and point lookups: on one thread they take less CPU and less
        time than on several, which spend it scheduling and waking each other. Recomputing a
        table needs them all."""
        if on == self._parallel:
            return
        if self._threads is None:
            self._threads = int(self.con.execute("SELECT current_setting('threads')").fetchone()[0])
        self.con.execute(f"SET threads = {self._threads if on else 1}")
        self._parallel = on

    @contextmanager
    def lookups(self, wanted: bool = True):
        """Within (when ``wanted``): a join whose one side holds at most LOOKUP_KEYS rows filters
        the scan of the other side by their values, which DuckDB answers from an index on the
        scanned column, by point lookups. Looking a few hundred keys up so, from the temporary table holding them,
        costs less than writing them as a literal list, most of whose cost is planning the list.
        Only around such lookups: on a scan without an index, the filter costs more than the
        join it comes before."""
        if not wanted:
            yield
            return
        self.con.execute(f"SET dynamic_or_filter_threshold = {LOOKUP_KEYS}")
        try:
            yield
        except BaseException:
            # Within a transaction the error aborted, RESET would fail too and hide it: the
            # setting is reset once the transaction is rolled back (see transaction).
            self._lookups_left_on = True
            raise
        self.con.execute("RESET dynamic_or_filter_threshold")

    def close(self) -> None:
        """Close the connection and release the file lock."""
        self.con.close()

    # -- bookkeeping -------------------------------------------------------------------------

    def objects(self) -> dict[str, tuple[str, str, dict]]:
        """Every object pipe recorded: key -> (name, kind, properties)."""
        if not self.has_meta():
            return {}
        rows = self.con.execute(f"SELECT KEY, NAME, KIND, PROPERTIES FROM {META}.OBJECTS").fetchall()
        return {key: (name, kind, json.loads(props)) for key, name, kind, props in rows}

    def put_object(self, key: str, name: str, kind: str, properties: dict) -> None:
        self.con.execute(f"DELETE FROM {META}.OBJECTS WHERE KEY = ?", [key])
        self.con.execute(
            f"INSERT INTO {META}.OBJECTS VALUES (?, ?, ?, ?)", [key, name, kind, json.dumps(properties)]
        )

    def delete_object(self, key: str) -> None:
        self.con.execute(f"DELETE FROM {META}.OBJECTS WHERE KEY = ?", [key])

    def delete_history(self, name: str) -> None:
        """Forget the refreshes of ``name``: a table dropped and created again starts a new history."""
        self.con.execute(f"DELETE FROM {META}.REFRESH_HISTORY WHERE NAME = ?", [name])

    def has_meta(self) -> bool:
        row = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = 'OBJECTS'",
            [self.database, META],
        ).fetchone()
        return bool(row[0])

    def schema_exists(self) -> bool:
        row = self.con.execute(
            "SELECT count(*) FROM duckdb_schemas() WHERE database_name = ? AND schema_name = ?",
            [self.database, self.schema],
        ).fetchone()
        return bool(row[0])

    def table_exists(self, name: str, schema: str | None = None) -> bool:
        """Whether table ``name`` exists in the pipeline's schema, or in ``schema``."""
        row = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            [self.database, schema or self.schema, name],
        ).fetchone()
        return bool(row[0])

    def columns(self, name: str) -> list[str]:
        """The column names of table ``name``, in order."""
        rows = self.con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? "
            "AND table_name = ? ORDER BY column_index",
            [self.database, self.schema, name],
        ).fetchall()
        return [r[0] for r in rows]

    def column_types(self, name: str) -> list[tuple[str, str]]:
        """(name, DuckDB type) of each column of table ``name``, in order."""
        return [
            (c, t) for c, t in self.con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? "
                "AND table_name = ? ORDER BY column_index",
                [self.database, self.schema, name],
            ).fetchall()
        ]

    def largest(self, names) -> int:
        """DuckDB's estimate of the rows of the largest of the pipeline's tables ``names`` (0 when
        none exists)."""
        return max(self.estimated_sizes(self.schema, names).values(), default=0)

    def row_count(self, name: str) -> int | None:
        if not self.table_exists(name):
            return None
        return self.con.execute(f"SELECT count(*) FROM {self.qualified(name)}").fetchall()[0][0]


    # -- transactions -----------------------------------------------------------------------

    @contextmanager
    def transaction(self):
        """One transaction: committed when the block ends, rolled back (keeping the error that
        made it necessary) when it raises or is interrupted."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self
            self.con.execute("COMMIT")
        except BaseException as exc:
            from engine.backends.local.errors import rollback

            rollback(self.con, exc)
            if self._lookups_left_on:
                self._lookups_left_on = False
                try:
                    self.con.execute("RESET dynamic_or_filter_threshold")
                except Exception as cleanup:  # noqa: BLE001 - the first error wins
                    log.debug("RESET after %r failed too: %s", exc, cleanup)
            raise

    # -- check results ----------------------------------------------------------------------

    def data_timestamp(self, name: str) -> datetime | None:
        """The data timestamp of dynamic table ``name`` (None before its first refresh)."""
        row = self.con.execute(f"SELECT DATA_TIMESTAMP FROM {META}.DYNAMIC_TABLES WHERE NAME = ?", [name]).fetchone()
        return row[0] if row else None

    def record_check_results(self, rows: list[tuple]) -> None:
        """Append check results: (time, table, check, kind, severity, status, failing rows,
        sample JSON, scope, message, data timestamp, trigger)."""
        if rows:  # one statement: executemany runs one per row
            values = ", ".join([f"({', '.join('?' * 12)})"] * len(rows))
            self.con.execute(f"INSERT INTO {META}.CHECK_RESULTS VALUES {values}", [v for row in rows for v in row])

    def latest_check_results(self) -> list[tuple]:
        """The latest result of each check: (table, check, severity, status, failing rows)."""
        if not self.table_exists("CHECK_RESULTS", META):
            return []
        return self.con.execute(
            f"""SELECT TABLE_NAME, CHECK_NAME, SEVERITY, STATUS, FAILING_ROWS FROM {META}.CHECK_RESULTS
                QUALIFY row_number() OVER (PARTITION BY TABLE_NAME, CHECK_NAME ORDER BY MEASUREMENT_TIME DESC) = 1
                ORDER BY TABLE_NAME, CHECK_NAME"""
        ).fetchall()

    def note_on_last_refresh(self, name: str, note: str) -> None:
        """Append ``note`` to the message of ``name``'s latest refresh history row."""
        self.con.execute(
            f"""UPDATE {META}.REFRESH_HISTORY SET STATE_MESSAGE = CASE WHEN STATE_MESSAGE IS NULL THEN ?
                ELSE STATE_MESSAGE || '; ' || ? END
                WHERE NAME = ? AND SEQ = (SELECT max(SEQ) FROM {META}.REFRESH_HISTORY WHERE NAME = ?)""",
            [note, note, name, name],
        )


def column_type(con, relation: str, column: str) -> str:
    """DuckDB's name of the type of ``relation``'s column ``column`` (quoted as needed)."""
    return str(con.execute(f"SELECT {column} FROM {relation} LIMIT 0").description[0][1])


_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def size_in_bytes(setting: str) -> int:
    """A size as DuckDB prints a setting (``2.7 GiB``, ``500.0 MiB``, ``3GB``), in bytes."""
    import re

    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", setting)
    if not match or match.group(2).upper() not in _UNITS:
        raise ValueError(f"not a size: {setting!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def open_store(
    path: Path, database: str, schema: str, *, read_only: bool = False, memory_limit: str | None = None
) -> Store | None:
    """Open the local database at ``path``, with DuckDB's memory held to ``memory_limit``
    (default: $PIPE_MEMORY_LIMIT, else :data:`DEFAULT_MEMORY_LIMIT`) and spilling to
    ``<path>.tmp/`` beyond it.

    Read-only opening of a missing file returns None (nothing exists yet); otherwise the file
    and its folder are created.

    Raises:
        InUseError: another process has the file open.
        BackendError: the file is not a DuckDB database or cannot be opened.
    """
    path = Path(path)
    if read_only and not path.exists():
        return None
    import duckdb  # the driver, loaded only once there is a database to open
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    from engine.sql import local_functions

    con = duckdb.connect()
    try:
        _limit_memory(con, path, memory_limit)
        local_functions.register(con)
        mode = " (READ_ONLY)" if read_only else ""
        con.execute(f"ATTACH '{_sql_path(path)}' AS {quote(database)}{mode}")
        if not read_only:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(database)}.{quote(schema)}")
            con.execute(f"USE {quote(database)}")
            _check_format(con, path, create=True)
            for ddl in _DDL:
                con.execute(ddl)
        else:
            con.execute(f"USE {quote(database)}")
            _check_format(con, path, create=False)
        # DuckDB matches names without regard to case and keeps the first spelling: a schema
        # named MAIN is the database's own "main". The catalog is read with its spelling.
        schema = _catalog_spelling(con, database, schema)
        con.execute(f"USE {quote(database)}.{quote(schema)}" if _schema_exists(con, database, schema) else f"USE {quote(database)}")
    except BackendError:
        con.close()
        raise
    except duckdb.IOException as exc:
        con.close()
        from engine.backends.local.errors import file_problem

        problem = file_problem(exc, path)
        if problem is not None:
            problem.message = problem.message.replace("cannot write", "cannot open")
            raise problem from None
        message = _first_line(exc)
        if "lock" in message.lower():
            holder = re.search(r"PID (\d+)", message)
            who = f" by process {holder.group(1)}" if holder else ""
            raise InUseError(
                f"the local database {path} is in use{who}",
                location=Location(str(path)),
                hint="wait for the other pipe command to finish, or use --db for another file",
            ) from None
        raise BackendError(f"cannot open the local database {path}: {message}", location=Location(str(path))) from None
    except duckdb.Error as exc:
        con.close()
        raise BackendError(
            f"cannot open the local database {path}: {_first_line(exc)}",
            location=Location(str(path)),
            hint="is it a DuckDB file? pass another --db",
        ) from None
    return Store(con, path, database, schema, read_only)


def _limit_memory(con, path: Path, memory_limit: str | None) -> None:
    import os

    import duckdb

    from engine.backends.local.errors import spill_folder

    limit = memory_limit or os.environ.get("PIPE_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
    try:
        con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    except duckdb.Error as exc:
        raise BackendError(
            f"memory limit {limit!r} is not a size: {_first_line(exc)}", hint="write it like 4GB or 500MB"
        ) from None
    con.execute(f"SET temp_directory = '{_sql_path(spill_folder(path))}'")


def _check_format(con, path: Path, *, create: bool) -> None:
    """Refuse a database whose bookkeeping another version of pipe laid out."""
    tables = {
        name for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ?",
            [META],
        ).fetchall()
    }
    if "FORMAT" in tables:
        found = con.execute(f"SELECT max(VERSION) FROM {META}.FORMAT").fetchall()[0][0]
    else:
        found = None if "OBJECTS" in tables else FORMAT  # no bookkeeping yet: a new database
        if found == FORMAT and create:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {META}")
            con.execute(f"CREATE TABLE {META}.FORMAT AS SELECT {FORMAT} AS VERSION")
    if found != FORMAT:
        raise BackendError(
            f"the local database {path} was made by another version of pipe (format {found or 'unknown'}, "
            f"this pipe reads format {FORMAT})",
            hint="delete the file and apply again, or pass another --db",
        )


def _catalog_spelling(con, database: str, schema: str) -> str:
    """``schema`` as DuckDB's catalog spells it (``main`` for ``MAIN``), or as given if it does not exist."""
    row = con.execute(
        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? AND lower(schema_name) = lower(?) "
        "ORDER BY schema_name = ? DESC LIMIT 1", [database, schema, schema]
    ).fetchone()
    return row[0] if row else schema


def _schema_exists(con, database: str, schema: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_schemas() WHERE database_name = ? AND schema_name = ?", [database, schema]
    ).fetchone()
    return bool(row[0])


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
