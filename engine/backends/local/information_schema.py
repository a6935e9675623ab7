"""Snowflake's monitoring views, answered from the local engine's state.

``TABLE(INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY(...))`` in any query and
``SHOW DYNAMIC TABLES [LIKE '…']`` return what Snowflake would, with its column names, so the
monitoring queries written for Snowflake run unchanged through ``pipe query``.
"""

from __future__ import annotations

import json
import re

import sqlglot
from sqlglot import exp

from engine import names
from engine.backends.base import QueryResult
from engine.errors import SqlError
from engine.lag import format_lag, parse_lag

HISTORY_TABLE = "__PIPE_REFRESH_HISTORY"
_SHOW = re.compile(r"^\s*SHOW\s+DYNAMIC\s+TABLES(?:\s+LIKE\s+'((?:[^']|'')*)')?(?:\s+IN\s+.*)?\s*;?\s*$", re.I | re.S)
_HISTORY_ARGS = {"NAME", "NAME_PREFIX", "RESULT_LIMIT", "ERROR_ONLY", "DATA_TIMESTAMP_START", "DATA_TIMESTAMP_END"}


def show_dynamic_tables(backend, sql: str) -> QueryResult | None:
    """The rows of ``SHOW DYNAMIC TABLES``, or None when ``sql`` is not that."""
    match = _SHOW.match(sql)
    if not match:
        return None
    pattern = match.group(1)
    regex = _like(pattern.replace("''", "'")) if pattern is not None else None
    target = backend.pipeline.snowflake
    columns = [
        "created_on", "name", "database_name", "schema_name", "rows", "target_lag", "refresh_mode",
        "refresh_mode_reason", "warehouse", "comment", "text", "scheduling_state", "data_timestamp",
    ]
    rows = []
    for status in backend.status():
        if status.kind != "dynamic_table" or status.state == "NOT CREATED":
            continue
        if regex is not None and not regex.match(status.name):
            continue
        dt = backend.pipeline.dynamic_tables[status.name]
        text = backend.statements().create_dynamic_table(status.name)
        state = "SUSPENDED" if status.state == "SUSPENDED" else "ACTIVE"
        rows.append(
            (
                None, status.name, target.database, target.schema_name, status.rows, format_lag(dt.target_lag),
                status.refresh_mode, status.refresh_mode_reason if status.refresh_mode == "FULL" else None,
                dt.warehouse or target.warehouse, dt.comment, text, state, status.data_timestamp,
            )
        )
    return QueryResult(columns, rows)


def _like(pattern: str) -> re.Pattern:
    """A Snowflake LIKE pattern (case-insensitive in SHOW) as a regular expression."""
    out = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{out}$", re.I)


def rewrite_history(backend, sql: str) -> str:
    """Replace the refresh-history table function in ``sql`` by a table of its rows."""
    if "DYNAMIC_TABLE_REFRESH_HISTORY" not in sql.upper():
        return sql
    try:
        tree = sqlglot.parse_one(sql, read="snowflake")
    except sqlglot.errors.ParseError:
        return sql
    for node in list(tree.find_all(exp.TableFromRows, exp.Table)):
        call = node.this
        if not isinstance(call, exp.Anonymous) and not isinstance(call, exp.Dot):
            continue
        name = (call.name if isinstance(call, exp.Anonymous) else call.expression.name).upper()
        if isinstance(call, exp.Dot):
            call = call.expression
        if name != "DYNAMIC_TABLE_REFRESH_HISTORY" or not isinstance(call, exp.Anonymous):
            continue
        _materialize(backend, _arguments(call))
        table = exp.Table(this=exp.to_identifier(HISTORY_TABLE))
        if node.alias:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(node.alias)))
        node.replace(table)
    return tree.sql(dialect="snowflake")


def _arguments(call: exp.Anonymous) -> dict:
    args = {}
    for arg in call.expressions:
        if not isinstance(arg, exp.Kwarg):
            raise SqlError("DYNAMIC_TABLE_REFRESH_HISTORY takes named arguments (NAME => '…')")
        key = arg.this.name.upper()
        if key not in _HISTORY_ARGS:
            raise SqlError(
                f"DYNAMIC_TABLE_REFRESH_HISTORY has no argument {key}",
                hint=f"arguments: {', '.join(sorted(_HISTORY_ARGS))}",
            )
        value = arg.expression
        if isinstance(value, exp.Literal):
            args[key] = value.this if value.is_string else float(value.this)
        elif isinstance(value, exp.Boolean):
            args[key] = value.this
        else:
            args[key] = value.sql(dialect="snowflake")
    return args


def _name_parts(text: str) -> list[str]:
    """The resolved parts of a name written in a string (``'DB.SC."Région totals"'``)."""
    try:
        table = exp.to_table(text, dialect="snowflake")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return [text]
    return [names.of(part) for part in table.parts]


def _materialize(backend, args: dict) -> None:
    """Fill the temporary history table from the local refresh history and the arguments."""
    store = backend.existing_store()
    target = backend.pipeline.snowflake
    con = store.con
    qualified = f"{target.database}.{target.schema_name}."
    where, params = ["TRUE"], []
    if "NAME" in args:  # an identifier, maybe qualified: resolved as Snowflake resolves names
        *qualifiers, name = _name_parts(str(args["NAME"]))
        ours = not qualifiers or qualifiers == [target.database, target.schema_name][-len(qualifiers):]
        where.append("NAME = ?" if ours else "FALSE")
        params += [name] if ours else []
    if "NAME_PREFIX" in args:
        where.append("(starts_with(QUALIFIED_NAME, upper(?)) OR starts_with(NAME, upper(?)))")
        params += [str(args["NAME_PREFIX"])] * 2
    if args.get("ERROR_ONLY") in (True, "TRUE", "true"):
        where.append("STATE IN ('FAILED', 'UPSTREAM_FAILED', 'CANCELLED')")
    for key, op in (("DATA_TIMESTAMP_START", ">="), ("DATA_TIMESTAMP_END", "<")):
        if key in args:
            where.append(f"DATA_TIMESTAMP {op} CAST(? AS TIMESTAMP)")
            params.append(str(args[key]))
    limit = int(args.get("RESULT_LIMIT", 100))
    lags = {n: parse_lag(dt.target_lag) for n, dt in backend.pipeline.dynamic_tables.items()}
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {HISTORY_TABLE} AS
        WITH H AS (SELECT *, ? || NAME AS QUALIFIED_NAME FROM {store.history_view(HISTORY_TABLE + "_ROWS")})
        SELECT NAME, ? AS SCHEMA_NAME, ? AS DATABASE_NAME, QUALIFIED_NAME, STATE, STATE_MESSAGE,
               CAST(NULL AS VARCHAR) AS QUERY_ID, DATA_TIMESTAMP, REFRESH_START_TIME, REFRESH_END_TIME,
               CAST(json_object('numInsertedRows', INSERTED_ROWS, 'numDeletedRows', DELETED_ROWS) AS JSON) AS STATISTICS,
               REFRESH_ACTION, REFRESH_TRIGGER, CAST(json_extract(?::JSON, '$.' || NAME) AS BIGINT) AS TARGET_LAG_SEC
        FROM H WHERE {' AND '.join(where)}
        ORDER BY SEQ DESC LIMIT {limit}""",
        [qualified, target.schema_name, target.database, json.dumps(lags), *params],
    )


__all__ = ["rewrite_history", "show_dynamic_tables"]
