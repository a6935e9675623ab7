"""Carrying out plan actions on the local database, all of them in one transaction.

DuckDB's DDL is transactional: an apply commits as a whole or not at all, so an apply that fails,
is interrupted or is killed at any point leaves a new database empty and an existing one as it
was, and the next apply starts from there.
"""

from __future__ import annotations

import time

from engine import names
from engine.backends.base import ActionResult
from engine.backends.local import aggstate
from engine.backends.local.errors import file_problem, rollback
from engine.backends.local.refresh import Refresher, problem
from engine.backends.local.store import META, Store
from engine.errors import BackendError, is_interrupt
from engine.graph import PipelineGraph
from engine.lag import format_lag
from engine.planner import DATABASE, DYNAMIC_TABLE, FUNCTION, SCHEMA, TABLE, Action, ActionKind
from engine.sql.render import Statements, function_source


_SECTIONS = {TABLE: "tables", DYNAMIC_TABLE: "dynamic_tables", FUNCTION: "generators"}


class Applier:
    """Runs plan actions against a :class:`Store`."""

    def __init__(self, store: Store, graph: PipelineGraph, refresher: Refresher, queries: dict[str, str]):
        self.store = store
        self.graph = graph
        self.pipeline = graph.pipeline
        self.refresher = refresher
        self.queries = queries
        self.statements = Statements(self.pipeline)

    def run_all(self, actions, data_timestamp, progress) -> list[ActionResult]:
        """Carry out ``actions`` in one transaction: all of them, or none when one fails."""
        self._outer = True
        try:
            return self._transaction(lambda: self._run_each(actions, data_timestamp, progress), outer=True)
        finally:
            self._outer = False

    def _run_each(self, actions, data_timestamp, progress) -> list[ActionResult]:
        results = []
        for action in actions:
            progress.advance(0, description=f"{action.kind.value} {action.name}")
            results.append(self.run(action, data_timestamp))
            progress.advance(1)
        return results

    def run(self, action: Action, data_timestamp) -> ActionResult:
        """Carry out one action; returns what it did.

        Raises:
            BackendError: the database refused it (naming the object and the problem).
        """
        import duckdb

        try:
            return self._run(action, data_timestamp)
        except duckdb.Error as exc:
            if is_interrupt(exc):
                raise
            disk = file_problem(exc, self.store.path)
            if disk is not None:
                raise disk from exc
            raise BackendError(
                f"{action.kind.value} failed: {problem(action.name, exc).removeprefix(action.name + ': ')}",
                location=self.pipeline.locate(_SECTIONS.get(action.object_type, "tables"), action.name, table=action.name),
                hint="nothing was applied; fix it and apply again",
            ) from exc

    def _run(self, action: Action, data_timestamp) -> ActionResult:
        start = time.perf_counter()
        rows, refresh_action = None, None
        if action.object_type in (DATABASE, SCHEMA):
            pass  # the local database and schema exist once the file is open
        elif action.object_type == FUNCTION:
            self._function(action)
        elif action.object_type == TABLE:
            rows = self._transaction(lambda: self._table(action))
        elif action.object_type == DYNAMIC_TABLE:
            rows, refresh_action = self._transaction(lambda: self._dynamic_table(action, data_timestamp)) or (None, None)
        return ActionResult(action, rows, time.perf_counter() - start, refresh_action)

    _outer = False  # inside run_all's transaction: each action joins it

    def _transaction(self, work, *, outer: bool = False):
        if self._outer and not outer:
            return work()
        con = self.store.con
        con.execute("BEGIN TRANSACTION")
        try:
            result = work()
            con.execute("COMMIT")
            return result
        except BaseException as exc:
            rollback(con, exc)
            raise

    # -- functions: locally the generator module is the function; only its fingerprint is kept

    def _function(self, action: Action) -> None:
        generator = next(g for g in self.pipeline.generators if names.resolve(g) == action.name)
        if action.kind is ActionKind.DROP:
            self.store.delete_object(f"function:{action.name}")
            return
        args = ", ".join(self.pipeline.generators[generator].args.values())
        self.store.put_object(
            f"function:{action.name}",
            action.name,
            FUNCTION,
            {
                "fingerprint": self.statements.function_fingerprint(generator),
                "arg_types": args,
                # Kept so that pipe plan can show how the module changed.
                "source": function_source(self.pipeline, generator),
            },
        )

    # -- base tables ---------------------------------------------------------------------------

    def _table(self, action: Action) -> int | None:
        name = action.name
        target = self.store.qualified(name)
        if action.kind is ActionKind.DROP:
            self._drop(name)
            return None
        from engine.generators.local import insert_generated
        from engine.sql.translate import duckdb_type

        self._drop_any(name)
        table = self.pipeline.tables[name]
        columns = self.pipeline.generator(table.generator).returns if table.generator else table.columns
        ddl = ", ".join(f"{names.duckdb(names.resolve(c))} {duckdb_type(t)}" for c, t in columns.items())
        self.store.execute(f"CREATE TABLE {target} ({ddl})")
        rows = 0
        if table.generator:
            rows = insert_generated(
                self.store.con, target, self.pipeline, table.generator, list(table.args),
                seed=self.pipeline.seed, order_by=[names.resolve(c) for c in table.order_by],
            )
        self.store.put_object(name, name, TABLE, {"fingerprint": self.statements.table_fingerprint(name)})
        self.refresher.log.reset(name)
        self._mark_reinitialize(action.consumers)
        return rows

    # -- dynamic tables ------------------------------------------------------------------------

    def _dynamic_table(self, action: Action, data_timestamp):
        name = action.name
        if action.kind is ActionKind.DROP:
            self._drop(name)
            return None
        dt = self.pipeline.dynamic_tables[name]
        self.store.put_object(name, name, DYNAMIC_TABLE, self._properties(name))
        if action.kind is ActionKind.ALTER:
            return None
        self._drop_any(name)
        self._create_dynamic_table(name)
        self.refresher.log.reset(name)
        self._mark_reinitialize(action.consumers)
        if dt.initialize == "on_schedule":
            return 0, None
        # The initial refresh joins this transaction: the table appears already filled.
        record = self.refresher.refresh_in_transaction(
            name,
            trigger="CREATION",
            full=True,
            data_timestamp=data_timestamp,
            reinitialize=action.kind is ActionKind.REPLACE,
        )
        return record.inserted_rows, record.refresh_action

    def _properties(self, name: str) -> dict:
        dt = self.pipeline.dynamic_tables[name]
        return {
            "sql": dt.sql,
            "target_lag": format_lag(dt.target_lag),
            "warehouse": self.statements.warehouse(name),
            "refresh_mode": dt.refresh_mode.upper(),
            "comment": dt.comment,
            "initialize": dt.initialize.upper(),
        }

    # -- adopting a table pipe did not create -------------------------------------------------

    def adopt(self, name: str) -> None:
        """Record ``name`` as pipe's, keeping its rows: a base table as declared now; a dynamic
        table reinitialises at the end of the apply (its rows must be its query's)."""
        def work():
            if self.graph.kind(name) == DYNAMIC_TABLE:
                self.store.put_object(name, name, DYNAMIC_TABLE, self._properties(name))
                self._register_dynamic_table(name)
                self._mark_reinitialize([name])
            else:
                self.store.put_object(name, name, TABLE, {"fingerprint": self.statements.table_fingerprint(name)})
            self.refresher.log.reset(name)
            self._mark_reinitialize(self.graph.all_downstream(name))

        self._transaction(work)

    def _create_dynamic_table(self, name: str) -> None:
        query = self.queries[name]
        target = self.store.qualified(name)
        self.store.execute(f"CREATE TABLE {target} AS SELECT * FROM ({query}) LIMIT 0")
        self._register_dynamic_table(name)

    def _register_dynamic_table(self, name: str) -> None:
        decision = self.graph.decisions[name]
        dt = self.pipeline.dynamic_tables[name]
        mode = decision.mode if dt.refresh_mode == "auto" else dt.refresh_mode.upper()
        reason = decision.reason if dt.refresh_mode == "auto" else f"refresh_mode is {dt.refresh_mode}"
        self.store.con.execute(f"DELETE FROM {META}.DYNAMIC_TABLES WHERE NAME = ?", [name])
        self.store.con.execute(
            f"""INSERT INTO {META}.DYNAMIC_TABLES (NAME, STATE, REFRESH_MODE, REFRESH_MODE_REASON,
                DATA_TIMESTAMP, INPUT_VERSIONS, CONSECUTIVE_FAILURES, LAST_ACTION, NEEDS_REINITIALIZE)
                VALUES (?, 'ACTIVE', ?, ?, NULL, NULL, 0, NULL, FALSE)""",
            [name, mode, reason],
        )

    def _mark_reinitialize(self, names) -> None:
        for name in names:
            self.store.con.execute(
                f"UPDATE {META}.DYNAMIC_TABLES SET NEEDS_REINITIALIZE = TRUE WHERE NAME = ?", [name]
            )

    def _drop_any(self, name: str) -> None:
        if self.store.table_exists(name):
            self.store.execute(f"DROP TABLE {self.store.qualified(name)}")
        aggstate.drop(self.store, name)

    def _drop(self, name: str) -> None:
        self._drop_any(name)
        con = self.store.con
        self.store.delete_object(name)
        self.store.delete_history(name)
        self.refresher.log.drop(name)
        con.execute(f"DROP TABLE IF EXISTS {META}.\"PRE_{name}\"")
        con.execute(f"DELETE FROM {META}.DYNAMIC_TABLES WHERE NAME = ?", [name])


def check_not_external(store: Store, graph: PipelineGraph) -> None:
    """External tables must exist locally before anything reads them."""
    for name, table in graph.pipeline.tables.items():
        if table.external and not store.table_exists(name):
            raise BackendError(
                f"external table {name} does not exist in the local database {store.path}",
                hint=f"create {store.schema}.{name} there first (pipe never creates external tables)",
            )
