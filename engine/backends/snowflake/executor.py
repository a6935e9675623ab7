"""The executor: plan against, deploy to and watch a real account.

Every statement goes through one DB-API connection opened on first use, with the pipeline's
warehouse and a QUERY_TAG set at login and its schema in use before any statement that names
objects unqualified. Statements that create, change or drop objects are the ones
:mod:`engine.sql.render` renders; introspection is :mod:`.state`, read into the planner's terms
by :mod:`.diff`; finding and opening the connection is :mod:`.connection`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from engine import names as identifiers
from engine.backends.base import ActionResult, Backend, ObjectStatus, QueryResult, RefreshRecord
from engine.backends.snowflake import diff, state
from engine.backends.snowflake.connection import (
    find_connection,
    is_driver_error,
    open_connection,
    query_tag,
    statement_error,
)
from engine.backends.snowflake.polling import HistoryPoller
from engine.errors import BackendError, did_you_mean
from engine.graph import DYNAMIC_TABLE, PipelineGraph
from engine.kinds import RefreshTrigger
from engine.planner import DATABASE, SCHEMA, Action, Plan, TargetState
from engine.report import Reporter
from engine.sql.render import Statements

# Refresh-history rows stamped up to this long before the first batch still count as the
# stream's: the client's clock and Snowflake's may differ by a few seconds.
_CLOCK_SLACK = timedelta(seconds=5)
# History rows asked for per dynamic table when looking for recent refreshes: a refresh at one
# data timestamp is one row per table, so this covers several cascades.
_ROWS_PER_TABLE = 10


class SnowflakeBackend(Backend):
    """Runs a pipeline on Snowflake through snowflake-connector-python.

    Args:
        graph: the checked pipeline graph.
        connection: the connection name (``-c/--connection``); None picks the default one the
            way Snowflake's tools do (see :func:`~engine.backends.snowflake.connection.find_connection`).
        connect: a callable taking the session settings (``warehouse``, ``session_parameters``)
            as keywords and returning an open DB-API connection. Tests inject a double here
            (``SnowflakeBackend(graph, connect=fake.connect)``); by default the named connection
            is resolved and opened by the connector, imported only then.
        clock: returns the current time, timezone-aware (tests fix it).
        monotonic: seconds for the polling interval (tests replace it).

    The connection is opened on the first statement, so building the backend never fails.
    """

    name = "snowflake"
    # "remote_scheduler": Snowflake refreshes on its own (tick only reports what it did);
    # no "full_refresh": Snowflake cannot be told to recompute a dynamic table in full.
    capabilities = frozenset({"remote_scheduler"})

    def __init__(
        self,
        graph: PipelineGraph,
        *,
        connection: str | None = None,
        connect: Callable[..., Any] | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        **options: Any,
    ):
        super().__init__(graph, connection=connection, **options)
        self.sql = Statements(self.pipeline)
        self.target = self.pipeline.snowflake
        self._connect = connect or (lambda **session: open_connection(find_connection(connection), **session))
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._conn: Any = None
        self._in_context = False
        self._schema_exists = False
        self._poller = HistoryPoller(clock=monotonic)

    def close(self) -> None:
        """Close the connection, if one was opened."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    # -- state -------------------------------------------------------------------------------

    def read_state(self) -> TargetState:
        """Introspect the target database and schema: dynamic tables, tables and functions."""
        target = self.target
        if not state.has_row(self._rows(state.show_databases(target)), target.database):
            return TargetState.empty()
        if not state.has_row(self._rows(state.show_schemas(target)), target.schema_name):
            return TargetState(database_exists=True)
        self._schema_exists = True
        current = diff.target_state(
            self.pipeline,
            self._rows(state.show_in_schema(target, "DYNAMIC TABLES")),
            self._rows(state.show_in_schema(target, "TABLES")),
            self._rows(state.show_in_schema(target, "USER FUNCTIONS")),
        )
        from engine.checks.snowflake import with_dmf_state

        return with_dmf_state(current, self.graph, lambda sql: self._rows(sql, upper=True))

    def status(self) -> list[ObjectStatus]:
        """Every declared object from SHOW DYNAMIC TABLES / SHOW TABLES, in create order.

        Dynamic tables also carry their last refresh action from the refresh history. Objects
        that do not exist (or whose schema does not) have state ``NOT CREATED``.
        """
        dynamic = {r["name"]: r for r in self._rows_if_exists(state.show_in_schema(self.target, "DYNAMIC TABLES"))}
        tables = {r["name"]: r for r in self._rows_if_exists(state.show_in_schema(self.target, "TABLES"))}
        last: dict[str, str | None] = {}
        existing = [n for n in self.graph.dynamic_tables if n in dynamic]
        stamps = [state.as_datetime(dynamic[n].get("data_timestamp")) for n in existing]
        if existing and any(stamps):
            # Each table's last refresh is at or after the oldest data timestamp SHOW reports:
            # a window from there, a few rows per table, is enough.
            since = min(s for s in stamps if s is not None)
            for record in self._history(existing, _ROWS_PER_TABLE * len(existing), since):
                last.setdefault(record.name, record.refresh_action)
        now = self._clock()
        result = []
        for name in self.graph.create_order:
            kind = self.graph.kind(name)
            if kind == DYNAMIC_TABLE:
                declared = self.pipeline.dynamic_tables[name].target_lag
                result.append(state.dynamic_table_status(name, declared, dynamic.get(name), last.get(name), now))
            else:
                result.append(state.table_status(name, kind, tables.get(name)))
        return result

    def history(
        self, *, names: Sequence[str] = (), limit: int | None = None, since: datetime | None = None
    ) -> list[RefreshRecord]:
        """Refresh history of the target schema from DYNAMIC_TABLE_REFRESH_HISTORY, newest first.

        At most ``limit`` rows (default 100, at most 10,000), from data timestamp ``since`` on
        (without it the function covers the last day; Snowflake keeps 7 days). Empty when the
        database does not exist yet.
        """
        wanted = limit or 100
        # Several names are filtered after RESULT_LIMIT: ask for enough rows of the whole schema.
        result_limit = wanted * len(self.graph.dynamic_tables) if len(names) > 1 else wanted
        return self._history(names, result_limit, since)[:wanted]

    def _history(self, names: Sequence[str], result_limit: int, since: datetime | None) -> list[RefreshRecord]:
        """One bounded query of the refresh history (see :func:`.state.refresh_history`)."""
        statement = state.refresh_history(
            self.target, limit=result_limit, since=since, names=self.resolved(names),
        )
        return [state.refresh_record(row) for row in self._rows_if_exists(statement, upper=True)]

    # -- changes -----------------------------------------------------------------------------

    def apply(self, plan: Plan, reporter: Reporter) -> list[ActionResult]:
        """Run the plan's statements in order, one progress step each.

        Database and schema come first, then USE SCHEMA / USE WAREHOUSE, then every other
        change. The first failure stops the run with a :class:`BackendError` naming the
        statement, Snowflake's error code and its message.

        Returns:
            One result per action that changed something, in the order run.
        """
        groups = plan_groups(plan)
        results = []
        total = sum(len(statements) for _, statements in groups)
        with reporter.progress(f"apply to Snowflake {self.target.database}.{self.target.schema_name}", total) as bar:
            for action, statements in groups:
                started = time.monotonic()
                for statement in statements:
                    label = f"{action.kind.value} {action.name}" if action else statement
                    bar.advance(0, description=label)
                    self._run(statement, table=action.name if action else None).close()
                    bar.advance(1, description=label)
                if action is None:
                    self._in_context = self._schema_exists = True
                    continue
                seconds = time.monotonic() - started
                results.append(ActionResult(action, seconds=seconds))
                reporter.event("action", action=action, seconds=seconds)
        return results

    def refresh(self, names: Sequence[str], *, full: bool = False, reporter: Reporter) -> list[RefreshRecord]:
        """ALTER DYNAMIC TABLE … REFRESH for ``names`` (every dynamic table when empty).

        Snowflake refreshes the upstream dynamic tables itself, at the same data timestamp, so
        only the named tables that no other named table reads are sent.

        Returns:
            The refreshes this caused: every history row at the data timestamps of the manual
            refreshes, upstream included.

        Raises:
            BackendError: ``full=True`` (Snowflake has no forced full refresh), or an unknown name.
        """
        if full:
            raise BackendError(
                "Snowflake cannot force a full refresh: ALTER DYNAMIC TABLE … REFRESH refreshes the way the "
                "table's refresh mode decides (NO_DATA when nothing changed)",
                hint="run without --full; to recompute from scratch set refresh_mode: full and apply",
            )
        return self._refresh_sinks(self._dynamic_tables(names), reporter)

    def settle(self, reporter: Reporter) -> list[RefreshRecord]:
        """Refresh every dynamic table now, as ``pipe stream`` does after its last batch.

        Snowflake's scheduler would get there within the target lags (never, for a DOWNSTREAM
        table nothing time-lagged reads); a manual refresh makes the end of a stream definite.
        """
        return self._refresh_sinks(self.graph.dynamic_tables, reporter)

    def insert_batch(self, table: str, generator: str, args: list) -> int:
        """INSERT INTO table SELECT * FROM TABLE(generator(args)); returns the rows inserted."""
        self._poller.start(self._clock() - _CLOCK_SLACK)
        self._ensure_context()
        cursor = self._run(self.sql.insert_generated(table, generator, list(args)), table=table)
        self._poller.nudge()
        try:
            count = cursor.rowcount
            if count is None or count < 0:
                row = cursor.fetchone()
                count = int(row[0]) if row else 0
            return count
        finally:
            cursor.close()

    def tick(self, reporter: Reporter) -> list[RefreshRecord]:
        """The refreshes Snowflake finished since the last poll (since the first batch, at first).

        Polls only when due (see :class:`~.polling.HistoryPoller`: the interval doubles while
        nothing new arrives), from the newest data timestamp already reported, a bounded number
        of rows. Those run by CREATE (trigger CREATION) belong to apply and are left out.

        Returns:
            New finished refreshes, oldest first (upstream before downstream in a cascade).
        """
        self._poller.start(self._clock() - _CLOCK_SLACK)
        if not self._poller.due():
            return []
        limit = _ROWS_PER_TABLE * max(len(self.graph.dynamic_tables), 1)
        fresh = self._poller.take(self._history([], limit, self._poller.since))
        for record in fresh:
            reporter.event("refresh", record=record)
        return fresh

    def query(self, sql: str) -> QueryResult:
        """Run one statement, or a script of them in this one session (the last one's result), in the
        pipeline's schema and warehouse; columns as Snowflake names them."""
        from engine.sql.session import split_statements

        statements = split_statements(sql)
        self._ensure_context()
        for statement in statements[:-1]:  # ALTER SESSION, SET ...: the connector runs one statement a call
            self._run(statement).close()
        cursor = self._run(statements[-1] if len(statements) > 1 else sql)
        try:
            description = cursor.description or []
            rows = [tuple(row) for row in cursor.fetchall()] if description else []
            return QueryResult([d[0] for d in description], rows, _type_names(description))
        finally:
            cursor.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _connection(self) -> Any:
        """The session, opened on first use with the warehouse and QUERY_TAG already set.

        The warehouse is set at login because the refresh-history table function, which status,
        history and stream polling query before any USE statement, needs one.
        """
        if self._conn is None:
            self._conn = self._connect(
                warehouse=self.target.warehouse,
                session_parameters={"QUERY_TAG": query_tag(self.pipeline.name)},
            )
        return self._conn

    def _run(self, statement: str, *, table: str | None = None) -> Any:
        """Execute one statement; the open cursor is returned, driver errors become BackendError."""
        cursor = self._connection().cursor()
        try:
            cursor.execute(statement)
        except Exception as exc:
            cursor.close()
            if not is_driver_error(exc):
                raise
            raise statement_error(exc, statement, table=table) from None
        return cursor

    def _rows(self, statement: str, *, upper: bool = False) -> list[dict[str, Any]]:
        """The statement's rows keyed by column name (SHOW names are lower-case)."""
        cursor = self._run(statement)
        try:
            names = [d[0].upper() if upper else d[0].lower() for d in cursor.description or []]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def _rows_if_exists(self, statement: str, *, upper: bool = False) -> list[dict[str, Any]]:
        """Like :meth:`_rows`, empty when the schema (or database) does not exist."""
        try:
            return self._rows(statement, upper=upper)
        except BackendError as exc:
            if exc.code == "002003":  # SQL compilation error: … does not exist or not authorized
                return []
            raise

    def _ensure_context(self) -> None:
        """USE SCHEMA / USE WAREHOUSE once per session: pipe's statements name objects unqualified.

        Database and schema are set here, not at login: they may not exist yet then.
        """
        if not self._in_context:
            for statement in self.sql.use():
                self._run(statement).close()
            self._in_context = True

    def _refresh_sinks(self, names: Sequence[str], reporter: Reporter) -> list[RefreshRecord]:
        """ALTER DYNAMIC TABLE … REFRESH for the ``names`` no other of ``names`` reads.

        Snowflake refreshes a table's upstream dynamic tables first, at one data timestamp, so
        refreshing the others as well would only repeat work.
        """
        sinks = [n for n in names if not any(n in self.graph.all_upstream(m) for m in names if m != n)]
        if not sinks:
            return []
        self._ensure_context()
        started = self._clock() - _CLOCK_SLACK
        with reporter.progress("refresh on Snowflake", total=len(sinks)) as bar:
            for name in sinks:
                bar.advance(0, description=name)
                self._run(self.sql.refresh_dynamic_table(name), table=name).close()
                bar.advance(1, description=name)
        scope = {u for n in sinks for u in self.graph.all_upstream(n) if self.graph.kind(u) == DYNAMIC_TABLE}
        names = sorted(scope | set(sinks))
        records = self._history(names, _ROWS_PER_TABLE * len(self.graph.dynamic_tables), started)
        manual = _manual_cascades(records, sinks)
        self._poller.mark_seen(manual)
        for record in manual:
            reporter.event("refresh", record=record)
        return manual

    def _dynamic_tables(self, names: Sequence[str]) -> list[str]:
        declared = self.graph.dynamic_tables
        if not names:
            return list(declared)
        wanted = {identifiers.pick(name, declared) for name in names}
        for name in names:
            if identifiers.pick(name, declared) is None:
                raise BackendError(
                    f"{name} is not a dynamic table of {self.pipeline.name}",
                    hint=did_you_mean(name, declared) or f"refresh one of: {', '.join(declared)}",
                )
        return [n for n in declared if n in wanted]


def plan_groups(plan: Plan) -> list[tuple[Action | None, tuple[str, ...]]]:
    """The plan's statements grouped by action, in :meth:`Plan.statements` order.

    The setup statements (USE SCHEMA / USE WAREHOUSE) form a group without an action.
    """
    if not plan.has_changes:
        return []
    first = [a for a in plan.changes if a.object_type in (DATABASE, SCHEMA)]
    rest = [a for a in plan.changes if a.object_type not in (DATABASE, SCHEMA)]
    return [*((a, a.statements) for a in first), (None, plan.setup), *((a, a.statements) for a in rest)]


def _manual_cascades(records: list[RefreshRecord], sinks: Sequence[str]) -> list[RefreshRecord]:
    """The rows sharing a data timestamp with each sink's newest MANUAL refresh, oldest first."""
    stamps = set()
    for sink in sinks:
        newest = next((r for r in records if r.name == sink and r.refresh_trigger == RefreshTrigger.MANUAL), None)
        if newest is not None:
            stamps.add(newest.data_timestamp)
    return [r for r in reversed(records) if r.data_timestamp in stamps]


def _type_names(description: Sequence[Any]) -> list[str]:
    """Snowflake type names of a cursor's columns (empty when the codes are unknown)."""
    try:
        from snowflake.connector.constants import FIELD_ID_TO_NAME
    except ImportError:  # pragma: no cover - the connector is a dependency
        return []
    names = [FIELD_ID_TO_NAME.get(d[1], "") if isinstance(d[1], int) else "" for d in description]
    return names if all(names) else []


__all__ = ["SnowflakeBackend", "plan_groups"]
