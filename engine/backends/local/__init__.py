"""The local target: the pipeline in an embedded DuckDB file, with dynamic-table semantics."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine import names as identifiers
from engine.backends.base import ActionResult, Backend, ObjectStatus, QueryResult, RefreshRecord
from engine.backends.local import outside
from engine.backends.local.errors import guard_files
from engine.backends.local.store import Store, open_store, utcnow
from engine.checks.after_refresh import failure_lines
from engine.errors import BackendError
from engine.graph import DYNAMIC_TABLE, EXTERNAL, PipelineGraph
from engine.kinds import RefreshState, RefreshTrigger, State
from engine.lag import format_lag
from engine.planner import TABLE, ObjectState, Plan, TargetState
from engine.report import Reporter

if TYPE_CHECKING:  # the refresh engine (sqlglot) is imported by what runs: plan and status need none of it
    from engine.backends.local.refresh import Refresher

TRANSIENT_RETRIES = 3


class LocalBackend(Backend):
    """Runs a pipeline in a local DuckDB file.

    Args:
        graph: the checked pipeline graph.
        db: the DuckDB file.
        read_only: open without writing (plan, status); a missing file reads as empty.
        create: create the file when it is missing (apply); otherwise a missing file is an error.
    """

    name = "local"
    capabilities = frozenset({"scheduler", "incremental", "full_refresh"})

    @guard_files
    def __init__(
        self,
        graph: PipelineGraph,
        *,
        db: str | Path,
        read_only: bool = False,
        create: bool = True,
        memory_limit: str | None = None,
        **options,
    ):
        super().__init__(graph, **options)
        target = self.pipeline.snowflake
        self.path = Path(db)
        if not read_only and not create and not self.path.exists():
            raise BackendError(f"the local database {self.path} does not exist yet", hint="run pipe apply first")
        self.store: Store | None = open_store(
            self.path, target.database, target.schema_name, read_only=read_only, memory_limit=memory_limit
        )
        self._queries: dict[str, str] | None = None
        self._refresher: Refresher | None = None
        self._batch_checks: list = []  # results of the checks the last batch ran
        self.findings = outside.Findings()
        if self.store is not None:
            self._detect_outside_changes(read_only)

    def interrupt(self) -> None:
        store = self.store
        if store is not None:
            store.con.interrupt()  # the running statement raises DuckDB's InterruptException

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def _base_tables(self) -> list[str]:
        store = self.store
        return [n for n, t in self.pipeline.tables.items() if not t.external and store.table_exists(n)]

    def _detect_outside_changes(self, read_only: bool) -> None:
        """Compare the file with pipe's bookkeeping, once per command (pipe holds the file's
        lock while it runs): see :mod:`.outside`. A writable open also hashes the rows and
        repairs what can be repaired."""
        store = self.store
        self.findings = outside.inspect(store, self.graph, rows=not read_only)
        if not read_only:
            outside.repair(store, self.graph, self.findings, self.statements().table_fingerprint)

    def adopt(self, names: Sequence[str]) -> None:
        """Take over tables of declared names that pipe did not create, keeping their rows.

        Raises:
            PlanError: a name is not such a table, or its columns differ from the file's.
        """
        from engine.backends.local.apply import Applier

        store = self._writable()
        applier = Applier(store, self.graph, self.refresher)
        for written in names:
            name = identifiers.pick(written, self.graph.pipeline.object_names) or written
            outside.check_adoptable(store, self.graph, self.findings, name, self._declared_columns(name))
            applier.adopt(name)
            del self.findings.foreign[name]

    def _declared_columns(self, name: str) -> list[tuple[str, str | None]] | None:
        """(column, DuckDB type) as the file declares them, names resolved (engine.names); a dynamic
        table's types are not compared (they follow its query)."""
        from engine.sql.translate import duckdb_type

        if name not in self.graph.pipeline.object_names:
            return None
        if self.graph.kind(name) == DYNAMIC_TABLE:
            cursor = self.store.con.execute(f"SELECT * FROM ({self.queries[name]}) LIMIT 0")
            return [(d[0], None) for d in cursor.description]
        table = self.pipeline.tables[name]
        declared = self.pipeline.generator(table.generator).returns if table.generator else table.columns
        con = self.store.con
        return [(identifiers.key(c), str(con.execute(f"SELECT NULL::{duckdb_type(t)} AS x").description[0][1]).upper())
                for c, t in declared.items()]

    # -- pieces, built on first use --------------------------------------------------------------

    @property
    def queries(self) -> dict[str, str]:
        """Each dynamic table's query, translated to DuckDB."""
        if self._queries is None:
            queries = {name: self.graph.duckdb_sql(name) for name in self.pipeline.dynamic_tables}
            self._queries = queries
        return self._queries

    @property
    def refresher(self) -> Refresher:
        if self._refresher is None:
            from engine.backends.local.refresh import Refresher

            self._refresher = Refresher(self._writable(), self.graph, self.queries)
            self._refresher.reasons = self.findings.rows  # why a dynamic table reinitialises
            if any(t.checks for t in [*self.pipeline.tables.values(), *self.pipeline.dynamic_tables.values()]):
                from engine.checks.after_refresh import RefreshChecks

                self._refresher.checks = RefreshChecks(self.store, self.pipeline, self._refresher.log)
        return self._refresher

    def statements(self):
        from engine.sql.render import Statements

        return Statements(self.pipeline)

    def _writable(self) -> Store:
        if self.store is None or self.store.read_only:
            raise BackendError("the local database is open read-only")
        return self.store

    def existing_store(self) -> Store:
        if self.store is None:
            raise BackendError(
                f"the local database {self.path} does not exist yet", hint="run pipe apply first"
            )
        return self.store

    # -- state and apply -------------------------------------------------------------------------

    def read_state(self) -> TargetState:
        if self.store is None:
            return TargetState.empty()
        store = self.store
        objects = {}
        for key, (name, kind, properties) in store.objects().items():
            if kind in (TABLE, DYNAMIC_TABLE) and not store.table_exists(name):
                continue  # dropped behind pipe's back: create it again
            objects[key] = ObjectState(name, kind, properties)
        for name in self.findings.unrecorded:  # what apply records again, rows kept
            objects.setdefault(name, ObjectState(name, TABLE, {"fingerprint": self.statements().table_fingerprint(name)}))
        for name, why in self.findings.broken.items():  # pipe's, but unusable as it is: recreate
            kind = self.graph.kind(name)
            properties = dict(objects[name].properties) if name in objects else {}
            objects[name] = ObjectState(name, TABLE if kind != DYNAMIC_TABLE else DYNAMIC_TABLE, {**properties, "broken": why})
        from engine.checks.snowflake import declared_dmf_state

        current = TargetState(
            database_exists=True, schema_exists=store.schema_exists(), objects=objects,
            conflicts=dict(self.findings.foreign),
        )
        return declared_dmf_state(current, self.graph)

    @guard_files
    def apply(self, plan: Plan, reporter: Reporter) -> list[ActionResult]:
        from engine.backends.local.apply import Applier, check_not_external

        store = self._writable()
        check_not_external(store, self.graph)
        applier = Applier(store, self.graph, self.refresher)
        timestamp = utcnow()
        with reporter.progress("applying", total=len(plan.changes)) as progress:
            results = applier.run_all(plan.changes, timestamp, progress)
        self.findings = outside.Findings()  # what was found is now recreated or reinitialising
        if self.refresher.checks is not None:  # the initial fills' checks: results kept, failures shown
            for line in failure_lines(self.refresher.checks.after_apply(results, timestamp)):
                reporter.warn(line)
        self.recover(reporter, data_timestamp=timestamp)
        return results

    @guard_files
    def recover(self, reporter: Reporter, *, data_timestamp=None) -> list[RefreshRecord]:
        """Reinitialise the dynamic tables an upstream replace left pending (also after an
        apply that was killed between the replace and their refresh)."""
        if self.store is None or self.store.read_only or not self.store.has_meta():
            return []
        pending = self.store.pending_reinitialize()
        if not pending:
            return []
        records = self.refresher.refresh(
            pending, trigger=RefreshTrigger.CREATION, data_timestamp=data_timestamp, include_upstream=False
        )
        for record in records:
            reporter.event("refresh", record=record)
        return records

    # -- observing -------------------------------------------------------------------------------

    def status(self) -> list[ObjectStatus]:
        store = self.existing_store()
        metas = store.dynamic_tables()
        now = utcnow()
        result = []
        for name in self.graph.create_order:
            kind = self.graph.kind(name)
            rows = store.row_count(name)
            problem = self.findings.broken.get(name) or self.findings.foreign.get(name)
            if problem is not None and rows is not None:
                fix = "pipe apply recreates it" if name in self.findings.broken else f"pipe apply --adopt {name} or drop it"
                result.append(ObjectStatus(name, kind, rows, state=f"NEEDS APPLY: {problem}; {fix}"))
                continue
            if kind != DYNAMIC_TABLE:
                state = None if rows is None else (State.EXTERNAL if kind == EXTERNAL else State.ACTIVE)
                result.append(ObjectStatus(name, kind, rows, state=state or State.NOT_CREATED))
                continue
            meta = metas.get(name)
            dt = self.pipeline.dynamic_tables[name]
            if meta is None or rows is None:
                result.append(ObjectStatus(name, kind, None, format_lag(dt.target_lag), state=State.NOT_CREATED))
                continue
            stamp = meta["DATA_TIMESTAMP"]
            result.append(
                ObjectStatus(
                    name,
                    kind,
                    rows,
                    format_lag(dt.target_lag),
                    meta["REFRESH_MODE"],
                    meta["REFRESH_MODE_REASON"],
                    stamp,
                    meta["STATE"],
                    meta["LAST_ACTION"],
                    None if stamp is None else (now - stamp).total_seconds(),
                )
            )
        return _with_checks(result, store.latest_check_results())

    def history(self, *, names: Sequence[str] = (), limit: int | None = None) -> list[RefreshRecord]:
        return [RefreshRecord(*row) for row in self.existing_store().history(self.resolved(names), limit)]

    # -- doing -----------------------------------------------------------------------------------

    @guard_files
    def refresh(self, names: Sequence[str], *, full: bool = False, reporter: Reporter, trigger: str = RefreshTrigger.MANUAL) -> list[RefreshRecord]:
        self._check_created()
        records = self.refresher.refresh(names, trigger=trigger, full=full, reporter=reporter)
        failed = [r for r in records if r.state == RefreshState.FAILED]
        if failed:
            # The first failure is the cause; tables downstream of it were skipped.
            skipped = [r.name for r in records if r.state == RefreshState.UPSTREAM_FAILED]
            also = f"; skipped downstream: {', '.join(skipped)}" if skipped else ""
            out_of_memory = "Out of Memory Error" in (failed[0].state_message or "")
            raise BackendError(
                f"refresh failed: {failed[0].state_message}{also}",
                hint=("raise --memory-limit (or PIPE_MEMORY_LIMIT) and refresh again" if out_of_memory
                      else "fix the query or the data") + "; the table keeps its previous contents (see pipe history)",
            )
        return records

    def _check_created(self) -> None:
        store = self.existing_store()
        existing = store.estimated_sizes(store.schema)  # one catalog read for every table
        missing = [n for n in self.graph.dynamic_tables if n not in existing]
        if missing:
            raise BackendError(f"{missing[0]} has not been created locally", hint="run pipe apply first")
        outside.check_usable(self.findings, self.graph.create_order)
        if self.findings.foreign:
            name, what = next(iter(self.findings.foreign.items()))
            raise BackendError(what, hint=f"run pipe apply --adopt {name} to manage it, or drop it")

    @guard_files
    def query(self, sql: str) -> QueryResult:
        from engine.backends.local.queries import run_query

        return run_query(self, sql)

    @guard_files
    def insert_batch(self, table: str, generator: str, args: list) -> int:
        from engine.generators.local import insert_generated
        from engine.generators.seeding import batch_seed

        store = self._writable()
        if not store.table_exists(table):
            raise BackendError(f"{table} does not exist in {self.path}", hint="run pipe apply first")
        outside.check_usable(self.findings, self.graph.create_order)
        con = store.con
        with store.transaction():
            con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_BATCH AS SELECT * FROM {store.qualified(table)} LIMIT 0")
            # Each batch draws from the seed moved on by the table's size: batches differ from
            # one another (new members and resources, not only new sessions), yet a rerun of
            # the same sequence reproduces them.
            seed = batch_seed(self.pipeline.seed, rows_before=store.row_count(table))
            rows = insert_generated(con, "__PIPE_BATCH", self.pipeline, generator, args, seed=seed)
            con.execute(f"INSERT INTO {store.qualified(table)} SELECT * FROM __PIPE_BATCH")
            self.refresher.log.record(table, inserted="SELECT * FROM __PIPE_BATCH")
        checks = self.refresher.checks  # the table's checks judge the batch, committed or not
        self._batch_checks = checks.after_insert(table, "SELECT * FROM __PIPE_BATCH") if checks else []
        return rows

    def batch_checks(self) -> list:
        return self._batch_checks

    def row_count(self, table: str) -> int | None:
        return self.existing_store().row_count(table)

    @guard_files
    def tick(self, reporter: Reporter) -> list[RefreshRecord]:
        from engine.backends.local.scheduler import due

        store = self._writable()
        outside.check_usable(self.findings, self.graph.create_order)
        names = due(store, self.graph, utcnow())
        if not names:
            return []
        for attempt in range(TRANSIENT_RETRIES):
            try:
                return self.refresher.refresh(names, trigger=RefreshTrigger.SCHEDULED, reporter=reporter)
            except BackendError as exc:  # only transient errors get here: try again shortly
                if attempt == TRANSIENT_RETRIES - 1:
                    raise
                reporter.warn(f"retrying after a transient error: {exc}")
                time.sleep(0.2 * (attempt + 1))
        return []

    @guard_files
    def settle(self, reporter: Reporter) -> list[RefreshRecord]:
        """Refresh every dynamic table now, as the scheduler would after a burst of changes."""
        self._check_created()
        return self.refresher.refresh([], trigger=RefreshTrigger.SCHEDULED, reporter=reporter)


def _with_checks(statuses: list[ObjectStatus], latest: list[tuple]) -> list[ObjectStatus]:
    """Each status with the latest results of its table's checks."""
    import dataclasses

    by_table: dict[str, list[tuple]] = {}
    for row in latest:
        by_table.setdefault(row[0], []).append(row)
    result = []
    for status in statuses:
        rows = by_table.get(status.name)
        if rows:
            failed = sum(1 for _, _, severity, state, _ in rows if state != "PASSED" and severity == "error")
            warned = sum(1 for _, _, severity, state, _ in rows if state != "PASSED" and severity != "error")
            text = f"{failed} FAILED of {len(rows)}" if failed else f"{len(rows) - warned} passed"
            text += f", {warned} warned" if warned else ""
            failing = tuple((check, severity) for _, check, severity, state, _ in rows if state != "PASSED")
            status = dataclasses.replace(status, checks=text, failed_checks=failing)
        result.append(status)
    return result


__all__ = ["LocalBackend"]
