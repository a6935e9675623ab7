"""A Snowflake double at the DB-API boundary, for testing the snowflake backend without an account.

:class:`FakeSnowflake` is a tiny catalog (databases, schemas, tables, dynamic tables, functions,
refresh history). Its connections record every statement sent and answer it the way Snowflake
would: SHOW output with Snowflake's lower-case column names, the refresh-history table function
with its upper-case ones, CREATE / ALTER / DROP / INSERT changing the catalog so that a second
plan sees what the first apply made. Errors are the connector's own classes, with Snowflake's
error numbers, so the backend's error mapping is exercised for real.

It checks what Snowflake checks and a double can: unqualified names need USE SCHEMA first, a
dynamic table can only read objects that exist, a generator must exist before a table is
filled from it, a query on a warehouse (the refresh-history function, COUNT, INSERT) needs a
warehouse in the session, a dynamic table created with INITIALIZE = ON_SCHEDULE cannot be
read before its first refresh. Any statement it does not understand raises
``NotImplementedError`` (a test failure, never a silent pass).

Its answers have the shapes a real account gives, not the ones pipe sends; each is recorded,
with its source, in tests/fixtures/snowflake/show/ (README.md there). In short:

* SHOW DYNAMIC TABLES ``text`` is Snowflake's rewrite: lower-case keywords, quoted qualified
  name, the comment first, ``lag = '…'``, quoted values, then ``as`` and the query as sent;
  ALTER … SET changes the columns (target_lag, warehouse, comment) but not ``text``;
* ``scheduling_state`` is ACTIVE or SUSPENDED; ``data_timestamp`` is NULL until the first
  refresh;
* the refresh history returns running refreshes too (STATE EXECUTING, no end time, no
  statistics), STATISTICS as the connector returns an OBJECT (JSON text), RESULT_LIMIT keeps
  the newest rows, and the window is the last day unless DATA_TIMESTAMP_START is given.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlglot
from snowflake.connector.errors import ProgrammingError
from sqlglot import exp

from . import snowflake_describe as describe
from .snowflake_describe import split_top_level

START = datetime(2025, 1, 6, 9, 0, 0, tzinfo=timezone.utc)
_TYPE_CODES = {int: 0, float: 1, str: 2, datetime: 6, bool: 13}


@dataclass
class Failure:
    """A statement matching ``pattern`` fails once with this Snowflake error."""

    pattern: str
    errno: int
    sqlstate: str
    message: str
    error: type[Exception] = ProgrammingError


@dataclass
class Result:
    """What one statement returned."""

    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    rowcount: int = -1


class FakeSnowflake:
    """The fake account. ``connect`` is what :class:`SnowflakeBackend` takes as ``connect=``."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.connections = 0
        self.sessions: list[dict] = []
        self.query_tag: str | None = None
        self.running: list[str] = []  # dynamic tables whose next refresh stays EXECUTING once
        self.history_rows_returned = 0
        self.queries: dict[tuple[str, str, str], str] = {}  # each dynamic table's query, as parsed
        self.databases: dict[str, dict] = {}
        self.schemas: dict[tuple[str, str], dict] = {}
        self.tables: dict[tuple[str, str, str], dict] = {}
        self.dynamic_tables: dict[tuple[str, str, str], dict] = {}
        self.functions: dict[tuple[str, str, str, str], dict] = {}
        self.history: list[dict] = []
        self.failures: list[Failure] = []
        self.current_schema: tuple[str, str] | None = None
        self.current_warehouse: str | None = None
        self._now = START
        self.dmfs: dict[tuple[str, str, str, str], dict] = {}  # (db, schema, table, expectation) -> row
        self.dmf_schedules: dict[tuple[str, str, str], str] = {}
        self.columns: dict[tuple[str, str, str], list[tuple]] = {}  # base tables' DESCRIBE rows

    # -- test controls -----------------------------------------------------------------------

    def connect(self, **session: Any) -> FakeConnection:
        """Open a connection (a session: USE SCHEMA does not carry over).

        ``session`` holds the login settings the connector accepts (``warehouse``,
        ``session_parameters``…); ``connection_name`` is accepted and ignored.
        """
        self.connections += 1
        self.sessions.append(session)
        self.current_schema = None
        self.current_warehouse = str(session["warehouse"]).upper() if session.get("warehouse") else None
        self.query_tag = (session.get("session_parameters") or {}).get("QUERY_TAG")
        return FakeConnection(self)

    def now(self) -> datetime:
        """The fake clock: it moves one second per statement."""
        return self._now

    def monotonic(self) -> float:
        """The fake clock in seconds, for the backend's polling interval."""
        return (self._now - START).total_seconds()

    def wait(self, seconds: float) -> None:
        """Let time pass without a statement."""
        self._now += timedelta(seconds=seconds)

    def mark(self) -> int:
        """A position in the statement log, for :meth:`since`."""
        return len(self.statements)

    def since(self, mark: int) -> list[str]:
        """The statements sent after ``mark``."""
        return self.statements[mark:]

    def fail(
        self,
        pattern: str,
        *,
        errno: int = 2003,
        sqlstate: str = "42S02",
        message: str = "SQL compilation error",
        error: type[Exception] = ProgrammingError,
    ) -> None:
        """Make the next statement matching the regex ``pattern`` raise ``error`` (a connector class)."""
        self.failures.append(Failure(pattern, errno, sqlstate, message, error))

    def load(self, path: str | Path) -> None:
        """Add canned SHOW rows from a JSON fixture {databases, schemas, dynamic_tables, tables, functions, history}."""
        data = json.loads(Path(path).read_text(encoding="utf-8"), object_hook=_timestamps)
        for row in data.get("databases", []):
            self.databases[row["name"]] = _database_row(row["name"], self._now) | row
        for row in data.get("schemas", []):
            self.schemas[(row["database_name"], row["name"])] = _schema_row(row["database_name"], row["name"], self._now) | row
        for row in data.get("dynamic_tables", []):
            key = (row["database_name"], row["schema_name"], row["name"])
            self.dynamic_tables[key] = row
            self.queries[key] = sqlglot.parse_one(row["text"], read="snowflake").expression.sql(dialect="snowflake") if row["text"].upper().startswith("CREATE") and " lag = " not in row["text"] else _query_of(row["text"])
        for row in data.get("tables", []):
            self.tables[(row["database_name"], row["schema_name"], row["name"])] = row
        for row in data.get("functions", []):
            key = (row["catalog_name"], row["schema_name"], row["name"], _arg_types(row["arguments"]))
            self.functions[key] = row
        self.history.extend(data.get("history", []))

    def finish_running(self) -> None:
        """Refreshes still EXECUTING finish now, successfully."""
        for row in self.history:
            if row["STATE"] == "EXECUTING":
                row.update(STATE="SUCCEEDED", STATE_CODE="EXECUTION_SUCCEEDED", REFRESH_END_TIME=self._now,
                           STATISTICS=_object_text({"numInsertedRows": 0, "numDeletedRows": 0}))
                self.dynamic_tables[(row["DATABASE_NAME"], row["SCHEMA_NAME"], row["NAME"])]["data_timestamp"] = row["DATA_TIMESTAMP"]

    def run_scheduler(self, database: str, schema: str, *, inserted: int = 0) -> datetime:
        """Snowflake's scheduler refreshing every dynamic table of a schema at one data timestamp."""
        names = [k[2] for k in self.dynamic_tables if k[:2] == (database, schema)]
        return self._refresh_cascade(database, schema, self._order(database, schema, names), "SCHEDULED", inserted)

    # -- the engine --------------------------------------------------------------------------

    def execute(self, statement: str) -> Result:
        self.statements.append(statement)
        self._now += timedelta(seconds=1)
        for failure in list(self.failures):
            if re.search(failure.pattern, statement):
                self.failures.remove(failure)
                raise failure.error(msg=failure.message, errno=failure.errno, sqlstate=failure.sqlstate)
        flat = " ".join(statement.split())
        for pattern, handler in self._HANDLERS:
            match = re.match(pattern, flat, re.IGNORECASE | re.DOTALL)
            if match:
                return handler(self, statement, *match.groups())
        raise NotImplementedError(f"the Snowflake double does not understand: {flat[:120]}")

    def _show_databases(self, _sql: str, like: str) -> Result:
        return _show([r for n, r in self.databases.items() if _like(n, like)])

    def _show_schemas(self, _sql: str, like: str, database: str) -> Result:
        self._need_database(database)
        return _show([r for (d, n), r in self.schemas.items() if d == database.upper() and _like(n, like)])

    def _show_in_schema(self, _sql: str, objects: str, database: str, schema: str) -> Result:
        key = (database.upper(), schema.upper())
        if key not in self.schemas:
            raise _not_found("Schema", f"{key[0]}.{key[1]}")
        kind = " ".join(objects.upper().split())
        if kind == "DYNAMIC TABLES":
            return _show([r for k, r in self.dynamic_tables.items() if k[:2] == key])
        if kind == "TABLES":  # SHOW TABLES lists dynamic tables too, flagged is_dynamic
            rows = [r for k, r in self.tables.items() if k[:2] == key]
            rows += [_table_row_of_dynamic(r) for k, r in self.dynamic_tables.items() if k[:2] == key]
            return _show(sorted(rows, key=lambda r: r["name"]))
        return _show([r for k, r in self.functions.items() if k[:2] == key])

    def _create_database(self, _sql: str, name: str) -> Result:
        name = name.upper()
        if name not in self.databases:
            self.databases[name] = _database_row(name, self._now)
            self.schemas[(name, "PUBLIC")] = _schema_row(name, "PUBLIC", self._now)
        return _status(f"Database {name} successfully created.")

    def _create_schema(self, _sql: str, database: str, name: str) -> Result:
        self._need_database(database)
        key = (database.upper(), name.upper())
        self.schemas.setdefault(key, _schema_row(*key, self._now))
        return _status(f"Schema {key[1]} successfully created.")

    def _use_schema(self, _sql: str, database: str, name: str) -> Result:
        key = (database.upper(), name.upper())
        if key not in self.schemas:
            raise _not_found("Schema", f"{key[0]}.{key[1]}")
        self.current_schema = key
        return _status("Statement executed successfully.")

    def _use_warehouse(self, _sql: str, name: str) -> Result:
        self.current_warehouse = name.upper()
        return _status("Statement executed successfully.")

    def _create_function(self, sql: str, name: str, args: str) -> Result:
        db, schema = self._context("CREATE FUNCTION")
        create = sqlglot.parse_one(sql, read="snowflake")
        returns = re.search(r"RETURNS\s+TABLE\s*\((.*?)\)\s*LANGUAGE", sql, re.IGNORECASE | re.DOTALL)
        arg_types = ", ".join(part.split()[-1].upper() for part in args.split(",") if part.strip())
        self.functions[(db, schema, name.upper(), arg_types)] = {
            "created_on": self._now,
            "name": name.upper(),
            "schema_name": schema,
            "is_builtin": "N",
            "is_aggregate": "N",
            "is_ansi": "N",
            "min_num_arguments": len(arg_types.split(", ")) if arg_types else 0,
            "max_num_arguments": len(arg_types.split(", ")) if arg_types else 0,
            "arguments": f"{name.upper()}({arg_types}) RETURN TABLE ({' '.join(returns.group(1).split()) if returns else ''})",
            "description": _comment(create) or "user-defined function",
            "catalog_name": db,
            "is_table_function": "Y",
            "valid_for_clustering": "N",
            "is_secure": "N",
            "secrets": None,
            "external_access_integration": None,
            "is_external_function": "N",
            "language": "PYTHON",
            "is_memoizable": "N",
            "is_data_metric": "N",
        }
        return _status(f"Function {name.upper()} successfully created.")

    def _create_table(self, sql: str, name: str) -> Result:
        db, schema = self._context("CREATE TABLE")
        create = sqlglot.parse_one(sql, read="snowflake")
        rows = 0
        call = re.search(r"FROM TABLE\((\w+)\((.*?)\)\)", sql, re.IGNORECASE)
        if call:
            rows = self._generated_rows(db, schema, call.group(1), call.group(2))
        self.tables[(db, schema, name.upper())] = _table_row(db, schema, name.upper(), _comment(create) or "", rows, self._now)
        if call:
            function = next(f for k, f in self.functions.items() if k[:3] == (db, schema, call.group(1).upper()))
            self.columns[(db, schema, name.upper())] = describe.returned_rows(
                function["arguments"].split(" RETURN TABLE (", 1)[1][:-1]
            )
        elif isinstance(create.this, exp.Schema):
            self.columns[(db, schema, name.upper())] = describe.declared_rows(create)
        return _status(f"Table {name.upper()} successfully created.")

    def _describe(self, _sql: str, kind: str, name: str) -> Result:
        """DESCRIBE [DYNAMIC] TABLE: the columns, in the documented output shape (snowflake_describe)."""
        db, schema = self._context("DESCRIBE")
        key = (db, schema, name.upper())
        if kind.upper() == "DYNAMIC TABLE" and key not in self.dynamic_tables:
            raise ProgrammingError(msg=f"Dynamic table '{name.upper()}' does not exist or not authorized.", errno=2003,
                                   sqlstate="02000")
        self._need_table(db, schema, name)
        if key in self.dynamic_tables:
            known = {k[2]: rows for k, rows in self.columns.items() if k[:2] == (db, schema)}
            rows = describe.query_rows(sqlglot.parse_one(self.queries[key], read="snowflake"), known)
        else:
            rows = self.columns[key]
        return Result(list(describe.COLUMNS), rows)

    def _create_dynamic_table(self, sql: str, name: str) -> Result:
        db, schema = self._context("CREATE DYNAMIC TABLE")
        create = sqlglot.parse_one(sql, read="snowflake")
        for ref in _reads(create.expression):
            if (db, schema, ref) not in self.tables and (db, schema, ref) not in self.dynamic_tables:
                raise _not_found("Object", f"{db}.{schema}.{ref}")
        props = _properties(create)
        declared = props.get("REFRESH_MODE", "AUTO")
        on_schedule = props.get("INITIALIZE", "ON_CREATE") == "ON_SCHEDULE"
        comment = _comment(create) or ""
        self.dynamic_tables[(db, schema, name.upper())] = {
            "created_on": self._now,
            "name": name.upper(),
            "database_name": db,
            "schema_name": schema,
            "cluster_by": "",
            "rows": 0,
            "bytes": 0,
            "owner": "SYSADMIN",
            "target_lag": _shown_lag(props.get("TARGET_LAG", "DOWNSTREAM")),
            "refresh_mode": "FULL" if declared == "FULL" else "INCREMENTAL",
            "refresh_mode_reason": None,
            "warehouse": props.get("WAREHOUSE", self.current_warehouse),
            "comment": comment,
            "text": rewritten_text(db, schema, name.upper(), comment, props, create.expression.sql(dialect="snowflake"), sql),
            "automatic_clustering": "OFF",
            "scheduling_state": "ACTIVE",
            "last_suspended_on": None,
            "is_clone": False,
            "is_replica": False,
            "is_iceberg": False,
            "data_timestamp": None,
            "owner_role_type": "ROLE",
            "immutable_where": None,
            "execute_as_user": None,
        }
        self.queries[(db, schema, name.upper())] = create.expression.sql(dialect="snowflake")
        if not on_schedule:
            self._refresh_cascade(db, schema, [name.upper()], "CREATION", 0)
        return _status(f"Table {name.upper()} successfully created.")

    def _alter_dynamic_table(self, sql: str, name: str, rest: str) -> Result:
        db, schema = self._context("ALTER DYNAMIC TABLE")
        row = self._need(self.dynamic_tables, db, schema, name)
        rest = rest.strip()
        if rest.upper() == "REFRESH":
            order = self._order(db, schema, [*self._upstream(db, schema, name.upper()), name.upper()])
            self._refresh_cascade(db, schema, order, "MANUAL", 0)
        elif rest.upper() == "UNSET COMMENT":  # pragma: no cover - pipe always sets its fingerprint
            row["comment"] = ""
        elif rest.upper().startswith("SET "):
            for key, value in re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\w+)", rest[4:]):
                column = {"TARGET_LAG": "target_lag", "WAREHOUSE": "warehouse", "COMMENT": "comment"}[key.upper()]
                text = value[1:-1].replace("\\'", "'") if value.startswith("'") else value.upper()
                row[column] = _shown_lag(text) if column == "target_lag" else text
        else:
            raise NotImplementedError(f"ALTER DYNAMIC TABLE … {rest}")
        return _status("Statement executed successfully.")

    def _drop(self, _sql: str, kind: str, name: str) -> Result:
        db, schema = self._context("DROP")
        catalog = self.dynamic_tables if "DYNAMIC" in kind.upper() else self.tables
        catalog.pop((db, schema, name.upper()), None)
        return _status(f"{name.upper()} successfully dropped.")

    def _drop_function(self, _sql: str, name: str, types: str) -> Result:
        db, schema = self._context("DROP FUNCTION")
        types = ", ".join(t.strip().upper() for t in types.split(",") if t.strip())
        self.functions.pop((db, schema, name.upper(), types), None)
        return _status(f"{name.upper()} successfully dropped.")

    def _insert(self, _sql: str, table: str, selected: str, counted: str, before: str, function: str, args: str,
                alias: str) -> Result:
        """A stream batch: the UDTF called beside the table's row count (its seed argument reads it)."""
        db, schema = self._context("INSERT")
        self._need_warehouse()
        row = self._need(self.tables, db, schema, table)
        if selected != alias or counted != table or f"{before}.N" not in args:
            raise NotImplementedError(f"an INSERT of another shape: {_sql}")
        rows = self._generated_rows(db, schema, function, args)
        row["rows"] += rows
        return Result(["number of rows inserted"], [(rows,)], rowcount=rows)

    def _refresh_history(self, sql: str) -> Result:
        self._need_warehouse()
        self._need_database(re.search(r"TABLE\((\w+)\.INFORMATION_SCHEMA", sql, re.IGNORECASE).group(1))
        query = sqlglot.parse_one(sql, read="snowflake")
        call = query.find(exp.Anonymous)
        kwargs = {k.this.name.upper(): _argument(k.expression) for k in call.expressions}
        limit = int(kwargs.get("RESULT_LIMIT", 100))
        if not 1 <= limit <= 10000:
            raise ProgrammingError(msg=f"invalid value [{limit}] for parameter 'RESULT_LIMIT'", errno=1008, sqlstate="22023")
        prefix = kwargs.get("NAME_PREFIX", "").upper()
        start = kwargs.get("DATA_TIMESTAMP_START") or self._now - timedelta(days=1)
        rows = [r for r in self.history if f"{r['DATABASE_NAME']}.{r['SCHEMA_NAME']}.{r['NAME']}".startswith(prefix)]
        if "NAME" in kwargs:
            wanted = kwargs["NAME"].upper()
            rows = [r for r in rows if f"{r['DATABASE_NAME']}.{r['SCHEMA_NAME']}.{r['NAME']}".endswith(wanted)]
        rows = [r for r in rows if r["STATE"] in ("EXECUTING", "SCHEDULED") or r["DATA_TIMESTAMP"] >= start]
        self.history_rows_returned += min(len(rows), limit)
        # RESULT_LIMIT keeps the refreshes that finished last and those still running.
        rows = sorted(rows, key=lambda r: r["REFRESH_END_TIME"] or datetime.max.replace(tzinfo=timezone.utc))[-limit:]
        where = query.args.get("where")
        if where is not None:
            names = {e.to_py() for e in where.this.expressions}
            rows = [r for r in rows if r["NAME"] in names]
        rows.sort(key=lambda r: (r["DATA_TIMESTAMP"], r["REFRESH_START_TIME"] or START), reverse=True)
        if query.args.get("limit"):
            rows = rows[: query.args["limit"].expression.to_py()]
        columns = [e.alias_or_name.upper() for e in query.expressions]
        return Result(columns, [tuple(r.get(c) for c in columns) for r in rows])

    def _count(self, _sql: str, table: str) -> Result:
        db, schema = self._context("SELECT")
        self._need_warehouse()
        row = self.tables.get((db, schema, table.upper())) or self._need(self.dynamic_tables, db, schema, table)
        return Result(["COUNT(*)"], [(row["rows"],)])

    def _select_some(self, _sql: str, table: str, _limit: str) -> Result:
        db, schema = self._context("SELECT")
        self._need_warehouse()
        row = self.dynamic_tables.get((db, schema, table.upper()))
        if row is not None and row["data_timestamp"] is None:
            raise ProgrammingError(
                msg=f"Dynamic Table '{db}.{schema}.{table.upper()}' is not initialized. Please run a manual "
                "refresh or wait for a scheduled refresh before querying.",
                errno=2089,
                sqlstate="55000",
            )
        if row is None:
            self._need(self.tables, db, schema, table)
        return Result(["ID"], [])

    # -- data metric functions (user-guide/data-quality-working, data-quality-expectations) ----

    def _add_dmf(self, _sql: str, table: str, function: str, arguments: str, expectation: str, expression: str) -> Result:
        db, schema = self._context("ALTER TABLE")
        self._need_table(db, schema, table)
        column = arguments.split(",")[0].strip() if "->" in arguments else None
        names = [column] if column else [a.strip() for a in arguments.split(",") if a.strip()]
        self.dmfs[(db, schema, table.upper(), expectation)] = {
            "METRIC_DATABASE_NAME": function.split(".")[0], "METRIC_SCHEMA_NAME": function.split(".")[1],
            "METRIC_NAME": function.split(".")[2], "REF_ARGUMENTS": json.dumps([{"domain": "COLUMN", "name": n} for n in names]),
            "EXPECTATION_NAME": expectation, "EXPECTATION_EXPRESSION": expression,
        }
        return _status("Statement executed successfully.")

    def _drop_dmf(self, _sql: str, table: str, function: str, arguments: str) -> Result:
        db, schema = self._context("ALTER TABLE")
        names = [a.strip() for a in arguments.split(",") if a.strip()]
        gone = [
            key for key, row in self.dmfs.items()
            if key[:3] == (db, schema, table.upper())
            and ".".join(row[k] for k in ("METRIC_DATABASE_NAME", "METRIC_SCHEMA_NAME", "METRIC_NAME")) == function
            and [a["name"] for a in json.loads(row["REF_ARGUMENTS"])] == names
        ]
        if not gone:
            raise ProgrammingError(msg=f"Data metric function {function} is not associated with {table}", errno=2003, sqlstate="02000")
        for key in gone:
            del self.dmfs[key]
        return _status("Statement executed successfully.")

    def _dmf_schedule(self, _sql: str, table: str, schedule: str) -> Result:
        db, schema = self._context("ALTER TABLE")
        self._need_table(db, schema, table)
        self.dmf_schedules[(db, schema, table.upper())] = schedule
        return _status("Statement executed successfully.")

    def _dmf_expectations(self, _sql: str, db: str, schema: str, table: str) -> Result:
        columns = ["METRIC_DATABASE_NAME", "METRIC_SCHEMA_NAME", "METRIC_NAME", "REF_ARGUMENTS", "EXPECTATION_NAME", "EXPECTATION_EXPRESSION"]
        rows = [row for key, row in self.dmfs.items() if key[:3] == (db, schema, table)]
        return Result(columns, [tuple(r[c] for c in columns) for r in rows])

    def _need_table(self, db: str, schema: str, table: str) -> None:
        key = (db, schema, table.upper())
        if key not in self.tables and key not in self.dynamic_tables:
            raise ProgrammingError(msg=f"Table '{table}' does not exist or not authorized.", errno=2003, sqlstate="42S02")

    _HANDLERS = [
        (r"^ALTER TABLE (\w+) ADD DATA METRIC FUNCTION ([\w.]+) ON \((.*)\) EXPECTATION (\w+) \((.*)\)$", _add_dmf),
        (r"^ALTER TABLE (\w+) DROP DATA METRIC FUNCTION ([\w.]+) ON \((.*)\)$", _drop_dmf),
        (r"^ALTER TABLE (\w+) SET DATA_METRIC_SCHEDULE = '(.*)'$", _dmf_schedule),
        (
            r"^SELECT .* FROM TABLE\(\w+\.INFORMATION_SCHEMA\.DATA_METRIC_FUNCTION_EXPECTATIONS\("
            r"REF_ENTITY_NAME => '(\w+)\.(\w+)\.(\w+)', REF_ENTITY_DOMAIN => 'table'\)\)$",
            _dmf_expectations,
        ),
        (r"^SHOW DATABASES LIKE '(.*)'$", _show_databases),
        (r"^SHOW SCHEMAS LIKE '(.*)' IN DATABASE (\w+)$", _show_schemas),
        (r"^SHOW (DYNAMIC TABLES|TABLES|USER FUNCTIONS) IN SCHEMA (\w+)\.(\w+)$", _show_in_schema),
        (r"^CREATE DATABASE IF NOT EXISTS (\w+)$", _create_database),
        (r"^CREATE SCHEMA IF NOT EXISTS (\w+)\.(\w+)$", _create_schema),
        (r"^USE SCHEMA (\w+)\.(\w+)$", _use_schema),
        (r"^USE WAREHOUSE (\w+)$", _use_warehouse),
        (r"^CREATE OR REPLACE FUNCTION (\w+)\((.*?)\) RETURNS TABLE", _create_function),
        (r"^CREATE OR REPLACE TABLE (\w+)\b", _create_table),
        (r"^CREATE OR REPLACE DYNAMIC TABLE (\w+)\b", _create_dynamic_table),
        (r"^ALTER DYNAMIC TABLE (\w+) (.*)$", _alter_dynamic_table),
        (r"^DROP (DYNAMIC TABLE|TABLE) IF EXISTS (\w+)$", _drop),
        (r"^DROP FUNCTION IF EXISTS (\w+)\((.*)\)$", _drop_function),
        (r"^INSERT INTO (\w+) SELECT (\w+)\.\* FROM \(SELECT COUNT\(\*\) AS N FROM (\w+)\) AS (\w+), "
         r"TABLE\((\w+)\((.*)\)\) AS (\w+)$", _insert),
        (r"^SELECT .* FROM TABLE\(\w+\.INFORMATION_SCHEMA\.DYNAMIC_TABLE_REFRESH_HISTORY\(.*$", _refresh_history),
        (r"^(?:DESCRIBE|DESC) (DYNAMIC TABLE|TABLE) (\w+)$", _describe),
        (r"^SELECT COUNT\(\*\) FROM (\w+)$", _count),
        (r"^SELECT \* FROM (\w+) LIMIT (\d+)$", _select_some),
    ]

    # -- helpers -----------------------------------------------------------------------------

    def _context(self, what: str) -> tuple[str, str]:
        if self.current_schema is None:
            raise ProgrammingError(
                msg=f"Cannot perform {what}. This session does not have a current database. "
                "Call 'USE DATABASE', or use a qualified name.",
                errno=90105,
                sqlstate="22000",
            )
        return self.current_schema

    def _need_warehouse(self) -> None:
        if self.current_warehouse is None:
            raise ProgrammingError(
                msg="No active warehouse selected in the current session.  Select an active warehouse "
                "with the 'use warehouse' command.\n",
                errno=606,
                sqlstate="57P03",
            )

    def _need_database(self, name: str) -> None:
        if name.upper() not in self.databases:
            raise _not_found("Database", name.upper())

    def _need(self, catalog: dict, db: str, schema: str, name: str) -> dict:
        row = catalog.get((db, schema, name.upper()))
        if row is None:
            raise _not_found("Object", f"{db}.{schema}.{name.upper()}")
        return row

    def _generated_rows(self, db: str, schema: str, function: str, args: str) -> int:
        """The rows a generator call makes (its first argument); the call must match an overload's arity."""
        given = len(split_top_level(args))
        arities = [len(k[3].split(", ")) if k[3] else 0 for k in self.functions if k[:3] == (db, schema, function.upper())]
        if given not in arities:
            # Snowflake's answer to an unknown name and to a known name with other arguments alike
            raise ProgrammingError(
                msg=f"SQL compilation error:\nUnknown user-defined table function {function.upper()}",
                errno=2141,
                sqlstate="42601",
            )
        first = args.split(",")[0].strip()
        return int(first) if first.isdigit() else 0

    def _upstream(self, db: str, schema: str, name: str) -> list[str]:
        query = sqlglot.parse_one(self.queries[(db, schema, name)], read="snowflake")
        direct = {name for name in _reads(query) if (db, schema, name) in self.dynamic_tables}
        found = set(direct)
        for upstream in direct:
            found.update(self._upstream(db, schema, upstream))
        return sorted(found)

    def _order(self, db: str, schema: str, names: list[str]) -> list[str]:
        """Dependency order: each dynamic table after those it reads."""
        return sorted(set(names), key=lambda n: (len(self._upstream(db, schema, n)), n))

    def _refresh_cascade(self, db: str, schema: str, names: list[str], trigger: str, inserted: int) -> datetime:
        stamp = self._now
        for offset, name in enumerate(names):
            row = self.dynamic_tables[(db, schema, name)]
            started = stamp + timedelta(milliseconds=100 * offset)
            if name in self.running:
                self.running.remove(name)
                self.history.append(_running_row(db, schema, name, stamp, started, trigger, len(self.history)))
                continue
            row["data_timestamp"] = stamp
            row["rows"] += inserted
            self.history.append(
                {
                    "NAME": name,
                    "SCHEMA_NAME": schema,
                    "DATABASE_NAME": db,
                    "STATE": "SUCCEEDED",
                    "STATE_CODE": "EXECUTION_SUCCEEDED",
                    "STATE_MESSAGE": None,
                    "QUERY_ID": f"01b2-{len(self.history):04d}",
                    "DATA_TIMESTAMP": stamp,
                    "REFRESH_START_TIME": started,
                    "REFRESH_END_TIME": started + timedelta(milliseconds=80),
                    "COMPLETION_TARGET": None,
                    "QUALIFIED_NAME": f"{db}.{schema}.{name}",
                    "LAST_COMPLETED_DEPENDENCY": None,
                    "STATISTICS": _object_text(
                        {"numInsertedRows": inserted, "numDeletedRows": 0, "numCopiedRows": 0, "numAddedPartitions": 1,
                         "numRemovedPartitions": 0, "queuedTimeMs": 12, "compilationTimeMs": 140, "executionTimeMs": 310}
                    ),
                    "REFRESH_ACTION": "FULL" if trigger == "CREATION" else "INCREMENTAL",
                    "REINIT_REASON": None,
                    "INPUTS_WITH_CHANGED_DATA": None,
                    "REFRESH_TRIGGER": trigger,
                    "TARGET_LAG_SEC": None,
                    "GRAPH_HISTORY_VALID_FROM": None,
                }
            )
        return stamp


class FakeConnection:
    """A DB-API connection to :class:`FakeSnowflake`."""

    def __init__(self, account: FakeSnowflake):
        self.account = account
        self.closed = False

    def cursor(self) -> FakeCursor:
        if self.closed:
            raise ProgrammingError(msg="Connection is closed", errno=250002, sqlstate="08003")
        return FakeCursor(self.account)

    def close(self) -> None:
        self.closed = True

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass


class FakeCursor:
    """A DB-API cursor: ``description`` holds 7-tuples like the connector's ResultMetadata."""

    def __init__(self, account: FakeSnowflake):
        self.account = account
        self.description: list[tuple] | None = None
        self.rowcount = -1
        self._rows: list[tuple] = []

    def execute(self, statement: str, params: Any = None) -> FakeCursor:
        result = self.account.execute(statement)
        sample = result.rows[0] if result.rows else ()
        self.description = [
            (name, _TYPE_CODES.get(type(sample[i]) if i < len(sample) else str, 2), None, None, None, None, True)
            for i, name in enumerate(result.columns)
        ]
        self._rows = list(result.rows)
        self.rowcount = result.rowcount if result.rowcount >= 0 else len(result.rows)
        return self

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple | None:
        return self._rows.pop(0) if self._rows else None

    def close(self) -> None:
        pass


# -- checking what was sent --------------------------------------------------------------------

# sqlglot (30.x) has no grammar for these valid Snowflake statements and falls back to
# exp.Command: their shape is checked here instead.
_SQLGLOT_GAPS = (
    re.compile(r"^SHOW (DYNAMIC TABLES|USER FUNCTIONS) IN SCHEMA \w+\.\w+$"),
    re.compile(r"^ALTER DYNAMIC TABLE \w+ REFRESH$"),
    # Associating and dropping a data metric function (tests/checks/test_snowflake.py checks their parts).
    re.compile(r"^ALTER TABLE \w+ ADD DATA METRIC FUNCTION SNOWFLAKE\.CORE\.\w+ ON \(.*\) EXPECTATION PIPE_[0-9A-F]{12} \(.*\)$"),
    re.compile(r"^ALTER TABLE \w+ DROP DATA METRIC FUNCTION SNOWFLAKE\.CORE\.\w+ ON \(.*\)$"),
)
# DROP / ALTER DYNAMIC TABLE fall back too, for the one keyword: the same statement with TABLE
# must parse as a real Drop / Alter.
_DYNAMIC = re.compile(r"^(DROP|ALTER) DYNAMIC TABLE\b")
_CHANGES = ("CREATE", "ALTER", "DROP", "INSERT")


def check_snowflake_sql(statement: str) -> None:
    """Assert ``statement`` parses with sqlglot's Snowflake dialect, as a real statement."""
    if any(gap.match(statement) for gap in _SQLGLOT_GAPS):
        return
    parsed = [e for e in sqlglot.parse(_DYNAMIC.sub(r"\1 TABLE", statement), read="snowflake") if e is not None]
    assert len(parsed) == 1, f"not one statement: {statement!r}"
    if statement.split()[0].upper() in _CHANGES:
        assert not isinstance(parsed[0], exp.Command), f"sqlglot fell back to Command: {statement[:80]!r}"


# -- row shapes (Snowflake's SHOW columns) -----------------------------------------------------


def _show(rows: list[dict]) -> Result:
    if not rows:
        return Result(["created_on", "name"], [])
    columns = list(rows[0])
    return Result(columns, [tuple(r.get(c) for c in columns) for r in rows])


def _status(message: str) -> Result:
    return Result(["status"], [(message,)])


def _database_row(name: str, now: datetime) -> dict:
    return {
        "created_on": now, "name": name, "is_default": "N", "is_current": "N", "origin": "",
        "owner": "SYSADMIN", "comment": "", "options": "", "retention_time": "1", "kind": "STANDARD",
        "owner_role_type": "ROLE",
    }


def _schema_row(database: str, name: str, now: datetime) -> dict:
    return {
        "created_on": now, "name": name, "is_default": "N", "is_current": "N", "database_name": database,
        "owner": "SYSADMIN", "comment": "", "options": "", "retention_time": "1", "owner_role_type": "ROLE",
    }


def _table_row(db: str, schema: str, name: str, comment: str, rows: int, now: datetime) -> dict:
    return {
        "created_on": now, "name": name, "database_name": db, "schema_name": schema, "kind": "TABLE",
        "comment": comment, "cluster_by": "", "rows": rows, "bytes": rows * 64, "owner": "SYSADMIN",
        "retention_time": "1", "automatic_clustering": "OFF", "change_tracking": "ON",
        "search_optimization": "OFF", "is_external": "N", "enable_schema_evolution": "N",
        "owner_role_type": "ROLE", "is_event": "N", "is_hybrid": "N", "is_iceberg": "N",
        "is_dynamic": "N", "is_immutable": "N",
    }


def _table_row_of_dynamic(row: dict) -> dict:
    table = _table_row(row["database_name"], row["schema_name"], row["name"], row["comment"], row["rows"], row["created_on"])
    return table | {"is_dynamic": "Y"}


def _reads(query: exp.Expression) -> set[str]:
    """The tables a query reads: not its CTEs, not table functions."""
    ctes = {cte.alias_or_name.upper() for cte in query.find_all(exp.CTE)}
    return {
        t.name.upper()
        for t in query.find_all(exp.Table)
        if isinstance(t.this, exp.Identifier) and not (not t.db and t.name.upper() in ctes)
    }


def rewritten_text(
    db: str, schema: str, name: str, comment: str, props: dict[str, str], query_sql: str, sent: str
) -> str:
    """SHOW DYNAMIC TABLES ``text`` as Snowflake rewrites the CREATE statement (see the module
    docstring and tests/fixtures/snowflake/show/README.md): the query is kept as sent."""
    head = f'create or replace dynamic table "{db}"."{schema}"."{name}"'
    parts = [head]
    if comment:
        parts.append("comment = '" + comment.replace("'", "\\'") + "'")
    lag = props.get("TARGET_LAG", "DOWNSTREAM")
    parts.append(f"lag = '{lag}'")
    parts.append(f"refresh_mode = '{props.get('REFRESH_MODE', 'AUTO')}'")
    parts.append(f"initialize = '{props.get('INITIALIZE', 'ON_CREATE')}'")
    parts.append(f"warehouse = {props.get('WAREHOUSE', '')}")
    query = re.split(r"(?im)^AS\s*$", sent, maxsplit=1)[-1].strip() if re.search(r"(?im)^AS\s*$", sent) else query_sql
    return " ".join(parts) + "\n as " + query


def _query_of(text: str) -> str:
    """The query of a rewritten CREATE text: what follows the first line-leading ``as``."""
    return re.split(r"\n as ", text, maxsplit=1)[-1]


def _running_row(db: str, schema: str, name: str, stamp: datetime, started: datetime, trigger: str, n: int) -> dict:
    """A refresh still running: no end time, no statistics."""
    return {
        "NAME": name, "SCHEMA_NAME": schema, "DATABASE_NAME": db, "STATE": "EXECUTING",
        "STATE_CODE": "EXECUTING", "STATE_MESSAGE": None, "QUERY_ID": f"01b2-{n:04d}", "DATA_TIMESTAMP": stamp,
        "REFRESH_START_TIME": started, "REFRESH_END_TIME": None, "COMPLETION_TARGET": None,
        "QUALIFIED_NAME": f"{db}.{schema}.{name}", "LAST_COMPLETED_DEPENDENCY": None, "STATISTICS": None,
        "REFRESH_ACTION": "INCREMENTAL", "REINIT_REASON": None, "REFRESH_TRIGGER": trigger,
        "TARGET_LAG_SEC": None, "GRAPH_HISTORY_VALID_FROM": None, "INPUTS_WITH_CHANGED_DATA": None,
    }


def _object_text(value: dict) -> str:
    """An OBJECT column as the connector returns it: JSON text, indented, keys in any order."""
    return json.dumps(dict(sorted(value.items())), indent=2)


def _argument(node: exp.Expression) -> Any:
    """A table-function argument: a literal, or a timestamp literal cast to TIMESTAMP_LTZ."""
    if isinstance(node, exp.Cast):
        text = node.this.to_py()
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f %z")
    return node.to_py()


def _comment(create: exp.Expression) -> str | None:
    prop = create.find(exp.SchemaCommentProperty)
    return prop.this.to_py() if prop is not None else None


def _properties(create: exp.Expression) -> dict[str, str]:
    found = {}
    for prop in create.find_all(exp.Property):
        if isinstance(prop.this, exp.Var):
            value = prop.args.get("value")
            found[prop.this.name.upper()] = value.to_py() if isinstance(value, exp.Literal) else value.name.upper()
    return found


def _shown_lag(value: str) -> str:
    """TARGET_LAG as SHOW DYNAMIC TABLES shows it: DOWNSTREAM, or the duration as written."""
    return "DOWNSTREAM" if value.upper() == "DOWNSTREAM" else value


def _arg_types(arguments: str) -> str:
    inner = arguments[arguments.find("(") + 1 : arguments.find(")")]
    return ", ".join(t.strip() for t in inner.split(",") if t.strip())


_TIME_COLUMNS = {
    "created_on",
    "data_timestamp",
    "last_suspended_on",
    "DATA_TIMESTAMP",
    "REFRESH_START_TIME",
    "REFRESH_END_TIME",
    "COMPLETION_TARGET",
}


def _timestamps(row: dict) -> dict:
    """The connector returns TIMESTAMP_LTZ columns as aware datetimes: so does the double."""
    return {k: datetime.fromisoformat(v) if k in _TIME_COLUMNS and isinstance(v, str) else v for k, v in row.items()}


def _like(name: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.IGNORECASE) is not None


def _not_found(kind: str, name: str) -> ProgrammingError:
    return ProgrammingError(
        msg=f"SQL compilation error:\n{kind} '{name}' does not exist or not authorized.",
        errno=2003,
        sqlstate="02000",
    )

