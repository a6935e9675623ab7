"""The state reader: the introspection statements pipe sends and their rows in pipe's terms.

Statements and column names follow the Snowflake reference: sql-reference/sql/show-dynamic-tables,
show-tables, show-user-functions (SHOW columns are lower-case) and sql-reference/functions/
dynamic_table_refresh_history (upper-case columns). What the rows look like on a real account
(types, NULLs, spellings) is recorded in tests/fixtures/snowflake/show/, with sources.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from engine import names as identifiers
from engine.backends.base import ObjectStatus, RefreshRecord
from engine.kinds import ObjectKind, RefreshState, State
from engine.lag import format_lag, parse_lag
from engine.spec.model import SnowflakeTarget
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
FINAL_STATES = frozenset(RefreshState)
MAX_RESULT_LIMIT = 10000
NOT_CREATED = State.NOT_CREATED  # the local backend's word for a declared object that does not exist



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


def refresh_history(
    target: SnowflakeTarget,
    *,
    limit: int = 100,
    since: datetime | None = None,
    names: Sequence[str] = (),
) -> str:
    """A bounded query of DYNAMIC_TABLE_REFRESH_HISTORY for the target schema, newest first.

    Args:
        limit: RESULT_LIMIT (1 to 10,000): the refreshes that finished last, and running ones.
        since: DATA_TIMESTAMP_START: only refreshes at or after this data timestamp. Without it
            the function covers the last day.
        names: only these dynamic tables (resolved names): one is asked for by NAME (RESULT_LIMIT
            then counts its rows only); several by a WHERE, which applies after RESULT_LIMIT. NAME
            and NAME_PREFIX are resolved as identifiers (sql-reference/name-resolution): a name
            that must be quoted is double-quoted inside the string.
    """
    schema = identifiers.dotted(target.database, target.schema_name) + "."
    if len(names) == 1:
        arguments = [f"NAME => {sql_literal(schema + identifiers.sql(names[0]))}"]
    else:
        arguments = [f"NAME_PREFIX => {sql_literal(schema)}"]
    if since is not None:
        stamp = since.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        arguments.append(f"DATA_TIMESTAMP_START => {sql_literal(stamp + ' +0000')}::TIMESTAMP_LTZ")
    arguments.append(f"RESULT_LIMIT => {max(1, min(int(limit), MAX_RESULT_LIMIT))}")
    sql = (
        f"SELECT {', '.join(HISTORY_COLUMNS)}\n"
        f"FROM TABLE({identifiers.sql(target.database)}.INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY({', '.join(arguments)}))"
    )
    if len(names) > 1:
        sql += f"\nWHERE NAME IN ({', '.join(sql_literal(n) for n in names)})"
    return sql + "\nORDER BY DATA_TIMESTAMP DESC, REFRESH_START_TIME DESC"


def has_row(rows: Iterable[Row], name: str) -> bool:
    """Whether SHOW … LIKE output holds exactly ``name`` (LIKE alone also matches look-alikes)."""
    return any(row.get("name") == name for row in rows)


# -- status and history ----------------------------------------------------------------------


def dynamic_table_status(
    name: str, declared_lag: str, row: Row | None, last_action: str | None, now: datetime
) -> ObjectStatus:
    """``pipe status`` for a dynamic table, from its SHOW DYNAMIC TABLES row (None: missing).

    ``state`` is Snowflake's scheduling_state, ACTIVE or SUSPENDED as accounts show it (the SHOW
    reference says RUNNING: read as ACTIVE, the local backend's word); ``refresh_mode`` is what
    Snowflake resolved (INCREMENTAL or FULL), with its reason.
    """
    if row is None:
        return ObjectStatus(name, ObjectKind.DYNAMIC_TABLE, None, format_lag(declared_lag), state=NOT_CREATED)
    data_timestamp = as_datetime(row.get("data_timestamp"))
    return ObjectStatus(
        name,
        ObjectKind.DYNAMIC_TABLE,
        _int(row.get("rows")),
        target_lag=shown_lag(row.get("target_lag"), declared_lag),
        refresh_mode=row.get("refresh_mode"),
        refresh_mode_reason=row.get("refresh_mode_reason") or None,
        data_timestamp=data_timestamp,
        state=_SCHEDULING_STATES.get(str(row.get("scheduling_state") or "").upper(), row.get("scheduling_state")),
        last_refresh_action=last_action,
        lag_seconds=(now - data_timestamp).total_seconds() if data_timestamp else None,
    )


def table_status(name: str, kind: str, row: Row | None) -> ObjectStatus:
    """``pipe status`` for a base table, from its SHOW TABLES row (None: missing)."""
    if row is None:
        return ObjectStatus(name, kind, None, state=NOT_CREATED)
    state = State.EXTERNAL if kind == ObjectKind.EXTERNAL else State.ACTIVE
    return ObjectStatus(name, kind, _int(row.get("rows")), state=state)


_SCHEDULING_STATES = {"RUNNING": State.ACTIVE, "ACTIVE": State.ACTIVE, "SUSPENDED": State.SUSPENDED}


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


def shown_lag(shown: str | None, declared: str | None) -> str | None:
    """SHOW's target_lag written the way the file writes it when both mean the same duration
    (``60 seconds`` and ``1 minute`` agree); DOWNSTREAM and unreadable values as shown."""
    if not shown:
        return None
    try:
        seconds = parse_lag(shown)
    except ValueError:
        return shown
    if declared is not None and parse_lag(declared) == seconds:
        return format_lag(declared)
    return format_lag(shown)


def as_datetime(value: Any) -> datetime | None:
    """A timezone-aware datetime from the connector's value (naive ones are taken as UTC)."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _int(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None

