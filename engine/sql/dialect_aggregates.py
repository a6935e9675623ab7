"""Aggregates: the arguments Snowflake converts and the forms DuckDB writes differently.

* SUM, AVG and the statistical aggregates of a VARCHAR cast it to FLOAT (avg, "Usage notes":
  "When passed a VARCHAR expression, this function implicitly casts the input to floating point
  values"; sum prints ``23.2`` for the sum of VARCHAR '1.1', '10', '2.2', '9.9').
* STDDEV / STDDEV_POP of integers are the square root of the variance rounded to 6 decimals:
  the page prints 3.265986375 for STDDEV_POP of 6, 10 and 14, which is sqrt(10.666667), not
  sqrt(32/3) = 3.2659863237 (stddev_pop example).
* BITAND_AGG, BITOR_AGG, BITXOR_AGG round decimals and FLOATs to the nearest integer, and cast
  text to FLOAT first (bitand_agg, "Usage notes"); DuckDB's bit_and takes integers only.
* BOOLXOR_AGG(x) OVER (...) is true when exactly one value is true (boolxor_agg); sqlglot writes
  the comparison inside the window call, so the count is windowed and compared outside it.
* COUNT(t.*), COUNT(* ILIKE 'p'), COUNT(* EXCLUDE c) count the rows in which none of those
  columns is NULL (count, "Usage notes"; the page prints 3 for COUNT(n.*) of six rows, three of
  them with a NULL); DuckDB's COLUMNS(...) in a FILTER clause expands to one condition a column.
"""

from __future__ import annotations

from sqlglot import exp

from engine.sql.dialect_annotate import TEXT, is_type
from engine.sql.dialect_common import duck

T = exp.DataType.Type
_NUMERIC_AGGREGATES = (exp.Sum, exp.Avg, exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance,
                       exp.VariancePop, exp.Skewness, exp.Kurtosis, exp.Median)
_BITWISE_AGGREGATES = (exp.BitwiseAndAgg, exp.BitwiseOrAgg, exp.BitwiseXorAgg)
_INTEGERS = {T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.INT128}


def rewrite_node(node: exp.Expression) -> exp.Expression:
    """One node's rewrite (called bottom-up by dialect_functions.rewrite)."""
    if isinstance(node, _NUMERIC_AGGREGATES) and is_type(node.this, TEXT):
        node.set("this", exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE")))
        return node
    if (isinstance(node, (exp.Stddev, exp.StddevPop, exp.StddevSamp)) and is_type(node.this, _INTEGERS)
            and not isinstance(node.parent, exp.Window)):
        variance = exp.VariancePop if isinstance(node, exp.StddevPop) else exp.Variance
        return duck("sqrt(round(__V, 6))", v=variance(this=node.this))
    if isinstance(node, _BITWISE_AGGREGATES) and not is_type(node.this, _INTEGERS):
        value = node.this
        if is_type(value, TEXT):
            value = exp.Cast(this=value, to=exp.DataType.build("DOUBLE"))
        node.set("this", duck("CAST(round(__X) AS BIGINT)", x=value))
        return node
    if isinstance(node, exp.Window) and isinstance(node.this, exp.BoolxorAgg):
        count = node.copy()
        count.set("this", exp.CountIf(this=exp.Cast(this=node.this.this.copy(), to=exp.DataType.build("BOOLEAN"))))
        return duck("(__COUNT = 1)", count=count)
    if isinstance(node, exp.Count) and _is_variant(node.this):
        # A JSON null inside a VARIANT is a value locally; COUNT skips it in Snowflake (count,
        # "Usage notes": JSON null values are not counted).
        node.set("this", exp.If(this=exp.NEQ(this=exp.Anonymous(this="json_type", expressions=[node.this.copy()]),
                                             expression=exp.Literal.string("NULL")),
                                true=exp.Literal.number(1)))
        return node
    if isinstance(node, exp.Count):
        return _count_columns(node)
    return node


def _is_variant(node: exp.Expression) -> bool:
    return isinstance(node, exp.JSONExtract) or is_type(node, {T.VARIANT, T.JSON})


def _count_columns(node: exp.Count) -> exp.Expression:
    star = node.this
    if isinstance(star, exp.Column) and star.is_star and star.table:
        columns = f'COLUMNS("{star.table}".*)'
    elif isinstance(star, exp.Star) and star.args.get("ilike") is not None:
        pattern = star.args["ilike"].name.replace("'", "''")
        columns = f"COLUMNS(lambda c: c ILIKE '{pattern}')"
    elif isinstance(star, exp.Star) and star.args.get("except_"):
        names = ", ".join(f'"{c.name}"' for c in star.args["except_"])
        columns = f"COLUMNS(* EXCLUDE ({names}))"
    else:
        return node
    return duck(f"COUNT(*) FILTER (WHERE {columns} IS NOT NULL)")
