"""Functions and clauses: what the local engine rejects, and the rewrites sqlglot leaves to us.

sqlglot already maps most Snowflake functions to DuckDB (IFF, NVL, ZEROIFNULL, DIV0, COUNT_IF,
MODE, DATEDIFF -- boundary counting like Snowflake, weeks starting on Monday --, SPLIT_PART,
TO_DATE, QUALIFY, ...). This module covers what it does not (TO_TIMESTAMP, DATEADD on a DATE,
the scale of a division, functions returning arrays), and refuses, with the construct named,
what DuckDB cannot run the Snowflake way.
"""

from __future__ import annotations

import functools
from pathlib import Path
import re

from sqlglot import exp
from sqlglot.dialects.snowflake import Snowflake
from sqlglot.time import format_time

from engine.sql import (
    dialect_aggregates,
    dialect_dates,
    dialect_numbers,
    dialect_regex,
    dialect_strings,
    dialect_variant,
    dialect_windows,
)
from engine.sql.dialect_annotate import DATE, is_type, snowflake_type
from engine.sql.dialect_common import (
    Untranslatable,
    duck,
    is_marked_variant,
    is_native,
    mark_variant,
    rewrite_bottom_up,
)

# Snowflake functions sqlglot passes through by name and that are rewritten here.
_TIMESTAMP_FUNCTIONS = {
    "TO_TIMESTAMP": "TIMESTAMP",
    "TO_TIMESTAMP_NTZ": "TIMESTAMP",
    "TO_TIMESTAMP_LTZ": "TIMESTAMPTZ",
    "TO_TIMESTAMP_TZ": "TIMESTAMPTZ",
}
_TABLES_OK = (exp.Explode, exp.Subquery, exp.Generator)  # FLATTEN, LATERAL (SELECT ...), GENERATOR
# The array functions run locally; sqlglot would write the others as DuckDB LIST functions,
# but arrays are JSON locally.
_ARRAY_FUNCTIONS_OK = (exp.Array, exp.ArrayAgg, exp.ArraySize, exp.ArrayUniqueAgg)
# Functions whose DuckDB result is a LIST; Snowflake returns an ARRAY, which is JSON locally.
_LIST_RESULTS = (exp.Split, exp.StrtokToArray, exp.JSONKeys)
_DATE_FORMAT = re.compile(r"YY|MM|DD|HH|MI|SS|MON|DY|FF", re.IGNORECASE)
_DATE_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}
_BUCKETS = {
    "YEAR": "1 year", "QUARTER": "3 months", "MONTH": "1 month", "WEEK": "1 week", "DAY": "1 day",
    "HOUR": "1 hour", "MINUTE": "1 minute", "SECOND": "1 second", "MILLISECOND": "1 millisecond",
    "MICROSECOND": "1 microsecond",
}
# Snowflake divides fixed-point numbers exactly and rounds the quotient to
# max(S1, min(S1 + 6, 12)) decimals, S1 being the numerator's scale (so 2 / 7 = 0.285714);
# DuckDB divides in DOUBLE. The operand types are known only to DuckDB, so the rounding is
# chosen with typeof(), which DuckDB folds to a constant when it plans the query.
_FIXED_POINT = (
    "(typeof({x}) IN ('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT',"
    " 'UINTEGER', 'UBIGINT', 'UHUGEINT') OR typeof({x}) LIKE 'DECIMAL(%')"
)
_NUMERATOR_SCALE = "COALESCE(TRY_CAST(regexp_extract(typeof(__A), ',(\\d+)\\)', 1) AS INTEGER), 0)"
_DIVISION = (
    f"CASE WHEN {_FIXED_POINT.format(x='__A')} AND {_FIXED_POINT.format(x='__B')}"
    f" THEN round(__A / __B, greatest({_NUMERATOR_SCALE}, least({_NUMERATOR_SCALE} + 6, 12)))"
    " ELSE __A / __B END"
)
_CLAUSES = {
    exp.MatchRecognize: ("MATCH_RECOGNIZE", "MATCH_RECOGNIZE", "use window functions (LAG, LEAD, QUALIFY)"),
    exp.Connect: ("CONNECT BY", "CONNECT", "use a recursive CTE"),
    exp.HistoricalData: ("time travel (AT / BEFORE)", None, "query the current table"),
    exp.Pivot: ("PIVOT / UNPIVOT", None, "aggregate with COUNT_IF / SUM(IFF(...)) per value instead"),
}


def reject_unsupported(tree: exp.Expression) -> None:
    """Raise Untranslatable for the first construct of the Snowflake ``tree`` the local engine lacks."""
    for node in tree.walk():
        if dialect_variant.translates(node):  # ARRAY / OBJECT functions: rewritten by dialect_variant
            continue
        for kind, (construct, keyword, hint) in _CLAUSES.items():
            if isinstance(node, kind):
                raise Untranslatable(construct, node, keyword=keyword or construct.split()[0], hint=hint)
        if isinstance(node, (exp.Lateral, exp.TableFromRows)) and not isinstance(node.this, _TABLES_OK):
            raise Untranslatable(f"table function {_function_name(node.this)}", node.this, keyword="TABLE",
                                 hint="LATERAL FLATTEN and GENERATOR are the table functions the local engine runs")
        if _is_array_function(node):
            raise Untranslatable(f"function {_function_name(node)}", node, keyword=_function_name(node),
                                 hint="arrays are JSON locally; use LATERAL FLATTEN and ARRAY_AGG")
        if isinstance(node, exp.Anonymous) and not _known_function(node.name):
            raise Untranslatable(f"function {node.name.upper()}", node,
                                 hint="it has no local (DuckDB) equivalent; compute it another way or run on Snowflake")
        if isinstance(node, exp.Insert) and node.args.get("overwrite"):
            raise Untranslatable("INSERT OVERWRITE", node, keyword="OVERWRITE", hint="DELETE then INSERT")


def _is_array_function(node: exp.Expression) -> bool:
    return (isinstance(node, exp.Func) and type(node).__name__.startswith("Array")
            and not isinstance(node, _ARRAY_FUNCTIONS_OK))


def _known_function(name: str) -> bool:
    return (name.upper() in _TIMESTAMP_FUNCTIONS or name.upper() in dialect_windows.NAMES
            or name.lower() in duckdb_functions())


@functools.cache
def duckdb_functions() -> frozenset[str]:
    """Lower-case names of every function and macro DuckDB offers.

    Read from a list shipped with the package, so that validating a pipeline does not load the
    DuckDB driver; a test keeps the list in step with the installed DuckDB.
    """
    text = (Path(__file__).parent / "duckdb_functions.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.upper()
    if isinstance(node, exp.Dot):
        return node.sql(dialect="snowflake").split("(")[0].upper()
    if isinstance(node, exp.Func):
        return node.sql_name()
    return node.sql(dialect="snowflake").split("(")[0].upper()


def rewrite(tree: exp.Expression) -> exp.Expression:
    """Rewrite Snowflake functions sqlglot does not map faithfully (run before the VARIANT pass)."""
    return rewrite_bottom_up(tree, _rewrite_node)


def rewrite_divisions(tree: exp.Expression) -> exp.Expression:
    """Give ``/`` Snowflake's rounding (run after the VARIANT pass has coerced the operands)."""
    return rewrite_bottom_up(tree, _division)


def _division(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Div) and not is_native(node):
        numerator, denominator = _fixed_scale(node.this), _fixed_scale(node.expression)
        if numerator is not None and denominator is not None:
            # Both NUMBERs of known scale: the quotient is a NUMBER of scale max(S1, min(S1 + 6, 12))
            # (sql-reference/operators-arithmetic, "Division"), so it prints 3.500000 for 7 / 2.
            scale = max(numerator, min(numerator + 6, 12))
            return duck(f"CAST(round(__A / __B, {scale}) AS DECIMAL(38, {scale}))", a=node.this, b=node.expression)
        return duck(_DIVISION, a=node.this, b=node.expression)
    return node


_INTEGER_TYPES = {exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT,
                  exp.DataType.Type.BIGINT, exp.DataType.Type.INT128}


def _fixed_scale(node: exp.Expression) -> int | None:
    """The scale of a NUMBER operand known from the query or the catalog, None if not a known NUMBER."""
    while isinstance(node, (exp.Paren, exp.Neg)):
        node = node.this
    if isinstance(node, exp.Literal) and not node.is_string:
        if "e" in node.name.lower():
            return None  # scientific notation is a FLOAT
        return len(node.name.split(".", 1)[1]) if "." in node.name else 0
    datatype = snowflake_type(node)
    if datatype is None:
        return None
    if datatype.this in _INTEGER_TYPES:
        return 0
    if datatype.this == exp.DataType.Type.DECIMAL and len(datatype.expressions) == 2:
        param = datatype.expressions[1]
        value = param.this if isinstance(param, exp.DataTypeParam) else param
        return int(value.name) if isinstance(value, exp.Literal) and value.is_int else None
    return None


def _rewrite_node(node: exp.Expression) -> exp.Expression:
    for rule in (dialect_dates.rewrite_node, dialect_numbers.rewrite_node, dialect_windows.rewrite_node,
                 dialect_aggregates.rewrite_node, dialect_regex.rewrite_node, dialect_strings.rewrite_node):
        new = rule(node)
        if new is not node:
            return new
    if isinstance(node, exp.Window) and isinstance(node.this, exp.Avg) and not isinstance(node.this.this, exp.Distinct):
        scale = _fixed_scale(node.this.this)
        if scale is not None and scale <= 20:
            return dialect_windows.exact_average(node, scale)
    if isinstance(node, exp.Round) and isinstance(node.this, exp.Avg):
        # Snowflake's AVG of a NUMBER is an exact NUMBER, so ROUND(AVG(x), 1) of 1.15 is 1.2;
        # DuckDB's AVG is a DOUBLE (1.1499…), which rounds down. Rounding the average as a
        # DECIMAL gives Snowflake's answer.
        exact = exp.Cast(this=node.this.copy(), to=exp.DataType.build("DECIMAL(38, 12)"))
        node = node.copy()
        node.set("this", exact)
        return node
    if isinstance(node, exp.Mode) and not isinstance(node.this, exp.Order):
        # Snowflake's MODE returns one of the most frequent values on a tie; DuckDB's plain mode
        # picks one by scan order. Ordering the input makes it the smallest, every time, so an
        # incremental recompute of a group gives the same value as a full one.
        value = node.this
        return exp.Mode(this=exp.Order(this=value.copy(), expressions=[exp.Ordered(this=value.copy(), nulls_first=False)]))
    if isinstance(node, (exp.DateTrunc, exp.TimestampTrunc)) and _unit(node) in _BUCKETS:
        # DuckDB's date_trunc turns a DATE into a TIMESTAMP; time_bucket keeps the input type,
        # as Snowflake's DATE_TRUNC does (its default origin starts weeks on a Monday).
        width = exp.Literal.string(_BUCKETS[_unit(node)])
        return duck("time_bucket(CAST(__WIDTH AS INTERVAL), __VALUE)", width=width, value=node.this)
    if isinstance(node, exp.DateAdd) and _returns_date_in_snowflake(node):
        # DuckDB returns a TIMESTAMP for DATE + INTERVAL; Snowflake a DATE. Only a DATE known
        # from the query text can be kept one (DuckDB has no type-preserving date addition).
        return exp.Cast(this=node.copy(), to=exp.DataType.build("DATE"))
    if isinstance(node, exp.ToChar) and node.args.get("format") is not None:
        return _to_char(node)
    if isinstance(node, exp.ToVariant):
        return exp.Cast(this=node.this, to=exp.DataType.build("VARIANT", dialect="snowflake"))
    if isinstance(node, exp.ToArray):
        if is_marked_variant(node.this) or isinstance(node.this, (exp.JSONExtract, exp.Bracket)):
            raise Untranslatable("TO_ARRAY of a VARIANT", node, keyword="TO_ARRAY", hint="use ARRAY_CONSTRUCT(x)")
        return exp.Array(expressions=[node.this])
    if isinstance(node, exp.ArrayUniqueAgg):  # an aggregate: [] when there is nothing to collect
        return mark_variant(duck("COALESCE(to_json(__X), CAST('[]' AS JSON))", x=node.copy()))
    if isinstance(node, _LIST_RESULTS) and not is_native(node):
        return mark_variant(duck("to_json(__X)", x=node.copy()))
    return node


def _to_char(node: exp.ToChar) -> exp.Expression:
    """TO_CHAR / TO_VARCHAR with a date or time format -> strftime with the same format."""
    fmt = node.args["format"]
    binary = dialect_numbers.binary_to_text(node)
    if binary is not None:
        return binary
    if not (fmt.is_string and _DATE_FORMAT.search(fmt.name)):
        raise Untranslatable("TO_CHAR / TO_VARCHAR with a numeric format", node, keyword="TO_",
                             hint="use ROUND and || instead, or a date format")
    strftime = format_time(fmt.name, Snowflake.TIME_MAPPING, Snowflake.TIME_TRIE)
    return exp.TimeToStr(this=node.this, format=exp.Literal.string(strftime))


def _unit(node: exp.Expression) -> str:
    unit = node.args.get("unit")
    return unit.name.upper() if unit is not None else "DAY"


def _returns_date_in_snowflake(node: exp.DateAdd) -> bool:
    return _unit(node) in _DATE_UNITS and (_is_date(node.this) or dialect_dates.returns_date(node, _unit(node)))


def _is_date(node: exp.Expression) -> bool:
    """Whether ``node`` is a DATE: by its annotated type, or its form (a cast, CURRENT_DATE, TO_DATE, ...)."""
    while isinstance(node, exp.Paren):
        node = node.this
    if is_type(node, DATE):
        return True
    if isinstance(node, exp.Cast):
        return node.to.this == exp.DataType.Type.DATE
    if isinstance(node, (exp.CurrentDate, exp.TsOrDsToDate, exp.DateFromParts, exp.Date)):
        return True
    if isinstance(node, exp.DateAdd):
        return _returns_date_in_snowflake(node)
    if isinstance(node, exp.DateBin):  # time_bucket, from DATE_TRUNC above
        return _is_date(node.expression)
    return False
