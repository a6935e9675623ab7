"""Snowflake SQL -> DuckDB SQL, for the local engine.

The same SQL the pipeline file declares for Snowflake runs locally on DuckDB. sqlglot parses it
(Snowflake dialect) and writes it (DuckDB dialect); in between, a few passes over the tree fix
what sqlglot's output would get wrong for Snowflake semantics:

1. ``dialect_functions.reject_unsupported`` -- refuse what DuckDB cannot run, naming it;
2. ``dialect_names`` -- result column names as Snowflake returns them (an expression is named
   after its text), identifier case, local qualified names reduced to bare table names;
3. ``dialect_annotate`` -- the Snowflake type of every expression (sqlglot's annotate_types over
   the catalog of the tables read), for the rules below that depend on a type;
   (with ``session``: ``$name`` variables replaced by their values, and ``dialect_weeks`` -- the
   week functions under WEEK_START / WEEK_OF_YEAR_POLICY); ``dialect_generator`` -- SEQ1..SEQ8
   over ``TABLE(GENERATOR(ROWCOUNT => n))`` (DuckDB's ``range``);
4. ``dialect_functions.rewrite`` -- functions sqlglot leaves unmapped or maps loosely, with
   ``dialect_dates`` (conversions and arithmetic of dates and times) and ``dialect_numbers``
   (number formats, FLOAT text, digests);
5. ``dialect_variant`` -- VARIANT/OBJECT/ARRAY as DuckDB JSON with Snowflake behaviour;
6. ``dialect_functions.rewrite_divisions`` -- the scale Snowflake gives a quotient;
7. ``dialect_flatten`` -- ``LATERAL FLATTEN`` as a lateral subquery over ``json_each``.

What runs but cannot give Snowflake's value is named in ``dialect_differences`` (validate warns).
The translation is checked on results, not text: see tests/fixtures/translate/.
"""

from __future__ import annotations

import functools
import re

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

from engine.errors import SqlError
from engine.sql import (
    dialect_annotate,
    dialect_flatten,
    dialect_functions,
    dialect_generator,
    dialect_names,
    dialect_objects,
    dialect_tables,
    dialect_types,
    dialect_variant,
    dialect_weeks,
)
from engine.sql import local_functions
from engine.sql.dialect_common import Untranslatable, start_offset
from engine.sql.session import Session, reject_variables

_STATEMENTS = (exp.Query, exp.Insert, exp.Update, exp.Delete)
_TOKEN = re.compile(r"<Token token_type: [^,]+, text: (.*?), line: \d+.*?>")  # sqlglot's token repr


def to_duckdb(sql: str, *, database: str | None = None, schema: str | None = None,
              catalog: dict[str, dict[str, str]] | None = None, parsed: exp.Expression | None = None,
              types: dict[int, exp.DataType] | None = None, session: Session | None = None,
              consume: bool = False) -> str:
    """Translate one Snowflake statement (SELECT, WITH…SELECT, INSERT, UPDATE, DELETE) to DuckDB SQL.

    Args:
        sql: the Snowflake statement.
        database: the pipeline's database; ``DATABASE.SCHEMA.T`` is reduced to ``T``.
        schema: the pipeline's schema; ``SCHEMA.T`` is reduced to ``T``.
        catalog: the Snowflake types of the tables the statement reads, ``{table: {column: type}}``
            (e.g. ``{"T": {"D": "DATE"}}``); rules that depend on a column's type use it.
        parsed: ``sql`` already parsed (a compiled query's tree): it is copied, not parsed again.
        types: the types the compile of ``parsed`` against ``catalog`` found
            (:attr:`engine.sql.compiler.CompiledQuery.types`): used instead of typing it again.
        session: the session variables and parameters (WEEK_START, ...) set earlier in the same
            script (see engine.sql.session); None for none.
        consume: ``parsed`` is not read again by the caller: it is translated as it is, not copied.

    Returns:
        DuckDB SQL giving the same rows, with the column names Snowflake would return.

    Raises:
        SqlError: the SQL does not parse, is not one such statement, or uses something the local
            engine cannot run (the error names it and gives its line and column).
    """
    return _translate(sql, database, schema, catalog, parsed, types, keep_tree=False, session=session,
                      consume=consume)[1]


def to_duckdb_tree(sql: str, *, database: str | None = None, schema: str | None = None,
                   catalog: dict[str, dict[str, str]] | None = None,
                   parsed: exp.Expression | None = None) -> exp.Expression:
    """:func:`to_duckdb`'s translation as a tree (print it with ``identify=True``), for a caller
    that puts it inside a query of its own."""
    return _translate(sql, database, schema, catalog, parsed)[0]


def _translate(sql, database, schema, catalog, parsed, types=None, keep_tree=True,
               session=None, consume=False) -> tuple[exp.Expression, str]:
    """The translated tree and its DuckDB SQL; without ``keep_tree`` the tree is printed as it is
    (printing may change it: only the SQL is wanted); with ``consume``, ``parsed`` is rewritten
    itself."""
    tree = _parse(sql) if parsed is None else parsed if consume else parsed.copy()
    try:
        if session is None and _plain(tree):
            tree = _name_plain(tree, sql, database, schema)
        else:
            tree = _rewrite(tree, sql, database, schema, catalog, types, session)
        duck_sql = tree.sql(dialect=_duckdb(), identify=True, unsupported_level=ErrorLevel.RAISE, copy=keep_tree)
        _check_functions(duck_sql)
    except Untranslatable as err:
        raise _located(err, sql) from None
    except UnsupportedError as err:
        raise SqlError(f"cannot run locally: {err}", sql=sql, hint="rewrite it or run on Snowflake") from None
    return tree, duck_sql


def _rewrite(tree, sql, database, schema, catalog, types, session) -> exp.Expression:
    """Every pass over ``tree``, in order (see the module docstring); the rewritten tree."""
    dialect_tables.rewrite(tree)
    dialect_generator.check(tree)
    dialect_functions.reject_unsupported(tree)
    dialect_objects.quote_object_keys(tree)
    dialect_names.name_outputs(tree, sql)
    dialect_names.name_values_columns(tree)
    if session is not None:
        session.substitute(tree, sql)
    else:
        reject_variables(tree, sql)
    dialect_annotate.annotate(tree, catalog, types)
    dialect_types.coerce_inserted_text(tree, catalog)
    dialect_names.strip_local_qualifiers(tree, database, schema)
    tree = dialect_names.normalize(tree)
    dialect_objects.expand_object_stars(tree, catalog)
    if session is not None:
        tree = dialect_weeks.rewrite(tree, session.week_start, session.week_of_year_policy)
    dialect_generator.rewrite_sequences(tree)
    tree = dialect_functions.rewrite(tree)
    tree = dialect_variant.rewrite(tree, dialect_flatten.columns(tree))
    tree = dialect_functions.rewrite_divisions(tree)
    dialect_flatten.rewrite(tree)
    return tree


# The kinds of node every pass but the naming ones leaves as they are: none of them is refused, holds a
# VARIANT (only a FLATTEN's output or a VARIANT function's result does), has a rule of its own, or
# takes a rule on a type (Cast, functions, aggregates, arithmetic, ||); a comparison or a condition
# is rewritten only about a VARIANT operand, and none is one here. tests/sql/test_translate_plain.py
# compares both ways over every query of the repository and over generated ones.
_PLAIN = frozenset({
    exp.Select, exp.From, exp.Table, exp.TableAlias, exp.Identifier, exp.Column, exp.Alias, exp.Where,
    exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.And, exp.Or, exp.Not, exp.Is,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
})


def _plain(tree: exp.Expression) -> bool:
    """Whether every node of ``tree`` is of a kind in :data:`_PLAIN` (a subclass is not)."""
    return all(type(node) in _PLAIN for node in tree.walk())


def _name_plain(tree: exp.Expression, sql: str, database: str | None, schema: str | None) -> exp.Expression:
    """The passes of :func:`_rewrite` that change a tree of :data:`_PLAIN` nodes (the others leave it
    as it is), in the same order: outputs named as Snowflake names them, local qualifiers dropped,
    identifiers normalized."""
    dialect_names.name_outputs(tree, sql)
    dialect_names.strip_local_qualifiers(tree, database, schema)
    return dialect_names.normalize(tree)


def snowflake_type(duckdb_type: str) -> str | None:
    """The Snowflake type a local (DuckDB) column of type ``duckdb_type`` holds, for a catalog.

    ``BIGINT`` gives ``NUMBER(38,0)``, ``DECIMAL(p,s)`` ``NUMBER(p,s)``, ``JSON`` ``VARIANT``, ...;
    None for a type the local engine does not store.
    """
    return dialect_types.snowflake_type_name(duckdb_type)


def check_translatable(sql: str) -> None:
    """Raise SqlError naming the construct (and SQL line/col) if the local engine cannot run it.

    Args:
        sql: one Snowflake statement.

    Raises:
        SqlError: a syntax error, or a construct without a local equivalent.
    """
    to_duckdb(sql)


def duckdb_type(snowflake_type: str) -> str:
    """Map a Snowflake column type to the DuckDB type used for local storage.

    ``number`` and ``NUMBER(p,0)`` give BIGINT, ``NUMBER(p,s)`` DECIMAL(p,s), ``float`` DOUBLE,
    ``varchar`` VARCHAR, ``timestamp``/``timestamp_ntz`` TIMESTAMP, ``timestamp_ltz``/``_tz``
    TIMESTAMPTZ, ``variant``/``object``/``array`` JSON.

    Raises:
        SqlError: not a Snowflake type, or one without a local equivalent (GEOGRAPHY, ...).
    """
    try:
        return dialect_types.duckdb_type_name(dialect_types.parse_snowflake_type(snowflake_type))
    except Untranslatable as err:
        raise SqlError(err.construct if err.construct.startswith("unknown") else f"{err.construct} is not supported "
                       "locally", hint=err.hint) from None


def _parse(sql: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read="snowflake") if s is not None]
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        line, column = first.get("line"), first.get("col")
        if column and first.get("highlight"):  # sqlglot reports where the token ends
            column = max(column - len(first["highlight"]) + 1, 1)
        description = _TOKEN.sub(r"'\1'", first.get("description", str(err)))
        raise SqlError(f"SQL syntax error: {description}", sql=sql, sql_line=line, sql_column=column,
                       hint="fix the SQL") from None
    except TokenError as err:
        line, column = _token_error_position(sql, str(err))
        raise SqlError(f"SQL syntax error: {err}", sql=sql, sql_line=line, sql_column=column,
                       hint="check quotes and brackets") from None
    if len(statements) != 1:
        raise SqlError(f"expected one SQL statement, got {len(statements)}", sql=sql, hint="translate them one by one")
    statement = statements[0]
    if not isinstance(statement, _STATEMENTS):
        line, column = _line_column(sql, len(sql) - len(sql.lstrip()))
        raise SqlError(f"{statement.key.upper()} cannot be translated for the local engine", sql=sql,
                       sql_line=line, sql_column=column, hint="only SELECT, INSERT, UPDATE and DELETE are")
    return statement


def _located(err: Untranslatable, sql: str) -> SqlError:
    """The SqlError for a construct, pointing at it in ``sql``."""
    offset = err.node.meta.get("start") if err.node is not None else None
    if offset is None and err.keyword:
        match = re.search(r"\b" + re.escape(err.keyword), sql, re.IGNORECASE)
        offset = match.start() if match else None
    if offset is None and err.node is not None:
        offset = start_offset(err.node)  # the first token inside the construct
    line, column = _line_column(sql, offset) if offset is not None else (None, None)
    return SqlError(f"{err.construct} is not supported by the local engine", sql=sql, sql_line=line,
                    sql_column=column, hint=err.hint)


def _check_functions(duck_sql: str) -> None:
    """Reject functions sqlglot wrote through by name that DuckDB does not have."""
    if _only_known_calls(duck_sql):
        return  # no name before a bracket can be an unknown function: no need to read it back
    try:
        tree = sqlglot.parse_one(duck_sql, read="duckdb")
    except (ParseError, TokenError):  # sqlglot cannot read its own output back: DuckDB will judge
        return
    for call in tree.find_all(exp.Anonymous):
        if call.name.lower() not in _local_functions():
            raise Untranslatable(f"function {call.name.upper()}", keyword=call.name,
                                 hint="it has no local (DuckDB) equivalent")


_BEFORE_BRACKET = re.compile(r"(\.?)([\w$]+)\s*\(|[\"`\]]\s*\(")  # a name (or a quoted one) before "("


def _only_known_calls(duck_sql: str) -> bool:
    """Whether every word written before an opening bracket is a function the local engine has, or
    a keyword sqlglot never reads as a function's name: then reading ``duck_sql`` back would find
    no unknown function. A quoted name, or anything else, answers False (read it back to tell)."""
    known, keywords = _local_functions(), _not_function_names()
    for match in _BEFORE_BRACKET.finditer(duck_sql):
        word = match.group(2)
        if word is None:
            return False
        word = word.lower()
        if word not in known and (match.group(1) or word not in keywords):
            return False
    return True


@functools.cache
def _duckdb() -> Dialect:
    """DuckDB's sqlglot dialect, made once: sqlglot makes one per call when given its name."""
    return Dialect.get_or_raise("duckdb")


@functools.cache
def _local_functions() -> frozenset[str]:
    """Lower-case names of the functions a local query may call: DuckDB's and pipe's own."""
    return dialect_functions.duckdb_functions() | local_functions.NAMES


@functools.cache
def _not_function_names() -> frozenset[str]:
    """Lower-case DuckDB keywords that sqlglot's parser never reads as a function's name (their
    tokens are not among its FUNC_TOKENS), e.g. IN, AS, OVER, VALUES."""
    dialect = _duckdb()
    functions = dialect.parser_class.FUNC_TOKENS
    return frozenset(word.lower() for word, token in dialect.tokenizer_class.KEYWORDS.items()
                     if word.replace("_", "").isalpha() and token not in functions)


def _line_column(sql: str, offset: int) -> tuple[int, int]:
    line = sql.count("\n", 0, offset) + 1
    return line, offset - (sql.rfind("\n", 0, offset) + 1) + 1


def _token_error_position(sql: str, message: str) -> tuple[int | None, int | None]:
    """sqlglot's TokenError carries only the text read so far: find where it ends."""
    match = re.search(r"Error tokenizing '(.*)'", message, re.DOTALL)
    if not match:
        return None, None
    seen = match.group(1)
    start = sql.find(seen)
    if start < 0:
        return None, None
    end = start + len(seen) - 1
    for quote in ("'", '"'):
        if seen.count(quote) % 2:  # an unterminated string or name: point at its opening quote
            end = start + seen.rindex(quote)
    return _line_column(sql, end)
