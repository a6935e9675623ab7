"""Snowflake window functions DuckDB lacks, written with the window functions it has.

* ``RATIO_TO_REPORT(x) OVER (PARTITION BY p)`` is ``x / SUM(x) OVER (PARTITION BY p)``, NULL
  when the sum is 0 (sql-reference/functions/ratio_to_report: "If expr1 evaluates to null or
  the sum of expr1 within the group evaluates to 0, then RATIO_TO_REPORT returns null"); the
  quotient keeps the scale Snowflake gives a division (see ``dialect_functions``).
* ``CONDITIONAL_TRUE_EVENT(c) OVER (PARTITION BY p ORDER BY o)`` counts the rows up to the
  current one (in the window's order) whose condition is true
  (sql-reference/functions/conditional_true_event); a number is true when it is not 0.
* ``CONDITIONAL_CHANGE_EVENT(x) OVER (...)`` counts, up to the current row, the rows whose
  ``x`` differs from the previous row's; NULLs are neither a value nor a change
  (sql-reference/functions/conditional_change_event, "NULL values are not considered a new or
  changed value"). Snowflake defines it as a window over ``LAG``, which DuckDB cannot nest, so
  the values up to the current row are collected in a list and the changes counted in it: the
  cost grows with the square of a partition's size.
* ``AVG(x) OVER (...)`` of a NUMBER of scale ``s`` is a NUMBER of scale ``s + 3``, truncated:
  the pages print ``8.666`` for the average of 10, 6 and 10 integers
  (sql-reference/functions-window-using, 3-day moving average) and ``3.16666`` for a
  NUMBER(7,2) (sql-reference/functions-window-syntax); DuckDB's AVG is a DOUBLE, so the
  average is computed exactly from the sum and the count.
"""

from __future__ import annotations

from sqlglot import exp

from engine.sql.dialect_common import Untranslatable, duck

NAMES = frozenset({"RATIO_TO_REPORT", "CONDITIONAL_TRUE_EVENT", "CONDITIONAL_CHANGE_EVENT"})

_TRUE_EVENT = "CASE WHEN CAST(__X AS BOOLEAN) THEN 1 ELSE 0 END"
_VALUES_SO_FAR = "list_filter(list(__X), lambda v: v IS NOT NULL)"
_CHANGES = ("list_reduce(list_transform(__VALUES, lambda v: {'v': v, 'n': 0}),"
            " lambda a, b: {'v': b.v, 'n': a.n + CASE WHEN b.v <> a.v THEN 1 ELSE 0 END},"
            " {'v': NULL, 'n': 0}).n")


def rewrite_node(node: exp.Expression) -> exp.Expression:
    """The DuckDB form of ``node`` if it is one of these window functions, else ``node``."""
    if not (isinstance(node, exp.Window) and isinstance(node.this, exp.Anonymous)):
        return node
    name = node.this.name.upper()
    if name not in NAMES:
        return node
    if len(node.this.expressions) != 1:
        raise Untranslatable(f"{name} with {len(node.this.expressions)} arguments", node, keyword=name,
                             hint=f"{name} takes one argument")
    argument = node.this.expressions[0]
    if name == "RATIO_TO_REPORT":
        total = _over(node, exp.Sum(this=argument.copy()), running=False)
        return exp.Div(this=argument.copy(), expression=exp.Nullif(this=total, expression=exp.Literal.number(0)))
    if node.args.get("order") is None:
        raise Untranslatable(f"{name} without ORDER BY", node, keyword=name,
                             hint="give its OVER clause an ORDER BY, as Snowflake requires")
    if name == "CONDITIONAL_TRUE_EVENT":
        return _over(node, exp.Sum(this=duck(_TRUE_EVENT, x=argument)), running=True)
    values = _over(node, duck(_VALUES_SO_FAR, x=argument), running=True)
    return duck(_CHANGES, values=values)


def exact_average(window: exp.Window, scale: int) -> exp.Expression:
    """``AVG(x) OVER (...)`` of a NUMBER of scale ``scale``: exact, truncated to ``scale + 3`` decimals."""
    argument = window.this.this
    digits = scale + 3
    total = _over(window, exp.Sum(this=argument.copy()), running=False)
    count = _over(window, exp.Count(this=argument.copy()), running=False)
    for part in (total, count):  # the window's own order and frame
        for key in ("order", "spec"):
            if window.args.get(key) is not None:
                part.set(key, window.args[key].copy())
    unit = f"0.{'0' * (digits - 1)}1"
    return duck(f"CAST(CAST(CAST(__TOTAL AS DECIMAL(38, {scale})) * {10 ** digits} AS HUGEINT) // __COUNT"
                f" AS DECIMAL(38, 0)) * CAST('{unit}' AS DECIMAL(38, {digits}))", total=total, count=count)


def _over(window: exp.Window, function: exp.Expression, *, running: bool) -> exp.Expression:
    """``function`` over ``window``'s partition (and order): to the current row when ``running``.

    In a list of windows ``list(x) OVER (...)`` is the aggregate, so a DuckDB template cannot
    hold the OVER clause: it is put around the aggregate inside the template.
    """
    aggregate = function
    if not isinstance(function, exp.AggFunc):
        aggregate = next(n for n in function.walk() if isinstance(n, exp.AggFunc))
    over = exp.Window(this=aggregate.copy(), partition_by=[p.copy() for p in window.args.get("partition_by") or []],
                      over="OVER")
    if running:
        over.set("order", window.args["order"].copy())
        over.set("spec", exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"))
    if aggregate is function:
        return over
    aggregate.replace(over)
    return function
