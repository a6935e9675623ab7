"""Snowflake types of a query's expressions, for the translation rules that depend on them.

sqlglot's optimizer qualifies a copy of the Snowflake tree against a catalog
(``{table: {column: snowflake_type}}``) and annotates every node with its type
(``sqlglot.optimizer.annotate_types``); each type is then recorded on the matching node of the
tree being translated, so that a rule can ask :func:`snowflake_type` of any node: "is this a
DATE?" (DATEADD by days on a DATE stays a DATE), "is this text?" (a string given to a date
function is cast the way Snowflake casts it), "is this a number?".

A node the annotation cannot type (a column of a table missing from the catalog) has no type;
rules then fall back to what the query text shows.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from engine import names
from engine.sql.parsing import NODE

_TYPE = "pipe_type"
_ID = "pipe_node"

T = exp.DataType.Type
TEXT = {T.VARCHAR, T.CHAR, T.TEXT, T.NVARCHAR, T.NCHAR}
DATE = {T.DATE}
TIMESTAMPS = {T.TIMESTAMP, T.TIMESTAMPNTZ, T.DATETIME, T.TIMESTAMPLTZ, T.TIMESTAMPTZ}
NUMBERS = {T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.INT128, T.DECIMAL, T.FLOAT, T.DOUBLE, T.BIGDECIMAL}


def annotate(tree: exp.Expression, catalog: dict[str, dict[str, str]] | None,
             known: dict[int, exp.DataType] | None = None) -> None:
    """Record on each node of ``tree`` its Snowflake type, where sqlglot can tell it.

    Args:
        tree: a Snowflake statement, as parsed (before any translation pass).
        catalog: the Snowflake types of the tables it reads, ``{table: {column: type}}``, each name
            as written in SQL (``T``, ``t``, ``"Café"``: see :func:`engine.names.key`).
        known: the types a compile of the same query against the same catalog found, by node
            number (:data:`engine.sql.parsing.NODE`): recorded as they are, without typing again.
    """
    if known is not None and _record(tree, known):
        return
    originals = {}
    for node in tree.walk():
        originals[id(node)] = node
        node.meta[_ID] = id(node)
    schema = names.schema({names.key(t): {names.key(c): ty for c, ty in cols.items()} for t, cols in (catalog or {}).items()})
    copy = tree.copy()
    try:
        copy = qualify(copy, schema=schema, dialect="snowflake", validate_qualify_columns=False,
                       quote_identifiers=False, identify=False, expand_stars=False)
    except Exception:  # noqa: BLE001 - best effort: unqualified columns stay untyped
        pass
    try:
        annotate_types(copy, schema=schema, dialect="snowflake")
    except Exception:  # noqa: BLE001 - the optimizer's internals on any SQL: no types, the rules fall back
        for node in tree.walk():
            node.meta.pop(_ID, None)
        return
    for node in copy.walk():
        original = originals.get(node.meta.get(_ID))
        if original is not None and node.type is not None and node.type.this != T.UNKNOWN:
            original.meta[_TYPE] = node.type
    for node in tree.walk():
        node.meta.pop(_ID, None)


_NAMING = (exp.Alias, exp.Identifier, exp.TableAlias)  # what the passes before typing add to name outputs


def _record(tree: exp.Expression, known: dict[int, exp.DataType]) -> bool:
    """Record ``known`` types on the numbered nodes of ``tree``; an alias a translation pass added
    takes its expression's type, as typing would give it. False (nothing recorded) when a pass
    added other nodes: those are typed afresh."""
    nodes, aliases = [], []
    for node in tree.walk():
        at = node.meta_get(NODE)
        if at is not None:
            nodes.append((node, at))
        elif not isinstance(node, _NAMING):
            return False
        elif isinstance(node, exp.Alias):
            aliases.append(node)
    for node, at in nodes:
        datatype = known.get(at)
        if datatype is not None:
            node.meta[_TYPE] = datatype
    for alias in aliases:
        datatype = alias.this.meta_get(_TYPE)
        if datatype is not None:
            alias.meta[_TYPE] = datatype
    return True


def snowflake_type(node: exp.Expression) -> exp.DataType | None:
    """The Snowflake type :func:`annotate` found for ``node`` (under parentheses), if any."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Cast):
        return node.to
    return node.meta.get(_TYPE)


def is_type(node: exp.Expression, kinds: set) -> bool:
    """Whether ``node`` is known to be of one of the type ``kinds`` (e.g. :data:`DATE`)."""
    datatype = snowflake_type(node)
    return datatype is not None and datatype.this in kinds


FLOATS = {T.FLOAT, T.DOUBLE}
_DERIVED = (exp.Literal, exp.Binary, exp.Paren, exp.Neg)


def is_float(node: exp.Expression) -> bool:
    """Whether ``node`` is a FLOAT computed from a FLOAT value (a column, a cast, a function).

    sqlglot types a decimal literal such as ``1.005`` as DOUBLE, and arithmetic on it too;
    Snowflake reads it as an exact NUMBER, so such expressions do not count.
    """
    if not is_type(node, FLOATS):
        return False
    return any(is_type(n, FLOATS) and not isinstance(n, _DERIVED) for n in node.walk())

