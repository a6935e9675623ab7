"""Snowflake's documentation examples give, locally, the output the documentation prints.

A case listed in expectations.yaml must still give what is recorded there (a refusal, or the
pinned observed rows of a known difference or a not yet fixed defect): a regression fails, and
so does a fix that is not recorded (remove the entry).
"""

from __future__ import annotations

import pytest

from . import suite

CASES = suite.load_cases()
EXPECTATIONS = suite.load_expectations()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_gives_documented_output(case: suite.Case) -> None:
    outcome = suite.run_pipe(case)
    expected = EXPECTATIONS.get(case.id)
    if expected is None:
        assert outcome.equal, f"{case.id}: {outcome.detail}"
        return
    assert not outcome.equal, f"{case.id} is now equal: remove it from expectations.yaml"
    if expected["status"] == "refused":
        assert outcome.detail.startswith("refused:"), outcome.detail
    observed = outcome.detail if outcome.status == "error" else outcome.observed
    assert observed == expected["observed"], f"{case.id} changed: {outcome.detail}"


def test_every_expectation_names_a_case() -> None:
    ids = {c.id for c in CASES}
    assert sorted(set(EXPECTATIONS) - ids) == []
    assert {e["status"] for e in EXPECTATIONS.values()} <= {"refused", "known_difference", "failing"}


def test_case_names_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and ids


@pytest.mark.parametrize(("value", "text", "equal"), [
    (2 / 7, "0.285714", True),
    (5.0, "5", True),
    (5.4, "5.5", False),
    (None, None, True),
    (0, None, False),
    (True, "True", True),
])
def test_comparator_reads_numbers_at_the_printed_scale(value, text, equal) -> None:
    assert suite.cell_equal(value, text) is equal


def test_comparator_ignores_trailing_blanks() -> None:
    # A printed table cannot show a trailing blank (CONCAT('Colorado ', 'River ')).
    assert suite.cell_equal("Colorado River ", "Colorado River")
    assert suite.cell_equal("   -123.00", "   -123.00")
    assert not suite.cell_equal("Colorado  River", "Colorado River")


def test_comparator_tells_a_date_from_a_timestamp() -> None:
    import datetime as dt

    assert suite.cell_equal(dt.date(2024, 5, 8), "2024-05-08")
    assert not suite.cell_equal(dt.datetime(2024, 5, 8), "2024-05-08")
    assert suite.cell_equal(dt.datetime(2022, 4, 5, 2, 0, 0, 123456), "2022-04-05 02:00:00.123")
    assert not suite.cell_equal(dt.datetime(2022, 4, 5, 2, 0, 1), "2022-04-05 02:00:00.000")
    assert suite.cell_equal('{"a": [1, 2]}', '{\n  "a": [\n    1,\n    2\n  ]\n}')


def test_readme_lists_the_differences_of_the_expectations_file() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(suite.HERE))
    import run

    readme = (suite.HERE.parents[1] / "README.md").read_text(encoding="utf-8")
    section = run.readme_section(EXPECTATIONS)
    assert section in readme, "regenerate README.md's section with python tests/conformance/run.py --readme"
    assert Path(run.__file__).parent == suite.HERE


def test_every_known_difference_names_a_construct_validate_warns_about() -> None:
    from engine.sql import dialect_differences

    constructs = {d.construct for d in vars(dialect_differences).values() if isinstance(d, dialect_differences.Difference)}
    known = [e for e in EXPECTATIONS.values() if e["status"] == "known_difference"]
    assert known and all(e["construct"] in constructs for e in known)


def test_validate_warns_at_the_line_of_a_known_difference() -> None:
    import sqlglot

    from engine.sql.lint import analyze

    query = sqlglot.parse_one("SELECT a,\n       TO_VARCHAR(SQRT(2)) AS s,\n       HASH(a) AS h\nFROM t", read="snowflake")
    warnings = {(w.construct, w.line) for w in analyze(query).warnings}
    assert warnings == {("HASH", 3)}
    query = sqlglot.parse_one("SELECT k,\n       SKEW(v) AS s\nFROM t GROUP BY k", read="snowflake")
    assert {(w.construct, w.line) for w in analyze(query).warnings} == {("SKEW", 2)}


def test_comparator_reads_a_printed_offset_as_an_instant() -> None:
    import datetime as dt

    la = dt.timezone(dt.timedelta(hours=-7))
    assert suite.cell_equal(dt.datetime(2024, 4, 5, 12, 0, tzinfo=la), "2024-04-05 19:00:00.000 +0000")
    assert not suite.cell_equal(dt.datetime(2024, 4, 5, 12, 0, tzinfo=la), "2024-04-05 12:00:00.000 +0000")
    assert suite.cell_equal(dt.datetime(2024, 4, 5, 12, 0), "2024-04-05 12:00:00.000")


def test_pipe_validate_warns_at_a_known_difference_and_refuses_with_one_line(run_pipe) -> None:
    fixtures = suite.HERE / "fixtures"
    warned = run_pipe("validate", "known_difference.yaml", cwd=fixtures)
    assert warned.code == 0
    assert "warning: known_difference.yaml:11:14: D: HASH runs locally but its values differ" in warned.stderr
    refused = run_pipe("validate", "refused.yaml", cwd=fixtures)
    assert refused.code == 1
    first = refused.stderr.splitlines()[0]
    assert first.startswith("error: refused.yaml:11:14: D: function SYSTEM$TYPEOF is not supported by the local engine")
    assert "Traceback" not in refused.stderr
