"""Week-related functions under the WEEK_START and WEEK_OF_YEAR_POLICY session parameters.

Snowflake's reference (sql-reference/functions-date-time, "Calendar weeks and weekdays"; the
parameters: sql-reference/parameters, WEEK_START and WEEK_OF_YEAR_POLICY):

* WEEK_START = 0 (the default, legacy) starts weeks on Monday and numbers DAYOFWEEK 0 (Sunday)
  to 6; 1 to 7 (Monday to Sunday) start weeks on that day and number DAYOFWEEK 1 (the first
  day) to 7. DATE_TRUNC / TRUNC and LAST_DAY with a WEEK part, and DATEDIFF in weeks, use the
  weeks so defined.
* WEEK / WEEKOFYEAR and YEAROFWEEK (and the same DATE_PART / EXTRACT parts): with
  WEEK_OF_YEAR_POLICY = 0 a week belongs to the year holding at least 4 of its days (ISO's rule,
  with weeks starting on the WEEK_START day); with 1, January 1 starts week 1 and December 31 is
  in the last week, so the first and last weeks may be short.
* The ISO forms (DAYOFWEEKISO, WEEKISO, YEAROFWEEKISO) ignore both parameters.

With both parameters at their default the translation's own rules already give these results and
nothing here runs. Otherwise each function is written in DuckDB from the date's ISO day of the
week, so that the docs' examples for WEEK_START 0, 1 and 3 and both policies hold.
"""

from __future__ import annotations

from sqlglot import exp

from engine.sql.dialect_annotate import DATE, TEXT, is_type
from engine.sql.dialect_common import duck, rewrite_bottom_up

# Date parts and their aliases (sql-reference/functions-date-time, "Supported date and time parts").
_DAY_OF_WEEK = {"DAYOFWEEK", "WEEKDAY", "DOW", "DW"}
_WEEK = {"WEEK", "W", "WK", "WEEKOFYEAR", "WOY", "WY"}
_YEAR_OF_WEEK = {"YEAROFWEEK"}
_ZONED = {exp.DataType.Type.TIMESTAMPLTZ, exp.DataType.Type.TIMESTAMPTZ}

PARAMETERS = {"WEEK_START": range(0, 8), "WEEK_OF_YEAR_POLICY": range(0, 2)}


def rewrite(tree: exp.Expression, week_start: int, policy: int) -> exp.Expression:
    """Rewrite the week-related functions of ``tree`` (after annotation, before the function pass)."""
    if week_start == 0 and policy == 0:
        return tree
    rules = _Rules(week_start, policy)
    return rewrite_bottom_up(tree, rules.node)


class _Rules:
    def __init__(self, week_start: int, policy: int):
        self.week_start = week_start
        self.first_day = week_start or 1  # 0 keeps the legacy Monday start
        self.policy = policy

    def node(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.DayOfWeek):
            return self.day_of_week(node.this)
        if isinstance(node, exp.Week):
            return self.week(node.this)
        if isinstance(node, exp.YearOfWeek):
            return self.year_of_week(node.this)
        if isinstance(node, exp.Extract):
            part = node.this.name.upper()
            rule = {**dict.fromkeys(_DAY_OF_WEEK, self.day_of_week), **dict.fromkeys(_WEEK, self.week),
                    **dict.fromkeys(_YEAR_OF_WEEK, self.year_of_week)}.get(part)
            return rule(node.expression) if rule else node
        if not _unit_is_week(node):
            return node
        if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)):
            return self.truncate(node.this)
        if isinstance(node, exp.LastDay):
            return duck("__S + 6", s=self.start(node.this))
        if isinstance(node, exp.DateDiff):
            return duck("CAST((__E - __S) // 7 AS BIGINT)", e=self.start(node.this), s=self.start(node.expression))
        return node  # DATEADD and INTERVAL: a week is 7 days, whatever day it starts on

    def start(self, value: exp.Expression) -> exp.Expression:
        """The DATE the week of ``value`` starts on."""
        return _week_start(_as_date(value), self.first_day)

    def day_of_week(self, value: exp.Expression) -> exp.Expression:
        if self.week_start == 0:
            return duck("CAST(dayofweek(__D) AS BIGINT)", d=_as_date(value))  # 0 (Sunday) to 6
        return duck(f"CAST((isodow(__D) - {self.week_start} + 7) % 7 + 1 AS BIGINT)", d=_as_date(value))

    def truncate(self, value: exp.Expression) -> exp.Expression:
        """DATE_TRUNC('WEEK', value): a DATE stays a DATE, a timestamp is the midnight starting its week."""
        start = self.start(value)
        if is_type(value, DATE):
            return start
        kind = "TIMESTAMPTZ" if is_type(value, _ZONED) else "TIMESTAMP"
        return duck(f"CAST(__S AS {kind})", s=start)

    def week(self, value: exp.Expression) -> exp.Expression:
        start = self.start(value)
        first = self._first_week(value, start)
        return duck("CAST((__S - __F) // 7 + 1 AS BIGINT)", s=start, f=first)

    def year_of_week(self, value: exp.Expression) -> exp.Expression:
        if self.policy == 1:
            return duck("CAST(year(__D) AS BIGINT)", d=_as_date(value))
        return duck("CAST(year(__S + 3) AS BIGINT)", s=self.start(value))

    def _first_week(self, value: exp.Expression, start: exp.Expression) -> exp.Expression:
        """The DATE week 1 of the year ``value``'s week belongs to starts on."""
        if self.policy == 1:  # January 1 starts week 1
            return _week_start(duck("make_date(year(__D), 1, 1)", d=_as_date(value)), self.first_day)
        # the week holding at least 4 days of a year is the one holding its January 4
        return _week_start(duck("make_date(year(__S + 3), 1, 4)", s=start), self.first_day)


def _week_start(date: exp.Expression, first_day: int) -> exp.Expression:
    return duck(f"(__D - CAST((isodow(__D) - {first_day} + 7) % 7 AS INTEGER))", d=date)


def _as_date(value: exp.Expression) -> exp.Expression:
    """``value`` as a DuckDB DATE: text is read the way Snowflake reads a timestamp first."""
    if is_type(value, TEXT) or (isinstance(value, exp.Literal) and value.is_string):
        value = exp.Cast(this=value, to=exp.DataType.build("TIMESTAMP_NTZ", dialect="snowflake"))
    return duck("CAST(__V AS DATE)", v=value)


def _unit_is_week(node: exp.Expression) -> bool:
    unit = node.args.get("unit")
    return unit is not None and unit.name.upper() in _WEEK
