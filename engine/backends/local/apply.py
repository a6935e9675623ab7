"""Carrying out plan actions on the local database, all of them in one transaction.

DuckDB's DDL is transactional: an apply commits as a whole or not at all, so an apply that fails,
is interrupted or is killed at any point leaves a new database empty and an existing one as it
was, and the next apply starts from there.
"""

from __future__ import annotations

import time

from engine import names
from engine.backends.base import ActionResult
from engine.backends.local.errors import file_problem, rollback
from engine.backends.local.incremental.aggstate import drop as drop_state
from engine.checks.keycounts import drop_counts
from engine.backends.local.refresh import Refresher, problem
from engine.backends.local.store import Store
from engine.errors import BackendError, is_interrupt
from engine.graph import PipelineGraph
from engine.kinds import ActionKind, Initialize, ObjectKind, RefreshTrigger
from engine.definitions import (
    DynamicTableDefinition,
    FunctionDefinition,
    TableDefinition,
    dynamic_table_definition,
    table_definition,
)
from engine.planner import Action
from engine.sql.render import Statements

DATABASE, SCHEMA, FUNCTION = ObjectKind.DATABASE, ObjectKind.SCHEMA, ObjectKind.FUNCTION
TABLE, DYNAMIC_TABLE = ObjectKind.TABLE, ObjectKind.DYNAMIC_TABLE


_SECTIONS = {TABLE: "tables", DYNAMIC_TABLE: "dynamic_tables", FUNCTION: "generators"}


class Applier:
    """Runs plan actions against a :class:`Store`: each action is carried out from what it carries
    (its definition), never from the pipeline file, so apply does what the plan showed."""

    def __init__(self, store: Store, graph: PipelineGraph, refresher: Refresher):
        self.store = store
        self.graph = graph
        self.pipeline = graph.pipeline
        self.refresher = refresher
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

    # -- functions: locally the generator module is the function; only its record is kept

    def _function(self, action: Action) -> None:
        if action.kind is ActionKind.DROP:
            self.store.delete_object(f"function:{action.name}")
            return
        definition = _definition(action, FunctionDefinition)
        # The source is kept so that pipe plan can show how the module changed.
        self.store.put_object(f"function:{action.name}", action.name, FUNCTION, definition.record())

    # -- base tables ---------------------------------------------------------------------------

    def _table(self, action: Action) -> int | None:
        name = action.name
        target = self.store.qualified(name)
        if action.kind is ActionKind.DROP:
            self._drop(name)
            return None
        from engine.generators.local import insert_generated
        from engine.sql.translate import duckdb_type

        definition = _definition(action, TableDefinition)
        self._drop_any(name)
        ddl = ", ".join(f"{names.duckdb(column)} {duckdb_type(kind)}" for column, kind in definition.columns)
        self.store.execute(f"CREATE TABLE {target} ({ddl})")
        rows = 0
        if definition.generator:
            rows = insert_generated(
                self.store.con, target, self.pipeline, definition.generator, list(definition.args),
                seed=definition.seed, order_by=list(definition.order_by),
            )
        self.store.put_object(name, name, TABLE, {"fingerprint": definition.fingerprint})
        self.refresher.log.reset(name)
        self._mark_reinitialize(action.consumers)
        return rows

    # -- dynamic tables ------------------------------------------------------------------------

    def _dynamic_table(self, action: Action, data_timestamp):
        name = action.name
        if action.kind is ActionKind.DROP:
            self._drop(name)
            return None
        definition = _definition(action, DynamicTableDefinition)
        self.store.put_object(name, name, DYNAMIC_TABLE, definition.properties.record())
        if action.kind is ActionKind.ALTER:
            return None
        self._drop_any(name)
        self._create_dynamic_table(name, definition)
        self.refresher.log.reset(name)
        self._mark_reinitialize(action.consumers)
        if definition.properties.initialize is Initialize.ON_SCHEDULE:
            return 0, None
        # The initial refresh joins this transaction: the table appears already filled.
        record = self.refresher.refresh_in_transaction(
            name,
            trigger=RefreshTrigger.CREATION,
            full=True,
            data_timestamp=data_timestamp,
            reinitialize=action.kind is ActionKind.REPLACE,
        )
        return record.inserted_rows, record.refresh_action

    # -- adopting a table pipe did not create -------------------------------------------------

    def adopt(self, name: str) -> None:
        """Record ``name`` as pipe's, keeping its rows: a base table as declared now; a dynamic
        table reinitialises at the end of the apply (its rows must be its query's)."""
        def work():
            if self.graph.kind(name) == DYNAMIC_TABLE:
                definition = dynamic_table_definition(self.graph, name)
                self.store.put_object(name, name, DYNAMIC_TABLE, definition.properties.record())
                self._register_dynamic_table(name, definition)
                self._mark_reinitialize([name])
            else:
                fingerprint = table_definition(self.statements, name).fingerprint
                self.store.put_object(name, name, TABLE, {"fingerprint": fingerprint})
            self.refresher.log.reset(name)
            self._mark_reinitialize(self.graph.all_downstream(name))

        self._transaction(work)

    def _create_dynamic_table(self, name: str, definition: DynamicTableDefinition) -> None:
        query = definition.duckdb()
        target = self.store.qualified(name)
        self.store.execute(f"CREATE TABLE {target} AS SELECT * FROM ({query}) LIMIT 0")
        self._register_dynamic_table(name, definition)

    def _register_dynamic_table(self, name: str, definition: DynamicTableDefinition) -> None:
        self.store.register_dynamic_table(name, definition.refresh_mode.value, definition.refresh_mode_reason)

    def _mark_reinitialize(self, names) -> None:
        for name in names:
            self.store.mark_reinitialize(name)

    def _drop_any(self, name: str) -> None:
        if self.store.table_exists(name):
            self.store.execute(f"DROP TABLE {self.store.qualified(name)}")
        drop_state(self.store, name)

    def _drop(self, name: str) -> None:
        self._drop_any(name)
        self.store.delete_object(name)
        self.store.delete_history(name)
        self.refresher.log.drop(name)
        self.store.forget_dynamic_table(name)
        drop_counts(self.store, name)  # the key counts of its unique checks


def check_not_external(store: Store, graph: PipelineGraph) -> None:
    """External tables must exist locally before anything reads them."""
    for name, table in graph.pipeline.tables.items():
        if table.external and not store.table_exists(name):
            raise BackendError(
                f"external table {name} does not exist in the local database {store.path}",
                hint=f"create {store.schema}.{name} there first (pipe never creates external tables)",
            )


def _definition(action: Action, kind: type):
    """What ``action`` carries to make its object, checked to be of ``kind``."""
    if not isinstance(action.definition, kind):
        raise BackendError(
            f"{action.kind.value} {action.name}: the plan does not say what to make it from",
            hint="build the plan with engine.plan (or engine.planner.build_plan)",
        )
    return action.definition
