"""The local applier carries out the plan it is given, from what the plan's actions carry, not from
the pipeline file the backend was opened with: what ``pipe plan`` showed is what ``apply`` makes."""

from __future__ import annotations

import duckdb

import engine
from engine.backends.local import LocalBackend
from engine.kinds import ActionKind
from engine.planner import build_plan
from engine.report import Silent

from .conftest import FIXTURES


def test_apply_makes_what_the_plan_showed_even_if_the_file_changed(tmp_path):
    shown = engine.validate(FIXTURES / "plan_shown.yaml")
    edited = engine.validate(FIXTURES / "plan_edited.yaml")
    plan = build_plan(shown.graph, engine.planner.TargetState.empty())
    db = tmp_path / "shown.duckdb"
    with LocalBackend(edited.graph, db=db) as backend:
        backend.apply(plan, Silent())
    with duckdb.connect(str(db), read_only=True) as con:
        columns = {
            table: [c[0] for c in con.execute(f'SELECT * FROM SC."{table}" LIMIT 0').description]
            for table in ("T", "D")
        }
    assert columns == {"T": ["ID"], "D": ["ID", "TWICE"]}  # plan_shown.yaml's, not plan_edited.yaml's
    # What was recorded is the shown file's: planning it again changes nothing; the edited file
    # replaces T (its columns) and alters D's lag from the shown one.
    with LocalBackend(shown.graph, db=db, read_only=True) as backend:
        assert not build_plan(shown.graph, backend.read_state()).has_changes
        again = {a.name: a for a in build_plan(edited.graph, backend.read_state()).actions}
    assert again["T"].kind is ActionKind.REPLACE
    assert (again["D"].kind, [str(c) for c in again["D"].changes]) == (
        ActionKind.ALTER, ["target_lag: 1 minute → 5 minutes"]
    )
