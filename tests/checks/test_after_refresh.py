"""Checks run after every local write of the table they guard: a streamed batch, apply's
initial fill, each refresh."""

from __future__ import annotations

import dataclasses

import pytest

import engine
from engine.report import Reporter
from .conftest import CHECKS

VISITS = CHECKS / "visits.yaml"


class Heard(Reporter):
    """Keeps the warnings and refresh records a command reports."""

    def __init__(self):
        self.warnings, self.refreshes = [], []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def event(self, kind: str, **data) -> None:
        if kind == "refresh":
            self.refreshes.append(data["record"])


@pytest.fixture
def visits(tmp_path):
    project = engine.validate(VISITS)
    with project.backend("local", db=tmp_path / "visits.duckdb") as backend:
        heard = Heard()
        engine.apply(project, backend, reporter=heard)
        yield project, backend, heard


def _results(backend, trigger: str) -> list[tuple]:
    return backend.store.con.execute(
        "SELECT TABLE_NAME, CHECK_NAME, STATUS, FAILING_ROWS, SCOPE FROM _PIPE.CHECK_RESULTS "
        "WHERE TRIGGER = ? ORDER BY rowid",
        [trigger],
    ).fetchall()


def test_apply_checks_what_it_fills_and_reports_a_failure_keeping_the_rows(visits):
    project, backend, heard = visits
    # The file's three visits are all of page home: PAGE_VISITS holds one row, both_pages wants two.
    assert _results(backend, "CREATION") == [
        ("VISITS", "unique(visit_id)", "PASSED", 0, "table"),
        ("VISITS", "accepted_values(page)", "PASSED", 0, "table"),
        ("PAGE_VISITS", "accepted_values(page)", "PASSED", 0, "table"),
        ("PAGE_VISITS", "both_pages", "FAILED", 1, "table"),
    ]
    assert heard.warnings == ["check failed: PAGE_VISITS: both_pages: 1 row; expected at least 2"]
    assert engine.query(backend, "SELECT page, visits FROM PAGE_VISITS").rows == [("home", 3)]
    creation = engine.history(backend, names=["PAGE_VISITS"], limit=1)[0]
    assert creation.refresh_trigger == "CREATION"
    assert creation.state == "SUCCEEDED" and "check failed: both_pages" in creation.state_message
    assert {s.name: s.checks for s in engine.status(backend)}["PAGE_VISITS"] == "1 FAILED of 2"


def test_a_streamed_batch_is_checked_on_its_own_rows(visits):
    project, backend, _ = visits
    heard = Heard()
    settings = engine.stream_settings(project)  # 1 batch of 2 search visits
    engine.stream(project, backend, settings, reporter=heard, sleep=lambda s: None)
    assert heard.warnings == []  # a clean batch
    assert _results(backend, "INSERT") == [
        ("VISITS", "unique(visit_id)", "PASSED", 0, "change"),
        ("VISITS", "accepted_values(page)", "PASSED", 0, "change"),
    ]
    # The second page is there now: both_pages passes on PAGE_VISITS's refresh.
    refresh = {r for _, r, status, _, _ in _results(backend, "REFRESH") if status == "PASSED"}
    assert refresh == {"accepted_values(page)", "both_pages"}

    bad = dataclasses.replace(settings, args=("{{ records }}", "{{ rows }}", "nowhere"))
    heard = Heard()
    engine.stream(project, backend, bad, reporter=heard, sleep=lambda s: None)
    # Visits 6 and 7 are of an unknown page: the batch's check says so, and so does the refresh
    # that carries them into PAGE_VISITS (one new group row, page nowhere).
    assert heard.warnings == ["check failed: VISITS: accepted_values(page): 2 row(s) e.g. page=nowhere"]
    assert _results(backend, "INSERT")[-1] == ("VISITS", "accepted_values(page)", "FAILED", 2, "change")
    line = next(r for r in heard.refreshes if r.name == "PAGE_VISITS" and r.refresh_action == "INCREMENTAL")
    assert line.state == "SUCCEEDED"
    assert line.state_message == "check failed: accepted_values(page): 1 row(s) e.g. page=nowhere"
    rows = engine.query(backend, "SELECT visit_id, page FROM VISITS WHERE visit_id > 5 ORDER BY visit_id").rows
    assert rows == [(6, "nowhere"), (7, "nowhere")]  # the batch is kept
