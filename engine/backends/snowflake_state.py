"""Snowflake's introspection output in pipe's terms: TargetState, ObjectStatus, RefreshRecord.

The queries and the column names follow the Snowflake reference: sql-reference/sql/
show-dynamic-tables, show-tables, show-user-functions (SHOW columns are lower-case) and
sql-reference/functions/dynamic_table_refresh_history (upper-case columns).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlglot
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from engine.backends.base import ObjectStatus, RefreshRecord
from engine.graph import DYNAMIC_TABLE, EXTERNAL
from engine.lag import format_lag, parse_lag
from engine.planner import FUNCTION, TABLE, ObjectState, TargetState
from engine.spec.model import Pipeline, SnowflakeTarget
from engine.sql.render import sql_literal

Row = Mapping[str, Any]

HISTORY_COLUMNS = (
    "NAME",
    "STATE",
    "STATE_MESSAGE",
    "REFRESH_ACTION",
    "REFRESH_TRIGGER",
    "DATA_TIMESTAMP",
    "REFRESH_START_TIME",
    "REFRESH_END_TIME",
    "STATISTICS",
)
# The docs spell it both ways (CANCELLED in the STATE column, CANCELED elsewhere).
FINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "UPSTREAM_FAILED", "SKIPPED", "CANCELLED", "CANCELED"})
MAX_RESULT_LIMIT = 10000
NOT_CREATED = "NOT CREATED"  # the local backend's word for a declared object that does not exist

# The properties pipe's create_dynamic_table template writes, in its order: a dynamic table
# whose CREATE text has exactly these was made by pipe (a hand-written one rarely has all four).
_PIPE_DT_PROPERTIES = ("TARGET_LAG", "WAREHOUSE", "REFRESH_MODE", "INITIALIZE")


# -- the introspection statements ------------------------------------------------------------


def show_databases(target: SnowflakeTarget) -> str:
    """SHOW DATABASES LIKE the target database (LIKE also matches ``_`` as a wildcard)."""
    return f"SHOW DATABASES LIKE {sql_literal(target.database)}"


def show_schemas(target: SnowflakeTarget) -> str:
    """SHOW SCHEMAS LIKE the target schema IN its database."""
    return f"SHOW SCHEMAS LIKE {sql_literal(target.schema_name)} IN DATABASE {target.database}"


def show_in_schema(target: SnowflakeTarget, objects: str) -> str:
    """``SHOW <objects> IN SCHEMA db.schema`` (DYNAMIC TABLES, TABLES, USER FUNCTIONS)."""
    return f"SHOW {objects} IN SCHEMA {target.database}.{target.schema_name}"


def refresh_history(target: SnowflakeTarget, names: Sequence[str] = (), limit: int | None = None) -> str:
    """A query of DYNAMIC_TABLE_REFRESH_HISTORY for the target schema, newest first.

    RESULT_LIMIT is applied before any WHERE, so a query filtered by name asks for the maximum.
    """
    prefix = sql_literal(f"{target.database}.{target.schema_name}.")
    result_limit = MAX_RESULT_LIMIT if names else min(limit or 100, MAX_RESULT_LIMIT)
    sql = (
        f"SELECT {', '.join(HISTORY_COLUMNS)}\n"
        f"FROM TABLE({target.database}.INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY("
        f"NAME_PREFIX => {prefix}, RESULT_LIMIT => {result_limit}))"
    )
    if names:
        sql += f"\nWHERE NAME IN ({', '.join(sql_literal(n) for n in names)})"
    sql += "\nORDER BY DATA_TIMESTAMP DESC, REFRESH_START_TIME DESC"
    if names and limit:
        sql += f"\nLIMIT {int(limit)}"
    return sql


# -- TargetState -----------------------------------------------------------------------------


def has_row(rows: Iterable[Row], name: str) -> bool:
    """Whether SHOW … LIKE output holds exactly ``name`` (LIKE alone also matches look-alikes)."""
    return any(row.get("name") == name for row in rows)


def target_state(
    pipeline: Pipeline, dynamic_tables: Sequence[Row], tables: Sequence[Row], functions: Sequence[Row]
) -> TargetState:
    """The objects in an existing schema, from SHOW DYNAMIC TABLES / TABLES / USER FUNCTIONS."""
    objects: dict[str, ObjectState] = {}
    dynamic_names = {row["name"] for row in dynamic_tables}
    for row in dynamic_tables:
        declared = pipeline.dynamic_tables.get(row["name"])
        objects[row["name"]] = dynamic_table_state(row, declared.target_lag if declared else None)
    for row in tables:
        if row["name"] in dynamic_names or _yes(row.get("is_dynamic")):
            continue
        objects[row["name"]] = table_state(row)
    for row in _newest_per_name(functions):
        objects[f"{FUNCTION}:{row['name']}"] = function_state(row)
    return TargetState(database_exists=True, schema_exists=True, objects=objects)


def dynamic_table_state(row: Row, declared_lag: str | None = None) -> ObjectState:
    """A dynamic table from one SHOW DYNAMIC TABLES row.

    The query and the *declared* refresh mode come from ``text`` (the CREATE statement): the
    ``refresh_mode`` column shows what AUTO resolved to. The lag is written the way the file
    writes it when both mean the same duration, so ``60 seconds`` and ``1 minute`` agree.
    """
    parsed = parse_dynamic_table_text(row.get("text") or "")
    properties = {
        "sql": parsed.query,
        "target_lag": _lag(row.get("target_lag"), declared_lag),
        "warehouse": row.get("warehouse") or None,
        "refresh_mode": parsed.refresh_mode,
        "comment": row.get("comment") or None,
    }
    if not parsed.made_by_pipe:
        properties["managed"] = "false"
    return ObjectState(row["name"], DYNAMIC_TABLE, properties)


def table_state(row: Row) -> ObjectState:
    """A base table from one SHOW TABLES row: its comment is pipe's fingerprint."""
    comment = row.get("comment") or None
    properties: dict[str, str | None] = {"fingerprint": comment}
    if not (comment and "pipe:" in comment):
        properties["managed"] = "false"
    return ObjectState(row["name"], TABLE, properties)


def function_state(row: Row) -> ObjectState:
    """A function from one SHOW USER FUNCTIONS row: ``description`` holds its comment."""
    description = row.get("description") or None
    properties: dict[str, str | None] = {
        "fingerprint": description,
        "arg_types": parse_arg_types(row.get("arguments") or ""),
    }
    if not (description and description.startswith("pipe:")):
        properties["managed"] = "false"
    return ObjectState(row["name"], FUNCTION, properties)


def _newest_per_name(functions: Sequence[Row]) -> list[Row]:
    """One row per function name: overloads share a name; the newest is the one pipe made last."""
    chosen: dict[str, Row] = {}
    for row in functions:
        current = chosen.get(row["name"])
        if current is None or _sort_time(row.get("created_on")) >= _sort_time(current.get("created_on")):
            chosen[row["name"]] = row
    return list(chosen.values())


def _lag(shown: str | None, declared: str | None) -> str | None:
    if not shown:
        return None
    try:
        seconds = parse_lag(shown)
    except ValueError:
        return shown
    if declared is not None and parse_lag(declared) == seconds:
        return format_lag(declared)
    return format_lag(shown)


# -- parsing SHOW text -----------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedDynamicTable:
    """What a dynamic table's CREATE text declares.

    Attributes:
        query: the defining query as written (None when the text cannot be read).
        refresh_mode: the declared REFRESH_MODE, AUTO when absent.
        properties: the names of the ``NAME = value`` properties, in order.
        or_replace: whether the text starts with CREATE OR REPLACE.
    """

    query: str | None
    refresh_mode: str = "AUTO"
    properties: tuple[str, ...] = ()
    or_replace: bool = False

    @property
    def made_by_pipe(self) -> bool:
        """Whether the text has the shape pipe's create_dynamic_table template gives it."""
        return self.or_replace and self.properties[: len(_PIPE_DT_PROPERTIES)] == _PIPE_DT_PROPERTIES


def parse_dynamic_table_text(text: str) -> ParsedDynamicTable:
    """Split ``CREATE [OR REPLACE] DYNAMIC TABLE … AS <query>`` into its parts.

    The query is the text after the first top-level ``AS`` (not the ``AS`` of ``EXECUTE AS
    USER``), kept as written; the refresh mode is REFRESH_MODE's value, AUTO when absent.
    """
    try:
        tokens = sqlglot.tokenize(text, read="snowflake")
    except TokenError:
        return ParsedDynamicTable(None)
    if not tokens or tokens[0].token_type != TokenType.CREATE:
        return ParsedDynamicTable(text.strip().rstrip(";").strip() or None)
    depth, properties, mode, query = 0, [], "AUTO", None
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and token.token_type == TokenType.ALIAS and not _after(tokens, i, TokenType.EXECUTE):
            query = text[token.end + 1 :].strip().rstrip(";").strip() or None
            break
        elif depth == 0 and _next_is(tokens, i, TokenType.EQ):
            properties.append(token.text.upper())
            if token.text.upper() == "REFRESH_MODE" and i + 2 < len(tokens):
                mode = tokens[i + 2].text.upper()
    words = [t.text.upper() for t in tokens[:3]]
    return ParsedDynamicTable(query, mode, tuple(properties), words == ["CREATE", "OR", "REPLACE"])


def _after(tokens: list[Token], i: int, kind: TokenType) -> bool:
    return i > 0 and tokens[i - 1].token_type == kind


def _next_is(tokens: list[Token], i: int, kind: TokenType) -> bool:
    return i + 1 < len(tokens) and tokens[i + 1].token_type == kind


def parse_arg_types(arguments: str) -> str:
    """``'NUMBER, NUMBER'`` from ``'GEN(NUMBER, NUMBER) RETURN TABLE (…)'`` (optional ``[ ]`` dropped)."""
    start = arguments.find("(")
    if start < 0:
        return ""
    depth = 0
    for end in range(start, len(arguments)):
        depth += {"(": 1, ")": -1}.get(arguments[end], 0)
        if depth == 0:
            inner = arguments[start + 1 : end].replace("[", "").replace("]", "")
            return ", ".join(part.strip() for part in _split_top(inner) if part.strip())
    return ""


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses: ``NUMBER(38, 0), VARCHAR`` is two types."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


# -- status and history ----------------------------------------------------------------------


def dynamic_table_status(
    name: str, declared_lag: str, row: Row | None, last_action: str | None, now: datetime
) -> ObjectStatus:
    """``pipe status`` for a dynamic table, from its SHOW DYNAMIC TABLES row (None: missing).

    ``state`` is Snowflake's scheduling_state (RUNNING, SUSPENDED); ``refresh_mode`` is what
    Snowflake resolved (INCREMENTAL or FULL), with its reason.
    """
    if row is None:
        return ObjectStatus(name, DYNAMIC_TABLE, None, format_lag(declared_lag), state=NOT_CREATED)
    data_timestamp = as_datetime(row.get("data_timestamp"))
    return ObjectStatus(
        name,
        DYNAMIC_TABLE,
        _int(row.get("rows")),
        target_lag=_lag(row.get("target_lag"), declared_lag),
        refresh_mode=row.get("refresh_mode"),
        refresh_mode_reason=row.get("refresh_mode_reason") or None,
        data_timestamp=data_timestamp,
        state=row.get("scheduling_state"),
        last_refresh_action=last_action,
        lag_seconds=(now - data_timestamp).total_seconds() if data_timestamp else None,
    )


def table_status(name: str, kind: str, row: Row | None) -> ObjectStatus:
    """``pipe status`` for a base table, from its SHOW TABLES row (None: missing)."""
    if row is None:
        return ObjectStatus(name, kind, None, state=NOT_CREATED)
    return ObjectStatus(name, kind, _int(row.get("rows")), state="EXTERNAL" if kind == EXTERNAL else "ACTIVE")


def refresh_record(row: Row) -> RefreshRecord:
    """One DYNAMIC_TABLE_REFRESH_HISTORY row (upper-case columns) as a :class:`RefreshRecord`."""
    statistics = row.get("STATISTICS")
    if isinstance(statistics, str):
        try:
            statistics = json.loads(statistics)
        except ValueError:
            statistics = None
    statistics = statistics if isinstance(statistics, Mapping) else {}
    return RefreshRecord(
        name=row["NAME"],
        state=row.get("STATE") or "",
        state_message=row.get("STATE_MESSAGE") or None,
        refresh_action=row.get("REFRESH_ACTION"),
        refresh_trigger=row.get("REFRESH_TRIGGER") or "",
        data_timestamp=as_datetime(row.get("DATA_TIMESTAMP")),
        refresh_start_time=as_datetime(row.get("REFRESH_START_TIME")),
        refresh_end_time=as_datetime(row.get("REFRESH_END_TIME")),
        inserted_rows=_int(statistics.get("numInsertedRows")),
        deleted_rows=_int(statistics.get("numDeletedRows")),
    )


def as_datetime(value: Any) -> datetime | None:
    """A timezone-aware datetime from the connector's value (naive ones are taken as UTC)."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _sort_time(value: Any) -> datetime:
    return as_datetime(value) or datetime.min.replace(tzinfo=timezone.utc)


def _int(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _yes(value: Any) -> bool:
    return str(value).upper() in ("Y", "YES", "TRUE")
