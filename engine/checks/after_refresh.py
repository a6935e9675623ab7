"""Checks run after each local refresh of the table they guard.

A refresh that committed is never undone by a check: its data stays. A failing ``error`` check
marks the refresh instead: the history row's message says ``check failed: …``, the stream line
shows it, ``pipe status`` counts it, and every result is kept in ``_PIPE.CHECK_RESULTS``.
"""

from __future__ import annotations

import dataclasses

from engine.checks.declared import declared_checks
from engine.checks.local import LocalChecks, sample_json, summary

CHECK_FAILED = "check failed: "
NO_CHANGE = ("NO_DATA",)


class RefreshChecks:
    """Evaluates a pipeline's checks after each refresh, from the refresh's change where possible.

    Args:
        store: the local database.
        pipeline: the pipeline.
        log: the :class:`ChangeLog` holding each table's written rows.
    """

    def __init__(self, store, pipeline, log):
        self.store = store
        self.log = log
        self.checks = LocalChecks(store, pipeline)
        self.by_table: dict[str, list] = {}
        for item in declared_checks(pipeline):
            self.by_table.setdefault(item.table, []).append(item)
        # A check whose last result was not PASSED is evaluated on the whole table until it
        # passes: the rows an earlier change brought are still there after a clean change.
        self.failing = {(t, c) for t, c, _, status, _ in store.latest_check_results() if status != "PASSED"}

    def after_refresh(self, record):
        """Run the checks of ``record``'s table after its refresh; returns the record, its
        message noting failed checks."""
        items = self.by_table.get(record.name)
        if not items or record.refresh_action in NO_CHANGE:
            return record
        inserted = self._inserted(record.name)
        results = []
        for item in items:
            key = (item.table, item.name)
            result = self.checks.run(item, None if key in self.failing else inserted)
            (self.failing.discard if result.status == "PASSED" else self.failing.add)(key)
            results.append(result)
        return self._record(record, results)

    def _inserted(self, name: str) -> str | None:
        """SQL of the rows the table's last write inserted, when its change log holds them."""
        from engine.backends.local.changes import SIGN, VERSION, log_name

        version = self.log.versions().get(name)
        if version is None or self.log.logged_since(name) >= version:
            return None  # recreated or recomputed without a log: check every row
        return f"SELECT * EXCLUDE ({VERSION}, {SIGN}) FROM {log_name(name)} WHERE {VERSION} = {int(version)} AND {SIGN} = 1"

    def _record(self, record, results):
        from engine.backends.local.store import utcnow

        now = utcnow()
        con = self.store.con
        con.execute("BEGIN TRANSACTION")
        try:
            self.store.record_check_results([
                (now, r.table, r.check, r.kind, r.severity, r.status, r.failing_rows, sample_json(r.sample),
                 r.scope, r.message, record.data_timestamp, "REFRESH")
                for r in results
            ])
            line = summary(results)
            if line:
                self.store.note_on_last_refresh(record.name, CHECK_FAILED + line)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        if not line:
            return record
        note = CHECK_FAILED + line
        message = f"{record.state_message}; {note}" if record.state_message else note
        return dataclasses.replace(record, state_message=message)
