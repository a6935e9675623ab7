"""What ``ALTER SESSION`` and ``SET`` change for the statements after them in one local script.

``pipe query`` on the local target runs a script (statements separated by ``;``) in one session,
as a Snowflake worksheet does; each call is a new session.

* ``ALTER SESSION SET WEEK_START = n, WEEK_OF_YEAR_POLICY = n`` / ``ALTER SESSION UNSET ...``:
  the parameters the week-related functions follow (sql-reference/parameters; their rules in
  engine.sql.dialect_weeks). ``TIMEZONE = 'Area/City'``: the time zone of TIMESTAMP_LTZ values,
  which the caller gives the DuckDB connection (its TimeZone setting) for the rest of the script.
  Other parameters are refused, naming them.
* ``SET name = expression`` / ``SET (a, b) = (x, y)``: session variables
  (sql-reference/session-variables). The expression is evaluated when it is set, and ``$name``
  in a later statement stands for that value; names ignore case ("SQL variables are globally
  identified using case-insensitive names"). A variable that was never set is an error, as on
  Snowflake ("Session variable '$X' does not exist"); so is any ``$name`` in SQL translated with
  no session (a pipeline's query, whose values come from ``{{ vars.NAME }}``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from engine.errors import SqlError
from engine.sql.dialect_weeks import PARAMETERS
from engine.sql.parsing import dialect, start_column

_STATEMENT_DONE = "Statement executed successfully."


@dataclass
class Session:
    """The parameters and variables set so far in one script."""

    parameters: dict[str, int] = field(default_factory=dict)
    variables: dict[str, exp.Expression] = field(default_factory=dict)
    timezone: str | None = None  # None: the connection's own

    @property
    def week_start(self) -> int:
        return self.parameters.get("WEEK_START", 0)

    @property
    def week_of_year_policy(self) -> int:
        return self.parameters.get("WEEK_OF_YEAR_POLICY", 0)

    def apply(self, statement: exp.Expression, evaluate: Callable[[str], Any], sql: str | None = None) -> str | None:
        """Apply ``statement`` if it is ALTER SESSION or SET, returning its status line; else None.

        Args:
            statement: one parsed Snowflake statement.
            evaluate: runs a Snowflake ``SELECT expression`` (given as text, translated with this
                session) and returns the DuckDB cursor holding its one row.
        """
        if isinstance(statement, exp.Alter) and statement.args.get("kind") == "SESSION":
            for action in statement.args.get("actions") or []:
                self._alter(action, sql)
            return _STATEMENT_DONE
        if isinstance(statement, exp.Set) and not statement.args.get("tag"):
            for item in statement.expressions:
                self._set(item, evaluate)
            return _STATEMENT_DONE
        return None

    def substitute(self, tree: exp.Expression, sql: str | None = None) -> None:
        """Replace each ``$name`` in ``tree`` by the value the variable holds."""
        for parameter, name in _variables(tree):
            if name not in self.variables:
                raise _unknown(name, sql, f"set it first in the same script: SET {name} = ...;")
            parameter.replace(self.variables[name].copy())

    def _alter(self, action: exp.Expression, sql: str | None) -> None:
        unset = bool(action.args.get("unset"))
        for item in action.expressions:
            target = item.this.this if isinstance(item.this, exp.EQ) else item.this
            name = target.name.upper()
            if name == "TIMEZONE":
                self.timezone = None if unset else _timezone(item.this.expression, sql)
                continue
            if name not in PARAMETERS:
                raise SqlError(f"session parameter {name} is not supported locally", sql=sql,
                               sql_line=_meta(target).get("line"), sql_column=start_column(_meta(target)),
                               hint=f"the local engine follows {', '.join(PARAMETERS)} and TIMEZONE; run it on Snowflake")
            if unset:
                self.parameters.pop(name, None)
                continue
            value = item.this.expression
            number = int(value.name) if isinstance(value, exp.Literal) and value.name.strip().isdigit() else None
            allowed = PARAMETERS[name]
            if number not in allowed:
                raise SqlError(f"invalid value {value.sql(dialect='snowflake')} for parameter {name}", sql=sql,
                               sql_line=value.meta.get("line"), sql_column=start_column(value.meta),
                               hint=f"use an integer from {allowed.start} to {allowed.stop - 1}")
            self.parameters[name] = number

    def _set(self, item: exp.Expression, evaluate: Callable[[str], Any]) -> None:
        assignment = item.this
        if not isinstance(assignment, exp.EQ):
            raise SqlError(f"cannot run locally: {item.sql(dialect='snowflake')}", hint="write SET name = expression")
        targets, values = assignment.this, assignment.expression
        if isinstance(targets, exp.Tuple):
            values = values.expressions if isinstance(values, exp.Tuple) else [values]
            if len(values) != len(targets.expressions):
                raise SqlError(f"SET assigns {len(values)} values to {len(targets.expressions)} variables",
                               hint="give one value per variable")
            pairs = list(zip(targets.expressions, values))
        else:
            pairs = [(targets, values)]
        for target, value in pairs:
            cursor = evaluate(exp.select(value.copy()).sql(dialect="snowflake"))
            if str(cursor.description[0][1]) == "JSON":
                raise SqlError(f"a session variable holding a VARIANT, OBJECT or ARRAY is not supported locally "
                               f"({_identifier_name(target)})", hint="set it to the text (TO_JSON(...)) and parse it where used")
            self.variables[_identifier_name(target)] = literal(cursor.fetchone()[0])


def literal(value: object) -> exp.Expression:
    """A Snowflake literal of the value DuckDB returned for a variable's expression."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, decimal.Decimal)):
        return exp.Literal.number(str(value))
    if isinstance(value, float):
        return exp.Cast(this=exp.Literal.string(repr(value)), to=exp.DataType.build("FLOAT", dialect="snowflake"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, dt.datetime):
        kind = "TIMESTAMP_NTZ" if value.tzinfo is None else "TIMESTAMP_LTZ"
        return exp.Cast(this=exp.Literal.string(value.isoformat(sep=" ")), to=exp.DataType.build(kind, dialect="snowflake"))
    if isinstance(value, (dt.date, dt.time)):
        kind = "DATE" if isinstance(value, dt.date) else "TIME"
        return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build(kind, dialect="snowflake"))
    raise SqlError(f"a session variable cannot hold a value of type {type(value).__name__} locally",
                   hint="set it to a number, text, boolean, date or timestamp")


def _timezone(value: exp.Expression, sql: str | None) -> str:
    """The time zone name a TIMEZONE value gives, checked against the IANA database."""
    import zoneinfo

    name = value.name if isinstance(value, (exp.Literal, exp.Identifier, exp.Var, exp.Column)) else ""
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise SqlError(f"invalid value {value.sql(dialect='snowflake')} for parameter TIMEZONE", sql=sql,
                       sql_line=value.meta.get("line"), sql_column=start_column(value.meta),
                       hint="use a time zone name such as 'America/Los_Angeles' or 'UTC'") from None
    return name


def _meta(node: exp.Expression) -> dict:
    return (node.this if isinstance(node, exp.Column) else node).meta


def _position(sql: str | None, match: re.Match | None) -> tuple[int | None, int | None]:
    if sql is None or match is None:
        return None, None
    offset = match.start()
    return sql.count("\n", 0, offset) + 1, offset - (sql.rfind("\n", 0, offset) + 1) + 1


def reject_variables(tree: exp.Expression, sql: str | None = None) -> None:
    """Raise SqlError at the first ``$name`` of SQL translated outside a session (a pipeline's query)."""
    for _, name in _variables(tree):
        raise _unknown(name, sql, "a pipeline's SQL runs in no session: use {{ vars.NAME }} for a value it needs")


def _variables(tree: exp.Expression) -> list[tuple[exp.Parameter, str]]:
    """Each ``$name`` of ``tree`` with its name (``$1``, a staged file's column, is not a variable)."""
    found = []
    for parameter in tree.find_all(exp.Parameter):
        node = parameter.this
        if isinstance(node, (exp.Identifier, exp.Var)) and not node.name.isdigit():
            found.append((parameter, node.name.upper()))
    return found


def _unknown(name: str, sql: str | None, hint: str) -> SqlError:
    line, column = _position(sql, re.search(r"\$" + re.escape(name) + r"\b", sql or "", re.IGNORECASE))
    return SqlError(f"Session variable '${name}' does not exist", sql=sql, sql_line=line, sql_column=column, hint=hint)


def _identifier_name(node: exp.Expression) -> str:
    return (node.this if isinstance(node, exp.Column) else node).name.upper()


def split_statements(sql: str) -> list[str]:
    """The statements of a script, split at the ``;`` that end them (not those inside strings or
    comments); a piece holding only comments is no statement."""
    from sqlglot.tokens import TokenType

    try:
        tokens = dialect().tokenize(sql)
    except Exception:  # noqa: BLE001 - a tokenizer error: the translator reports it with its position
        return [sql]
    pieces, start, empty = [], 0, True
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if not empty:
                pieces.append(sql[start:token.start].strip())
            start, empty = token.end + 1, True
        else:
            empty = False
    if not empty:
        pieces.append(sql[start:].strip())
    return pieces
