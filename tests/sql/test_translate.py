"""Snowflake -> DuckDB translation, checked on results.

Each file in tests/fixtures/translate/ is one case, in sections::

    -- name: what the case shows
    -- setup:           DuckDB SQL building the local tables (upper-case names, JSON for VARIANT)
    -- database: DB     optional, passed to to_duckdb (also ``-- schema:``)
    -- catalog: JSON    optional, the tables' Snowflake column types passed to to_duckdb
    -- session:         optional Snowflake ALTER SESSION / SET statements run first, as ``pipe query``
                        runs them before the statement in the same script
    -- snowflake:       the Snowflake statement under test
    -- check:           optional DuckDB query whose result is compared (for INSERT/UPDATE/DELETE)
    -- expected:        header line of column names, then one line per row, cells split on '|'
    -- error: TEXT      instead of expected: check_translatable must raise SqlError containing TEXT
    -- error-at: L:C    optional, the SqlError's SQL line and column

Expected values are what Snowflake returns, worked out from its documented semantics. Cells:
``NULL``; ``''`` for the empty string; ``*`` for any non-NULL value; VARIANT columns as JSON
(compared parsed, so key order and spacing do not matter). Rows are compared in order when the
statement has a top-level ORDER BY, as a multiset otherwise.
"""

from __future__ import annotations

import decimal
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
import sqlglot

from engine.errors import SqlError
from engine.sql import local_functions
from engine.sql.session import Session, split_statements
from engine.sql.translate import check_translatable, duckdb_type, to_duckdb

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "translate"
_SECTION = re.compile(r"^-- (name|setup|database|schema|catalog|session|snowflake|check|expected|error|error-at):[ \t]*(.*)$")


@dataclass
class Case:
    """One fixture file."""

    path: Path
    sections: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> str:
        return self.sections.get(key, "").strip()


def load_case(path: Path) -> Case:
    """Split a fixture file into its sections; text after a header line belongs to it."""
    case, current = Case(path), None
    for line in path.read_text().splitlines():
        match = _SECTION.match(line)
        if match:
            current = match.group(1)
            case.sections[current] = match.group(2) + "\n"
        elif current is not None:
            case.sections[current] += line + "\n"
    return case


CASES = sorted(FIXTURES.glob("*.sql"))
RESULT_CASES = [p for p in CASES if "-- expected:" in p.read_text()]
ERROR_CASES = [p for p in CASES if "-- error:" in p.read_text()]


def _canonical(value: object, is_json: bool) -> object:
    """A comparable form of one result value."""
    if value is None:
        return None
    if is_json:
        return json.dumps(json.loads(value) if isinstance(value, str) else value, sort_keys=True)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, decimal.Decimal)):
        return _number(value)
    return str(value)  # dates and timestamps as ISO text, 'YYYY-MM-DD HH:MM:SS'


def _number(value: object) -> str:
    """Numbers equal to 9 decimals compare equal (DOUBLE noise, Decimal vs int)."""
    return format(decimal.Decimal(str(value)).quantize(decimal.Decimal("1e-9")).normalize(), "f")


def _expected_cell(text: str, sample: object, is_json: bool) -> object:
    """An expected cell, read as the kind of value its column holds."""
    if text in ("NULL", "''", "*"):
        return {"NULL": None, "''": "", "*": "*"}[text]
    if is_json:
        return json.dumps(json.loads(text), sort_keys=True)
    if isinstance(sample, bool):
        return text.lower()
    if isinstance(sample, (int, float, decimal.Decimal)):
        return _number(decimal.Decimal(text))
    return text


def _parse_expected(text: str) -> tuple[list[str], list[list[str]]]:
    lines = [line for line in text.splitlines() if line.strip()]
    header = [c.strip() for c in lines[0].split("|")]
    rows = [[c.strip() for c in line.split("|")] for line in lines[1:]]
    return header, rows


def _is_ordered(snowflake_sql: str) -> bool:
    return bool(sqlglot.parse_one(snowflake_sql, read="snowflake").args.get("order"))


def _run(case: Case) -> tuple[list[str], list[str], list[tuple]]:
    """Set up a fresh in-memory DuckDB, run the translated statement; names, types, rows."""
    connection = duckdb.connect()
    local_functions.register(connection)  # as the local backend does
    if case["setup"]:
        connection.execute(case["setup"])
    catalog = json.loads(case["catalog"]) if case["catalog"] else None
    session = Session()
    for statement in split_statements(case["session"]):
        session.apply(sqlglot.parse_one(statement, read="snowflake"),
                      lambda select: connection.execute(to_duckdb(select, session=session)))
    sql = to_duckdb(case["snowflake"], database=case["database"] or None, schema=case["schema"] or None,
                    catalog=catalog, session=session)
    result = connection.execute(sql)
    if case["check"]:
        result = connection.execute(case["check"])
    return [d[0] for d in result.description], [str(d[1]) for d in result.description], result.fetchall()


def _samples(rows: list[tuple], width: int) -> list[object]:
    """A non-NULL value per column, to read the expected cells as the same kind."""
    samples: list[object] = [None] * width
    for row in rows:
        for i, value in enumerate(row):
            if samples[i] is None:
                samples[i] = value
    return samples


@pytest.mark.parametrize("path", RESULT_CASES, ids=lambda p: p.stem)
def test_translation_gives_snowflake_results(path: Path) -> None:
    case = load_case(path)
    header, expected_rows = _parse_expected(case["expected"])
    names, types, rows = _run(case)
    assert names == header, "column names"
    assert len(rows) == len(expected_rows), f"row count; got {rows}"
    assert all(len(cells) == len(names) for cells in expected_rows), "an expected row has the wrong width"

    is_json = [t == "JSON" for t in types]
    samples = _samples(rows, len(names))
    expected = [[_expected_cell(*cell) for cell in zip(cells, samples, is_json)] for cells in expected_rows]
    wildcard = [any(row[i] == "*" for row in expected) for i in range(len(names))]
    actual = [
        ["*" if w and v is not None else _canonical(v, j) for v, j, w in zip(row, is_json, wildcard)]
        for row in rows
    ]
    if not _is_ordered(case["snowflake"]) or case["check"]:
        actual, expected = sorted(actual, key=repr), sorted(expected, key=repr)
    assert actual == expected, f"{case['name']}\nDuckDB SQL: {to_duckdb(case['snowflake'])}"


@pytest.mark.parametrize("path", ERROR_CASES, ids=lambda p: p.stem)
def test_untranslatable_sql_raises_sql_error(path: Path) -> None:
    case = load_case(path)
    with pytest.raises(SqlError) as raised:
        check_translatable(case["snowflake"])
    assert case["error"] in str(raised.value)
    if case["error-at"]:
        line, column = (int(n) for n in case["error-at"].split(":"))
        assert (raised.value.sql_line, raised.value.sql_column) == (line, column)


def test_there_are_fixtures() -> None:
    assert len(RESULT_CASES) >= 30 and len(ERROR_CASES) >= 8


@pytest.mark.parametrize(
    ("snowflake", "duck"),
    [
        ("number", "BIGINT"),
        ("NUMBER(38,0)", "BIGINT"),
        ("NUMBER(10)", "BIGINT"),
        ("NUMBER(10,2)", "DECIMAL(10,2)"),
        ("int", "BIGINT"),
        ("float", "DOUBLE"),
        ("real", "DOUBLE"),
        ("varchar", "VARCHAR"),
        ("VARCHAR(20)", "VARCHAR"),
        ("string", "VARCHAR"),
        ("boolean", "BOOLEAN"),
        ("date", "DATE"),
        ("timestamp", "TIMESTAMP"),
        ("timestamp_ntz", "TIMESTAMP"),
        ("timestamp_ltz", "TIMESTAMPTZ"),
        ("timestamp_tz", "TIMESTAMPTZ"),
        ("variant", "JSON"),
        ("array", "JSON"),
        ("object", "JSON"),
        ("binary", "BLOB"),
    ],
)
def test_duckdb_type(snowflake: str, duck: str) -> None:
    assert duckdb_type(snowflake) == duck


@pytest.mark.parametrize("bad", ["geography", "nosuchtype(", ""])
def test_duckdb_type_rejects_what_has_no_local_form(bad: str) -> None:
    with pytest.raises(SqlError):
        duckdb_type(bad)


def test_dml_statements_translate() -> None:
    assert to_duckdb("insert into t (a) values (1)").startswith('INSERT INTO "T" ("A")')
    assert to_duckdb("update t set a = 2 where b = 'x'").startswith('UPDATE "T" SET "A" = 2')
    assert to_duckdb("delete from t where a = 1").startswith('DELETE FROM "T"')


def test_several_statements_are_refused() -> None:
    with pytest.raises(SqlError, match="one SQL statement"):
        to_duckdb("SELECT 1; SELECT 2")


def test_syntax_error_is_a_sql_error_not_a_sqlglot_one() -> None:
    with pytest.raises(SqlError) as raised:
        to_duckdb("SELECT a,\n  FROM WHERE x")
    assert raised.value.sql_line == 2 and raised.value.sql_column == 8
    assert "^" in raised.value.excerpt()

