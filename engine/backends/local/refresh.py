"""Refreshing dynamic tables locally, with Snowflake's semantics.

A refresh at data timestamp T first refreshes the upstream dynamic tables at the same T, so
the DAG is one consistent snapshot. Each table's refresh is one transaction: readers see the
old contents or the new, never a mix, and a failed refresh keeps the previous contents.

Actions: NO_DATA (no input changed since the last refresh: only the timestamp moves),
INCREMENTAL (apply the inputs' changes), FULL (recompute), REINITIALIZE (recompute after the
table or an upstream one was replaced).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.backends.base import RefreshRecord
from engine.backends.local.store import META, Store, utcnow
from engine.errors import BackendError
from engine.graph import DYNAMIC_TABLE, PipelineGraph
from engine.report import Reporter

SUSPEND_AFTER_FAILURES = 5


@dataclass
class Outcome:
    """The result of computing one refresh, before it is recorded."""

    action: str
    inserted: int = 0
    deleted: int = 0


class Refresher:
    """Refreshes the dynamic tables of one pipeline in one local database."""

    def __init__(self, store: Store, graph: PipelineGraph, queries: dict[str, str], incremental=None):
        self.store = store
        self.graph = graph
        self.queries = queries  # dynamic table -> DuckDB SQL of its query
        self.incremental = incremental

    # -- versions: every write to a table bumps its version; refreshes compare them ----------

    def versions(self) -> dict[str, int]:
        rows = self.store.con.execute(f"SELECT NAME, VERSION FROM {META}.TABLE_VERSIONS").fetchall()
        return dict(rows)

    def bump(self, name: str) -> None:
        """Record that ``name``'s contents changed."""
        con = self.store.con
        row = con.execute(f"SELECT VERSION FROM {META}.TABLE_VERSIONS WHERE NAME = ?", [name]).fetchone()
        version = (row[0] if row else 0) + 1
        con.execute(f"DELETE FROM {META}.TABLE_VERSIONS WHERE NAME = ?", [name])
        con.execute(f"INSERT INTO {META}.TABLE_VERSIONS VALUES (?, ?, NULL, ?)", [name, version, utcnow()])

    # -- refresh -------------------------------------------------------------------------------

    def refresh(
        self,
        names: Sequence[str],
        *,
        trigger: str,
        full: bool = False,
        data_timestamp: datetime | None = None,
        reporter: Reporter | None = None,
        include_upstream: bool = True,
    ) -> list[RefreshRecord]:
        """Refresh ``names`` (every dynamic table when empty) and, first, their upstream
        dynamic tables, all at one data timestamp. Returns one record per table, in order."""
        graph = self.graph
        wanted = set(names or graph.dynamic_tables)
        if include_upstream:
            for name in list(wanted):
                wanted.update(n for n in graph.all_upstream(name) if graph.kind(n) == DYNAMIC_TABLE)
        order = [n for n in graph.dynamic_tables if n in wanted]
        timestamp = data_timestamp or utcnow()
        records: list[RefreshRecord] = []
        failed: set[str] = set()
        for name in order:
            upstream_failed = [u for u in graph.all_upstream(name) if u in failed]
            if upstream_failed:
                failed.add(name)
                record = self._record_skip(name, trigger, timestamp, upstream_failed[0])
            else:
                record = self.refresh_one(name, trigger=trigger, full=full, data_timestamp=timestamp)
                if record.state == "FAILED":
                    failed.add(name)
            records.append(record)
            if reporter is not None:
                reporter.event("refresh", record=record)
        return records

    def refresh_one(self, name: str, *, trigger: str, full: bool, data_timestamp: datetime) -> RefreshRecord:
        """Refresh one dynamic table at ``data_timestamp``, in one transaction."""
        con = self.store.con
        start = utcnow()
        con.execute("BEGIN TRANSACTION")
        try:
            record = self.refresh_in_transaction(name, trigger=trigger, full=full, data_timestamp=data_timestamp)
            con.execute("COMMIT")
        except Exception as exc:  # the refresh failed: keep the previous contents
            con.execute("ROLLBACK")
            if isinstance(exc, BackendError) and exc.transient:
                raise
            return self._record_failure(name, trigger, data_timestamp, start, _problem(name, exc))
        return record

    def refresh_in_transaction(
        self, name: str, *, trigger: str, full: bool, data_timestamp: datetime, reinitialize: bool = False
    ) -> RefreshRecord:
        """Refresh one dynamic table inside the caller's transaction; raises on failure."""
        start = utcnow()
        meta = self.meta(name)
        versions = self.versions()
        inputs = {u: versions.get(u, 0) for u in self.graph.upstream(name)}
        seen = json.loads(meta["INPUT_VERSIONS"]) if meta["INPUT_VERSIONS"] else None
        if reinitialize:
            meta["NEEDS_REINITIALIZE"] = True
        outcome = self._compute(name, meta, inputs, seen, full=full)
        if outcome.inserted or outcome.deleted:
            self.bump(name)
        self.store.con.execute(
            f"""UPDATE {META}.DYNAMIC_TABLES SET DATA_TIMESTAMP = ?, INPUT_VERSIONS = ?,
                CONSECUTIVE_FAILURES = 0, LAST_ACTION = ?, NEEDS_REINITIALIZE = FALSE,
                STATE = CASE WHEN STATE = 'SUSPENDED' THEN STATE ELSE 'ACTIVE' END WHERE NAME = ?""",
            [data_timestamp, json.dumps(inputs), outcome.action, name],
        )
        record = RefreshRecord(
            name, "SUCCEEDED", None, outcome.action, trigger, data_timestamp, start, utcnow(),
            outcome.inserted, outcome.deleted,
        )
        self._insert_history(record)
        return record

    def _compute(self, name: str, meta: dict, inputs: dict, seen: dict | None, *, full: bool) -> Outcome:
        target = self.store.qualified(name)
        if meta["NEEDS_REINITIALIZE"]:
            return self._recompute(name, target, "REINITIALIZE")
        if seen is None:
            return self._recompute(name, target, "FULL")
        if not full and inputs == seen:
            return Outcome("NO_DATA")
        if not full and meta["REFRESH_MODE"] == "INCREMENTAL" and self.incremental is not None:
            outcome = self.incremental.refresh(name, seen, inputs)
            if outcome is not None:
                return outcome
        return self._recompute(name, target, "FULL")

    def _recompute(self, name: str, target: str, action: str) -> Outcome:
        con = self.store.con
        deleted = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        con.execute(f"DELETE FROM {target}")
        con.execute(f"INSERT INTO {target} BY NAME {self.queries[name]}")
        inserted = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        if self.incremental is not None:
            self.incremental.rebuild(name)
        return Outcome(action, inserted, deleted)

    def meta(self, name: str) -> dict:
        cursor = self.store.con.execute(f"SELECT * FROM {META}.DYNAMIC_TABLES WHERE NAME = ?", [name])
        row = cursor.fetchone()
        if row is None:
            raise BackendError(f"dynamic table {name} does not exist locally", hint="run pipe apply first")
        return dict(zip([d[0] for d in cursor.description], row))

    def _insert_history(self, record: RefreshRecord) -> None:
        self.store.con.execute(
            f"""INSERT INTO {META}.REFRESH_HISTORY VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                (SELECT coalesce(max(SEQ), 0) + 1 FROM {META}.REFRESH_HISTORY))""",
            [
                record.name, record.state, record.state_message, record.refresh_action, record.refresh_trigger,
                record.data_timestamp, record.refresh_start_time, record.refresh_end_time,
                record.inserted_rows, record.deleted_rows,
            ],
        )

    def _record_failure(self, name, trigger, timestamp, start, message) -> RefreshRecord:
        con = self.store.con
        record = RefreshRecord(name, "FAILED", message, None, trigger, timestamp, start, utcnow())
        con.execute("BEGIN TRANSACTION")
        con.execute(
            f"""UPDATE {META}.DYNAMIC_TABLES SET CONSECUTIVE_FAILURES = CONSECUTIVE_FAILURES + 1,
                STATE = CASE WHEN ? AND CONSECUTIVE_FAILURES + 1 >= ? THEN 'SUSPENDED' ELSE 'FAILED' END
                WHERE NAME = ?""",
            [trigger == "SCHEDULED", SUSPEND_AFTER_FAILURES, name],
        )
        self._insert_history(record)
        con.execute("COMMIT")
        return record

    def _record_skip(self, name, trigger, timestamp, upstream) -> RefreshRecord:
        now = utcnow()
        record = RefreshRecord(
            name, "UPSTREAM_FAILED", f"upstream dynamic table {upstream} failed to refresh", None, trigger,
            timestamp, now, now,
        )
        self._insert_history(record)
        return record


def _problem(name: str, exc: Exception) -> str:
    """One line naming the table and the SQL problem."""
    cause = exc.__cause__ or exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return f"{name}: {text}"
