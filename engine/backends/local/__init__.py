"""The local target: the pipeline in an embedded DuckDB file, with dynamic-table semantics."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from engine.backends.base import ActionResult, Backend, ObjectStatus, QueryResult, RefreshRecord
from engine.backends.local.apply import Applier, check_not_external
from engine.backends.local.refresh import Refresher
from engine.backends.local.store import META, Store, open_store, utcnow
from engine.errors import BackendError, SqlError
from engine.graph import DYNAMIC_TABLE, EXTERNAL, PipelineGraph
from engine.lag import format_lag
from engine.planner import TABLE, ObjectState, Plan, TargetState
from engine.report import Reporter


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

    def __init__(self, graph: PipelineGraph, *, db: str | Path, read_only: bool = False, create: bool = True, **options):
        super().__init__(graph, **options)
        target = self.pipeline.snowflake
        self.path = Path(db)
        if not read_only and not create and not self.path.exists():
            raise BackendError(f"the local database {self.path} does not exist yet", hint="run pipe apply first")
        self.store: Store | None = open_store(self.path, target.database, target.schema_name, read_only=read_only)
        self._queries: dict[str, str] | None = None
        self._refresher: Refresher | None = None
        if self.store is not None and not read_only:
            self._detect_outside_writes()

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

    def _detect_outside_writes(self) -> None:
        """A base table whose contents no longer match what pipe last wrote was changed by
        another client: its readers refresh fully next time (their change log has a gap)."""
        log = self.refresher.log
        for name in self._base_tables():
            stored = log.stored_signature(name)
            if stored is not None and stored != log.signature(name):
                log.unlogged(name)
                log.seal(name)


    # -- pieces, built on first use --------------------------------------------------------------

    @property
    def queries(self) -> dict[str, str]:
        """Each dynamic table's query, translated to DuckDB."""
        if self._queries is None:
            from engine.sql.translate import to_duckdb

            target = self.pipeline.snowflake
            queries = {}
            for name, dt in self.pipeline.dynamic_tables.items():
                try:
                    queries[name] = to_duckdb(dt.sql, database=target.database, schema=target.schema_name)
                except SqlError as exc:
                    exc.location = self.pipeline.locate(
                        "dynamic_tables", name, "sql", table=name, sql_line=exc.sql_line, sql_column=exc.sql_column
                    )
                    raise
            self._queries = queries
        return self._queries

    @property
    def refresher(self) -> Refresher:
        if self._refresher is None:
            self._refresher = Refresher(self._writable(), self.graph, self.queries)
            if any(t.checks for t in [*self.pipeline.tables.values(), *self.pipeline.dynamic_tables.values()]):
                from engine.checks.after_refresh import RefreshChecks

                self._refresher.checks = RefreshChecks(self.store, self.pipeline, self._refresher.log)
        return self._refresher

    def _statements(self):
        from engine.sql.render import Statements

        return Statements(self.pipeline)

    def _writable(self) -> Store:
        if self.store is None or self.store.read_only:
            raise BackendError("the local database is open read-only")
        return self.store

    def _existing(self) -> Store:
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
        from engine.checks.snowflake import declared_dmf_state

        current = TargetState(database_exists=True, schema_exists=store.schema_exists(), objects=objects)
        return declared_dmf_state(current, self.graph)

    def apply(self, plan: Plan, reporter: Reporter) -> list[ActionResult]:
        store = self._writable()
        check_not_external(store, self.graph)
        applier = Applier(store, self.graph, self.refresher, self.queries)
        timestamp = utcnow()
        results = []
        with reporter.progress("applying", total=len(plan.changes)) as progress:
            for action in plan.changes:
                progress.advance(0, description=f"{action.kind.value} {action.name}")
                results.append(applier.run(action, timestamp))
                progress.advance(1)
        self.recover(reporter, data_timestamp=timestamp)
        return results

    def recover(self, reporter: Reporter, *, data_timestamp=None) -> list[RefreshRecord]:
        """Reinitialise the dynamic tables an upstream replace left pending (also after an
        apply that was killed between the replace and their refresh)."""
        if self.store is None or self.store.read_only or not self.store.has_meta():
            return []
        pending = [
            name
            for (name,) in self.store.con.execute(
                f"SELECT NAME FROM {META}.DYNAMIC_TABLES WHERE NEEDS_REINITIALIZE"
            ).fetchall()
        ]
        if not pending:
            return []
        records = self.refresher.refresh(
            pending, trigger="CREATION", data_timestamp=data_timestamp, include_upstream=False
        )
        for record in records:
            reporter.event("refresh", record=record)
        return records

    # -- observing -------------------------------------------------------------------------------

    def status(self) -> list[ObjectStatus]:
        store = self._existing()
        metas = {}
        if store.has_meta():
            cursor = store.con.execute(f"SELECT * FROM {META}.DYNAMIC_TABLES")
            columns = [d[0] for d in cursor.description]
            metas = {row[0]: dict(zip(columns, row)) for row in cursor.fetchall()}
        now = utcnow()
        result = []
        for name in self.graph.create_order:
            kind = self.graph.kind(name)
            rows = store.row_count(name)
            if kind != DYNAMIC_TABLE:
                state = None if rows is None else ("EXTERNAL" if kind == EXTERNAL else "ACTIVE")
                result.append(ObjectStatus(name, kind, rows, state=state or "NOT CREATED"))
                continue
            meta = metas.get(name)
            dt = self.pipeline.dynamic_tables[name]
            if meta is None or rows is None:
                result.append(ObjectStatus(name, kind, None, format_lag(dt.target_lag), state="NOT CREATED"))
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
        store = self._existing()
        if not store.has_meta():
            return []
        where = f"WHERE NAME IN ({', '.join('?' for _ in names)})" if names else ""
        sql = f"SELECT * EXCLUDE (SEQ) FROM {META}.REFRESH_HISTORY {where} ORDER BY SEQ DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [RefreshRecord(*row) for row in store.con.execute(sql, list(names)).fetchall()]

    # -- doing -----------------------------------------------------------------------------------

    def refresh(self, names: Sequence[str], *, full: bool = False, reporter: Reporter, trigger: str = "MANUAL") -> list[RefreshRecord]:
        self._check_created()
        records = self.refresher.refresh(names, trigger=trigger, full=full, reporter=reporter)
        failed = [r for r in records if r.state == "FAILED"]
        if failed:
            # The first failure is the cause; tables downstream of it were skipped.
            skipped = [r.name for r in records if r.state == "UPSTREAM_FAILED"]
            also = f"; skipped downstream: {', '.join(skipped)}" if skipped else ""
            raise BackendError(
                f"refresh failed: {failed[0].state_message}{also}",
                hint="fix the query or the data; the table keeps its previous contents (see pipe history)",
            )
        return records

    def _check_created(self) -> None:
        store = self._existing()
        missing = [n for n in self.graph.dynamic_tables if not store.table_exists(n)]
        if missing:
            raise BackendError(f"{missing[0]} has not been created locally", hint="run pipe apply first")

    def query(self, sql: str) -> QueryResult:
        from engine.backends.local.queries import run_query

        return run_query(self, sql)

    def insert_batch(self, table: str, generator: str, args: list) -> int:
        from engine.generators.local import insert_generated

        store = self._writable()
        if not store.table_exists(table):
            raise BackendError(f"{table} does not exist in {self.path}", hint="run pipe apply first")
        con = store.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE __PIPE_BATCH AS SELECT * FROM {store.qualified(table)} LIMIT 0")
            # Each batch draws from the seed moved on by the table's size: batches differ from
            # one another (new members and resources, not only new sessions), yet a rerun of
            # the same sequence reproduces them.
            seed = self.pipeline.seed + store.row_count(table)
            rows = insert_generated(con, "__PIPE_BATCH", self.pipeline, generator, args, seed=seed)
            con.execute(f"INSERT INTO {store.qualified(table)} SELECT * FROM __PIPE_BATCH")
            self.refresher.log.record(table, inserted="SELECT * FROM __PIPE_BATCH")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return rows

    def row_count(self, table: str) -> int | None:
        return self._existing().row_count(table)

    def tick(self, reporter: Reporter) -> list[RefreshRecord]:
        from engine.backends.local.scheduler import due

        store = self._writable()
        names = due(store, self.graph, utcnow())
        if not names:
            return []
        for attempt in range(TRANSIENT_RETRIES):
            try:
                return self.refresher.refresh(names, trigger="SCHEDULED", reporter=reporter)
            except BackendError as exc:  # only transient errors get here: try again shortly
                if attempt == TRANSIENT_RETRIES - 1:
                    raise
                reporter.warn(f"retrying after a transient error: {exc}")
                time.sleep(0.2 * (attempt + 1))
        return []

    def settle(self, reporter: Reporter) -> list[RefreshRecord]:
        """Refresh every dynamic table now, as the scheduler would after a burst of changes."""
        self._check_created()
        return self.refresher.refresh([], trigger="SCHEDULED", reporter=reporter)


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
            status = dataclasses.replace(status, checks=text)
        result.append(status)
    return result


__all__ = ["LocalBackend"]
