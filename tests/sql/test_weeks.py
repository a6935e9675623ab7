"""The week functions under every WEEK_START and WEEK_OF_YEAR_POLICY, against the rules as the docs word them.

sql-reference/functions-date-time, "Calendar weeks and weekdays": WEEK_START 1-7 starts weeks on
Monday-Sunday (0: Monday, DAYOFWEEK 0 for Sunday); with WEEK_OF_YEAR_POLICY 0 a week belongs to
the year holding at least 4 of its days, with 1 January 1 starts week 1. The reference below
counts those days one by one, for every date of three years around two year ends.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
import sqlglot

from engine.sql import local_functions
from engine.sql.session import Session
from engine.sql.translate import to_duckdb

DATES = [dt.date(2015, 12, 20) + dt.timedelta(days=n) for n in range(3 * 366 + 30)]
QUERY = ("SELECT d, DAYOFWEEK(d), DATE_TRUNC('week', d), LAST_DAY(d, 'week'), DATEDIFF('week', '2017-01-01', d),"
         " WEEK(d), YEAROFWEEK(d), DATE_PART(week, ts), EXTRACT(yearofweek FROM ts), DATE_TRUNC('week', ts)"
         " FROM days ORDER BY d")


def _first_day(week_start: int) -> int:
    return week_start or 1  # ISO weekday: 0 keeps the legacy Monday


def _week_start(day: dt.date, week_start: int) -> dt.date:
    while day.isoweekday() != _first_day(week_start):
        day -= dt.timedelta(days=1)
    return day


def _days_in_year(start: dt.date, year: int) -> int:
    return sum((start + dt.timedelta(days=n)).year == year for n in range(7))


def _week_and_year(day: dt.date, week_start: int, policy: int) -> tuple[int, int]:
    start = _week_start(day, week_start)
    if policy == 1:
        year = day.year
        first = _week_start(dt.date(year, 1, 1), week_start)
    else:
        year = next(y for y in (start.year, start.year + 1) if _days_in_year(start, y) >= 4)
        first = _week_start(dt.date(year - 1, 12, 25), week_start)
        while _days_in_year(first, year) < 4:
            first += dt.timedelta(days=7)
    return (start - first).days // 7 + 1, year


def _expected(day: dt.date, week_start: int, policy: int) -> tuple:
    iso = day.isoweekday()
    dow = iso % 7 if week_start == 0 else (iso - week_start) % 7 + 1
    start = _week_start(day, week_start)
    weeks = (start - _week_start(dt.date(2017, 1, 1), week_start)).days // 7
    week, year = _week_and_year(day, week_start, policy)
    midnight = dt.datetime.combine(start, dt.time())
    return (day, dow, start, start + dt.timedelta(days=6), weeks, week, year, week, year, midnight)


@pytest.fixture(scope="module")
def connection():
    con = duckdb.connect()
    local_functions.register(con)
    con.execute("CREATE TABLE DAYS (D DATE, TS TIMESTAMP)")
    con.executemany("INSERT INTO DAYS VALUES (?, ?)", [(d, dt.datetime.combine(d, dt.time(13, 45))) for d in DATES])
    return con


@pytest.mark.parametrize("policy", [0, 1])
@pytest.mark.parametrize("week_start", range(8))
def test_week_functions_follow_the_parameters(connection, week_start: int, policy: int) -> None:
    session = Session()
    session.apply(sqlglot.parse_one(f"ALTER SESSION SET WEEK_START = {week_start}, WEEK_OF_YEAR_POLICY = {policy}",
                                    read="snowflake"), lambda _: None)
    sql = to_duckdb(QUERY, catalog={"DAYS": {"D": "DATE", "TS": "TIMESTAMP_NTZ"}}, session=session)
    rows = connection.execute(sql).fetchall()
    expected = [_expected(day, week_start, policy) for day in DATES]
    wrong = [(got, want) for got, want in zip(rows, expected) if tuple(got) != want]
    assert len(rows) == len(DATES) and not wrong, wrong[:3]


def test_the_defaults_keep_the_translation_of_a_query_without_a_session(connection) -> None:
    sql = to_duckdb(QUERY, catalog={"DAYS": {"D": "DATE", "TS": "TIMESTAMP_NTZ"}})
    rows = connection.execute(sql).fetchall()
    assert [tuple(r) for r in rows] == [_expected(day, 0, 0) for day in DATES]
