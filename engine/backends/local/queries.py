"""``pipe query`` on the local target: Snowflake SQL in, translated, run on DuckDB."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from engine.backends.base import QueryResult
from engine.errors import BackendError, SqlError

_DML = (exp.Insert, exp.Update, exp.Delete, exp.Merge)


def run_query(backend, sql: str) -> QueryResult:
    """Run one Snowflake statement, or a script of them, against the local database.

    A script (statements separated by ``;``) runs in one session, as a Snowflake worksheet does:
    ``ALTER SESSION SET WEEK_START = ...`` / ``TIMEZONE = ...`` and ``SET name = ...`` hold for the
    statements after them (see engine.sql.session); the last statement's result is returned. Writes to base tables
    go through the engine's change tracking; writes to dynamic tables are refused, as on Snowflake.
    """
    from engine.sql.session import Session, split_statements

    statements = split_statements(sql)
    if len(statements) <= 1:
        return _run_statement(backend, sql, Session())
    session = Session()
    con = backend.existing_store().con
    zone = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    try:
        result = None
        for statement in statements:
            result = _run_statement(backend, statement, session)
            con.execute(f"SET TimeZone = '{session.timezone or zone}'")  # an IANA name, checked by the session
        return result
    finally:
        con.execute(f"SET TimeZone = '{zone}'")  # the session ends with the script


def _run_statement(backend, sql: str, session) -> QueryResult:
    from engine.backends.local.information_schema import rewrite_history, show_dynamic_tables
    from engine.sql.translate import to_duckdb

    shown = show_dynamic_tables(backend, sql)
    if shown is not None:
        return shown
    store = backend.existing_store()
    target = backend.pipeline.snowflake

    def translate(text: str) -> str:
        return to_duckdb(text, database=target.database, schema=target.schema_name, catalog=_catalog(store),
                         session=session)

    status = _session_statement(sql, session, lambda select: store.execute(translate(select)))
    if status is not None:
        return QueryResult(["status"], [(status,)])
    sql = rewrite_history(backend, sql)
    written = _written_table(sql)
    if written is not None:
        _check_writable(backend, written)
    translated = translate(sql)
    con = store.con
    if written is None:
        cursor = store.execute(translated)
        return cursor_result(cursor)
    con.execute("BEGIN TRANSACTION")
    try:
        result = _write(backend, store, written, translated)
        con.execute("COMMIT")
    except BaseException as exc:
        from engine.backends.local.errors import rollback

        rollback(con, exc)
        raise
    return result


def _session_statement(sql: str, session, evaluate) -> str | None:
    """Apply ``sql`` to ``session`` if it is ALTER SESSION or SET (its status line); else None."""
    head = sql.lstrip().upper()
    if not (head.startswith("ALTER") or head.startswith("SET")):
        return None
    try:
        statement = sqlglot.parse_one(sql, read="snowflake")
    except sqlglot.errors.ParseError:
        return None  # the translator reports the syntax error with its position
    return session.apply(statement, evaluate, sql)


def _catalog(store) -> dict[str, dict[str, str]]:
    """The Snowflake types of the local schema's tables, for the rules of the translation that need them."""
    from engine.sql.translate import snowflake_type

    rows = store.con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = ? AND schema_name = ?",
        [store.database, store.schema],
    ).fetchall()
    catalog: dict[str, dict[str, str]] = {}
    for table, column, duckdb_type in rows:
        kind = snowflake_type(duckdb_type)
        if kind is not None:
            catalog.setdefault(table, {})[column] = kind
    return catalog


def _write(backend, store, table: str, translated: str) -> QueryResult:
    """Run a write to a base table, logging the rows it inserted and deleted."""
    con = store.con
    log = backend.refresher.log
    target = store.qualified(table)
    con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_BEFORE AS SELECT * FROM {target}")
    cursor = store.execute(translated)
    count = cursor.fetchall()
    inserted = f"SELECT * FROM {target} EXCEPT ALL SELECT * FROM __PIPE_BEFORE"
    deleted = f"SELECT * FROM __PIPE_BEFORE EXCEPT ALL SELECT * FROM {target}"
    log.record(table, inserted=inserted, deleted=deleted)
    rows = count[0][0] if count and count[0] else 0
    return QueryResult(["number of rows affected"], [(rows,)])


def cursor_result(cursor) -> QueryResult:
    if cursor.description is None:
        return QueryResult(["status"], [("ok",)])
    from engine.sql.dialect_common import shown

    columns = [d[0] for d in cursor.description]
    types = [str(d[1]) for d in cursor.description]
    rows = cursor.fetchall()
    variants = [i for i, kind in enumerate(types) if kind == "JSON"]
    if variants:  # an undefined array element is printed `undefined`, as Snowflake prints it
        rows = [tuple(shown(v) if i in variants else v for i, v in enumerate(row)) for row in rows]
    return QueryResult(columns, rows, types)


def _written_table(sql: str) -> str | None:
    try:
        statement = sqlglot.parse_one(sql, read="snowflake")
    except sqlglot.errors.ParseError:
        return None  # the translator reports the syntax error with its position
    if not isinstance(statement, _DML):
        return None
    table = statement.this if isinstance(statement.this, exp.Table) else statement.find(exp.Table)
    return table.name.upper() if table is not None and not table.this.quoted else (table.name if table else None)


def _check_writable(backend, name: str) -> None:
    pipeline = backend.pipeline
    if name in pipeline.dynamic_tables:
        raise SqlError(
            f"{name} is a dynamic table: its contents come from its query",
            hint="write to the base tables it reads; the refresh carries the change",
        )
    if name not in pipeline.tables:
        raise BackendError(f"{name} is not a table of {pipeline.name}")
