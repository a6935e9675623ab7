"""The conformance suite: Snowflake's documentation examples, run locally and compared.

A case file (``cases/<category>/<function>.yaml``) holds the examples of one documentation page:
the example's SQL, its setup statements and the output the page prints (see README.md beside
this file). :func:`run_pipe` runs a case the way ``pipe query`` runs a query on the local
target: every statement goes through the Snowflake -> DuckDB translation
(``engine.sql.translate.to_duckdb``, given the catalog of the tables the setup created) and
runs on a throwaway in-memory DuckDB database. :func:`run_fakesnow` runs the same case through
fakesnow, for comparison.

The comparator (:func:`cell_equal`) reads each printed cell as the kind of value the engine
returned:

* NULL (``null`` in the file) equals only NULL;
* numbers are compared as decimals at the printed scale: the value is rounded (half up) to as
  many decimals as the page prints, so ``0.285714`` equals 2/7 and ``5`` equals 5.0;
* dates, times and timestamps are compared by value, the printed text read in Snowflake's
  default output formats (``YYYY-MM-DD``, ``HH24:MI:SS.FF``, ``YYYY-MM-DD HH24:MI:SS.FF TZHTZM``);
  fractions of a second are compared to the printed precision; a printed offset with a time zone
  aware value compares instants (a TIMESTAMP_TZ's own offset is not stored locally), otherwise
  wall-clock times; a DATE never equals a TIMESTAMP, whatever its time;
* booleans equal ``true``/``false`` in any case;
* text equals with its trailing blanks ignored (a printed table cannot show them);
* text that differs as text is compared as parsed JSON when both sides parse as a JSON array
  or object (a VARIANT printed over several lines), otherwise exactly; an ARRAY element printed
  ``undefined`` (or left empty, as some pages print it: ``[1, ,77]``) is Snowflake's undefined,
  which equals only an element printed the same way, never a JSON ``null``;
* binary values equal their upper-case hex.

Column headers are compared ignoring case and white space. Rows are compared in order when the
case is ``ordered``, as multisets otherwise.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import sqlglot
import yaml
from sqlglot import exp

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
EXPECTATIONS = HERE / "expectations.yaml"

# Snowflake's default TIMEZONE parameter (docs: sql-reference/parameters, TIMEZONE).
DEFAULT_TIMEZONE = "America/Los_Angeles"
# Session parameters that only change how values are printed: the comparator reads any of
# Snowflake's default layouts, so these need no local equivalent.
_OUTPUT_PARAMETERS = re.compile(r"^(TIMESTAMP(_NTZ|_LTZ|_TZ)?|DATE|TIME)_OUTPUT_FORMAT$|^TIMEZONE$", re.I)

# Session parameters an example may set to their default value, which the local engine follows
# (docs: sql-reference/parameters).
_DEFAULTS = {"TIMESTAMP_TYPE_MAPPING": "TIMESTAMP_NTZ"}
# Session parameters the local engine follows, set as `pipe query` sets them: ALTER SESSION
# (engine.sql.session; the week-related functions, sql-reference/functions-date-time).
_SESSION_PARAMETERS = {"WEEK_START", "WEEK_OF_YEAR_POLICY"}

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
# Layouts examples set with TIMESTAMP_*_OUTPUT_FORMAT ('DY, DD MON YYYY HH24:MI:SS', ...).
_OTHER_TIMESTAMP_LAYOUTS = ("%a, %d %b %Y %H:%M:%S", "%a, %d %b %Y %H:%M:%S %z")
_TIMESTAMP_WITH_OFFSET = re.compile(r".*\d\s*(Z|[+-]\d{2}:?\d{2})$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_TIME = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$")


@dataclass(frozen=True)
class Case:
    """One documentation example."""

    file: Path
    name: str
    sql: str
    columns: list[str]
    rows: list[list[str | None]]
    setup: list[str] = field(default_factory=list)
    session: dict[str, str] = field(default_factory=dict)
    ordered: bool = False
    source: str = ""

    @property
    def id(self) -> str:
        """``category/function::name``, the key in the expectations file."""
        relative = self.file.relative_to(CASES).with_suffix("")
        return f"{relative.as_posix()}::{self.name}"


@dataclass
class Outcome:
    """What running a case gave: ``equal``, ``different`` (with the differences) or ``error``."""

    status: str
    detail: str = ""
    observed: list[list[str | None]] | None = None
    columns: list[str] | None = None

    @property
    def equal(self) -> bool:
        return self.status == "equal"


def load_cases(root: Path = CASES) -> list[Case]:
    """Every case of every ``*.yaml`` under ``root``, sorted by file then order in the file."""
    cases = []
    for path in sorted(root.rglob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        seen = set()
        for entry in document.get("cases") or []:
            if entry["name"] in seen:
                raise ValueError(f"{path}: case name {entry['name']!r} is used twice")
            seen.add(entry["name"])
            cases.append(Case(
                file=path, name=entry["name"], sql=entry["sql"].strip().rstrip(";"),
                columns=[str(c) for c in entry["columns"]],
                rows=[[None if c is None else str(c) for c in row] for row in entry.get("rows") or []],
                setup=[s.strip().rstrip(";") for s in entry.get("setup") or []],
                session={str(k).upper(): str(v) for k, v in (entry.get("session") or {}).items()},
                ordered=bool(entry.get("ordered", False)), source=document.get("source", ""),
            ))
    return cases


def load_expectations(path: Path = EXPECTATIONS) -> dict[str, dict]:
    """``{case id: {status, reason?, observed?}}`` for the cases that are not equal."""
    if not path.exists():
        return {}
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("cases") or {}


# --- running through pipe's local path -------------------------------------------------------


def run_pipe(case: Case) -> Outcome:
    """Run ``case`` as ``pipe query`` would on the local target, in a throwaway database."""
    from engine.backends.local.queries import cursor_result
    from engine.errors import PipeError
    from engine.sql import local_functions
    from engine.sql.session import Session

    unsupported = [k for k, v in case.session.items() if not _OUTPUT_PARAMETERS.match(k)
                   and k not in _SESSION_PARAMETERS and _DEFAULTS.get(k) != v.upper()]
    if unsupported:
        return Outcome("error", f"refused: session parameter {unsupported[0]} is not supported locally")
    con = duckdb.connect()
    local_functions.register(con)  # as the local backend does on each connection
    con.execute(f"SET TimeZone = '{case.session.get('TIMEZONE', DEFAULT_TIMEZONE)}'")
    catalog: dict[str, dict[str, str]] = {}
    session = Session()  # one script: ALTER SESSION and SET hold for the statements after them

    def evaluate(select: str):
        return con.execute(_translate(select, catalog, session))

    try:
        for name, value in case.session.items():
            if name in _SESSION_PARAMETERS:
                session.apply(sqlglot.parse_one(f"ALTER SESSION SET {name} = {value}", read="snowflake"), evaluate)
        for statement in case.setup:
            _setup_statement(con, statement, catalog, session, evaluate)
        result = cursor_result(con.execute(_translate(case.sql, catalog, session)))  # as pipe query shows it
        columns, rows = result.columns, result.rows
    except PipeError as err:
        return Outcome("error", f"refused: {str(err).splitlines()[0]}")
    except duckdb.Error as err:
        return Outcome("error", f"DuckDB: {str(err).splitlines()[0]}")
    finally:
        con.close()
    return compare(case, columns, rows)


def _translate(sql: str, catalog: dict[str, dict[str, str]], session=None) -> str:
    from engine.sql.translate import to_duckdb

    return to_duckdb(sql, catalog=catalog, session=session)


def _setup_statement(con: duckdb.DuckDBPyConnection, sql: str, catalog: dict[str, dict[str, str]],
                     session, evaluate) -> None:
    """CREATE TABLE with columns (types mapped as the engine stores them) or AS SELECT; SET and ALTER
    SESSION kept in the session; anything else translated."""
    from engine.sql.translate import duckdb_type

    statement = sqlglot.parse_one(sql, read="snowflake")
    if session.apply(statement, evaluate) is not None:
        return
    if isinstance(statement, (exp.Transaction, exp.Commit)):
        return  # BEGIN / COMMIT around the example's inserts: one session, the same rows either way
    if isinstance(statement, exp.Create) and statement.kind == "TABLE":
        target = statement.this
        if isinstance(target, exp.Schema):
            name = target.this.name.upper()
            columns = {c.name.upper(): c.args["kind"].sql(dialect="snowflake") for c in target.expressions
                       if isinstance(c, exp.ColumnDef)}
            body = ", ".join(f'"{c}" {duckdb_type(t)}' for c, t in columns.items())
            con.execute(f'CREATE OR REPLACE TABLE "{name}" ({body})')
            catalog[name] = columns
            if statement.expression is not None:  # CREATE TABLE t (columns) AS SELECT ...
                query = _translate(statement.expression.sql(dialect="snowflake"), catalog, session)
                con.execute(f'INSERT INTO "{name}" {query}')
            return
        name = target.name.upper()
        query = statement.expression
        con.execute(f'CREATE OR REPLACE TABLE "{name}" AS {_translate(query.sql(dialect="snowflake"), catalog, session)}')
        catalog[name] = {c: _snowflake_type(t) for c, t in
                         con.execute(f'SELECT column_name, data_type FROM information_schema.columns '
                                     f"WHERE table_name = '{name}'").fetchall()}
        return
    con.execute(_translate(sql, catalog, session))


def _snowflake_type(duckdb_type: str) -> str:
    """The Snowflake type a DuckDB column created by CREATE TABLE AS stands for."""
    if duckdb_type in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT"):
        return "NUMBER(38,0)"
    if duckdb_type.startswith("DECIMAL"):
        return duckdb_type.replace("DECIMAL", "NUMBER")
    return {"DOUBLE": "FLOAT", "JSON": "VARIANT", "TIMESTAMP": "TIMESTAMP_NTZ",
            "TIMESTAMP WITH TIME ZONE": "TIMESTAMP_TZ", "BLOB": "BINARY"}.get(duckdb_type, duckdb_type)


# --- running through fakesnow ----------------------------------------------------------------


def run_fakesnow(case: Case) -> Outcome:
    """Run ``case`` through fakesnow (its own DuckDB), statements sent as written."""
    import fakesnow
    import snowflake.connector

    with fakesnow.patch():
        try:
            con = snowflake.connector.connect(database="CONFORMANCE", schema="PUBLIC")
            cursor = con.cursor()
            for name, value in case.session.items():
                if name.upper().endswith("_OUTPUT_FORMAT"):  # printing only (see the comparator)
                    continue
                cursor.execute(f"ALTER SESSION SET {name} = '{value}'")
            for statement in case.setup:
                cursor.execute(statement)
            cursor.execute(case.sql)
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        except Exception as err:  # fakesnow raises what the connector and DuckDB raise
            return Outcome("error", f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    return compare(case, columns, rows)


# --- comparing -------------------------------------------------------------------------------


def compare(case: Case, columns: list[str], rows: list[tuple]) -> Outcome:
    """Compare what an engine returned with what the page prints."""
    observed = [[render(v) for v in row] for row in rows]
    problems = []
    if [_header(c) for c in columns] != [_header(c) for c in case.columns]:
        problems.append(f"columns {columns} != {case.columns}")
    if len(rows) != len(case.rows):
        problems.append(f"{len(rows)} rows, the page prints {len(case.rows)}")
    elif not problems:
        problems += _compare_rows(case, rows)
    if problems:
        return Outcome("different", "; ".join(problems), observed, columns)
    return Outcome("equal", observed=observed, columns=columns)


def _compare_rows(case: Case, rows: list[tuple]) -> list[str]:
    if case.ordered:
        pairs = list(zip(rows, case.rows))
    else:  # as multisets: match each printed row with an equal returned row
        remaining = list(rows)
        pairs = []
        for printed in case.rows:
            match = next((r for r in remaining if _row_equal(r, printed)), None)
            if match is None:
                return [f"no returned row equals {printed}; returned {[[render(v) for v in r] for r in rows]}"]
            remaining.remove(match)
            pairs.append((match, printed))
    problems = []
    for index, (row, printed) in enumerate(pairs):
        if len(row) != len(printed):
            problems.append(f"row {index + 1} has {len(row)} cells, the page prints {len(printed)}")
            continue
        for column, value, text in zip(case.columns, row, printed):
            if not cell_equal(value, text):
                problems.append(f"row {index + 1} {column}: {render(value)!r} != {text!r}")
    return problems


def _row_equal(row: tuple, printed: list[str | None]) -> bool:
    return len(row) == len(printed) and all(cell_equal(v, t) for v, t in zip(row, printed))


def _header(name: str) -> str:
    return re.sub(r"\s+", "", name).upper()


def cell_equal(value: object, text: str | None) -> bool:
    """Whether a returned value equals a printed cell (see the module docstring)."""
    if text is None or value is None:
        return text is None and value is None
    if isinstance(value, str) and value.rstrip() == text.rstrip():
        return True  # a printed table cannot show trailing blanks
    text = text.strip()
    if isinstance(value, bool):
        return text.lower() == str(value).lower()
    if isinstance(value, (int, float, decimal.Decimal)):
        return _number_equal(value, text)
    if isinstance(value, dt.datetime):
        return _instant_equal(value, text) or (value.tzinfo is None and _timestamp_equal(value, text)) or (
            value.tzinfo is not None and not _TIMESTAMP_WITH_OFFSET.match(text) and _timestamp_equal(value, text))
    if isinstance(value, dt.date):
        return value.isoformat() == text or value.strftime("%d-%b-%Y") == text  # or DATE_OUTPUT_FORMAT DD-MON-YYYY
    if isinstance(value, dt.time):
        return _time_equal(value, text)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex().upper() == text.upper()
    if isinstance(value, (list, dict)):
        return _json_equal(json.dumps(value, default=str), text)
    value = str(value)
    return value == text or _json_equal(value, text)


def _number_equal(value: int | float | decimal.Decimal, text: str) -> bool:
    try:
        printed = decimal.Decimal(text)
    except decimal.InvalidOperation:
        return False
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value).lower() == text.lower().replace("infinity", "inf")
    exponent = printed.as_tuple().exponent
    if "e" in text.lower():  # printed in scientific notation: compare to its significant digits
        digits = len(printed.as_tuple().digits)
        return float(f"{float(value):.{digits - 1}e}") == float(printed)
    got = decimal.Decimal(str(value)).quantize(decimal.Decimal(1).scaleb(exponent), rounding=decimal.ROUND_HALF_UP)
    return got == printed


def _fraction(value: dt.datetime | dt.time, digits: str | None) -> bool:
    printed = int((digits or "0")[:6].ljust(6, "0"))
    precision = min(len(digits or ""), 6)
    step = 10 ** (6 - precision)
    return value.microsecond // step * step == printed


def _timestamp_equal(value: dt.datetime, text: str) -> bool:
    match = _TIMESTAMP.match(text)
    if not match:
        for layout in _OTHER_TIMESTAMP_LAYOUTS:
            try:
                return value.replace(tzinfo=None, microsecond=0) == dt.datetime.strptime(text, layout)
            except ValueError:
                pass
        return False
    year, month, day, hour, minute, second, digits, offset = match.groups()
    wall = (int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    if (value.year, value.month, value.day, value.hour, value.minute, value.second) != wall:
        return False
    if not _fraction(value, digits):
        return False
    return True


def _instant_equal(value: dt.datetime, text: str) -> bool:
    """A time zone aware value against a printed timestamp with an offset: the same instant."""
    match = _TIMESTAMP.match(text)
    if not match or not match.group(8) or value.tzinfo is None:
        return False
    year, month, day, hour, minute, second, digits, offset = match.groups()
    sign, hours, mins = (1, 0, 0) if offset == "Z" else (1 if offset[0] == "+" else -1, int(offset[1:3]), int(offset[-2:]))
    zone = dt.timezone(sign * dt.timedelta(hours=hours, minutes=mins))
    printed = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=zone)
    instant = value.astimezone(zone)
    return instant.replace(microsecond=0) == printed and _fraction(instant, digits)


def _time_equal(value: dt.time, text: str) -> bool:
    match = _TIME.match(text)
    if not match:
        return False
    hour, minute, second, digits = match.groups()
    return (value.hour, value.minute, value.second) == (int(hour), int(minute), int(second or 0)) and _fraction(
        value, digits)


def _json_equal(value: str, text: str) -> bool:
    try:
        left, right = _variant(value), _variant(text)
    except (ValueError, TypeError):
        return False
    return left == right and isinstance(left, (list, dict))


class _Undefined:
    """Snowflake's undefined array element, as read from printed VARIANT text: equal only to itself."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Undefined)

    def __hash__(self) -> int:
        return 0


# A JSON string (skipped as is), the word undefined, or an empty element (between '[' or ','
# and ',' or ']').
_VARIANT_TOKENS = re.compile(r'("(?:\\.|[^"\\])*")|\bundefined\b|(?<=\[)(\s*)(?=,)|(?<=,)(\s*)(?=[,\]])')
_UNDEFINED_MARK = "\\u0000undefined"  # JSON text of a string no printed cell holds


def _variant(text: str) -> object:
    """Printed VARIANT text as a value: JSON, with Snowflake's undefined array elements."""
    def mark(match: re.Match) -> str:
        if match.group(1) is not None:
            return match.group(1)
        return f'{match.group(2) or match.group(3) or ""}"{_UNDEFINED_MARK}"'

    marked = _VARIANT_TOKENS.sub(mark, text)
    if marked == text:
        return json.loads(text)
    return _undefined(json.loads(marked))


def _undefined(value: object) -> object:
    if isinstance(value, list):
        return [_Undefined() if v == "\x00undefined" else _undefined(v) for v in value]
    if isinstance(value, dict):
        return {k: _undefined(v) for k, v in value.items()}
    return value


def render(value: object) -> str | None:
    """A returned value as text, for difference lines and the expectations file."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex().upper()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)
