"""Snowflake's ARRAY functions over the local representation of an ARRAY: DuckDB JSON.

Each function becomes a DuckDB expression that reads the JSON array as a list of JSON elements
(``from_json(a, '["JSON"]')``, where a JSON null is a SQL NULL), works on the list with DuckDB's
list functions and lambdas, and writes a JSON array back. The semantics follow each function's
page of Snowflake's SQL reference (``sql-reference/functions/<name>``), checked by the
conformance suite's examples:

* a SQL NULL array (or index, for ARRAY_SLICE / ARRAY_INSERT / ARRAY_REMOVE_AT) gives NULL;
* elements compare as VARIANTs: numbers by value whatever their type (``5``, ``5.00`` and
  ``5::DOUBLE`` are equal, the string ``'5'`` is not), anything else by its JSON text (objects
  are built with their keys sorted, as Snowflake stores them, so equal objects have equal text);
* ARRAY_EXCEPT and ARRAY_INTERSECTION have multiset semantics (each occurrence counts once);
* positions are 0-based; a negative position counts from the end.

A SQL NULL put in an array is Snowflake's *undefined*, not a JSON null: locally the reserved
element ``dialect_common.UNDEFINED``. In the list of elements a JSON null is a SQL NULL and an
undefined element that reserved JSON string; ARRAY_COMPACT removes both, ARRAY_CONTAINS(NULL, a)
looks for undefined, ARRAY_SORT places undefined where NULLS FIRST / LAST says and sorts a JSON
null after the other values, ARRAY_TO_STRING writes undefined as an empty string.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from engine.sql.dialect_annotate import TIMESTAMPS, is_float, is_type
from engine.sql.dialect_common import UNDEFINED, UNDEFINED_JSON, Untranslatable, duck, is_marked_variant, mark_variant

_NUMERIC = "('BIGINT', 'UBIGINT', 'DOUBLE')"


# How Snowflake writes a FLOAT and a TIMESTAMP_NTZ it stores in a VARIANT (it prints
# TO_VARIANT(3.21::DOUBLE) as 3.210000000000000e+00 and a timestamp as "2024-01-17 19:00:00.000"
# -- to_variant, typeof and array_max pages); the exponent is also what tells a DOUBLE from a
# DECIMAL in a VARIANT locally.
_FLOAT_VARIANT = "CASE WHEN isfinite(__X) THEN CAST(printf('%.15e', __X) AS JSON) ELSE to_json(__X) END"
_TIMESTAMP_VARIANT = "to_json(strftime(__X, '%Y-%m-%d %H:%M:%S.%g'))"
# A TIMESTAMP_LTZ / _TZ with its UTC offset as +HHMM, a TIME to the second (is_date-value page,
# "typeof_dates_and_times": "2022-02-24 04:00:00.123 -0800", "20:57:01"); a TIMESTAMP_TZ's own
# offset is not kept locally, so it is written in the session's time zone.
_MINUTES = "(timezone_hour(__X) * 60 + timezone_minute(__X))"
_OFFSET = (f"CASE WHEN {_MINUTES} < 0 THEN '-' ELSE '+' END || "
           f"printf('%02d%02d', abs({_MINUTES}) // 60, abs({_MINUTES}) % 60)")
_ZONED_VARIANT = f"to_json(strftime(__X, '%Y-%m-%d %H:%M:%S.%g ') || {_OFFSET})"
_TIME_VARIANT = "to_json(strftime(DATE '1970-01-01' + __X, '%H:%M:%S'))"
VARIANT_TYPE = "pipe_variant_type"  # meta: the Snowflake type of a value known to be put in a VARIANT
_NTZ = {t for t in TIMESTAMPS if t not in (exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ)}
_ZONED = {exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ}


def as_variant(value: exp.Expression) -> exp.Expression:
    """``value`` converted to a VARIANT (DuckDB JSON) the way Snowflake writes it."""
    if is_marked_variant(value):
        return value
    if is_float(value):
        return mark_variant(duck(_FLOAT_VARIANT, x=value))
    if is_type(value, _NTZ):
        result = mark_variant(duck(_TIMESTAMP_VARIANT, x=value))
        result.meta[VARIANT_TYPE] = "TIMESTAMP_NTZ"  # TYPEOF of it (typeof page, "cast_to_variant")
        return result
    if is_type(value, _ZONED):  # TYPEOF not known: locally both are TIMESTAMP WITH TIME ZONE
        return mark_variant(duck(_ZONED_VARIANT, x=value))
    if is_type(value, {exp.DataType.Type.DATE}):
        result = mark_variant(exp.Anonymous(this="to_json", expressions=[value]))
        result.meta[VARIANT_TYPE] = "DATE"
        return result
    if is_type(value, {exp.DataType.Type.TIME}):
        result = mark_variant(duck(_TIME_VARIANT, x=value))
        result.meta[VARIANT_TYPE] = "TIME"
        return result
    return mark_variant(exp.Anonymous(this="to_json", expressions=[value]))


def elements(name: str) -> str:
    """DuckDB text for the elements (a JSON list) of the array in placeholder ``name``."""
    return f"from_json(CAST({name} AS JSON), '[\"JSON\"]')"


def element(value: str) -> str:
    """DuckDB text of the JSON element holding the VARIANT in ``value``: undefined for a SQL NULL."""
    return f"coalesce(to_json({value}), {UNDEFINED_JSON})"


def is_undefined(value: str) -> str:
    """DuckDB text of: the JSON element ``value`` is undefined."""
    return f"(CAST({value} AS VARCHAR) = '{UNDEFINED}')"


def key(value: str) -> str:
    """DuckDB text of the comparison key of one JSON element: numbers by value, the rest as JSON text."""
    return (f"CASE WHEN {value} IS NULL THEN 'null' "
            f"WHEN json_type({value}) IN {_NUMERIC} THEN CAST(CAST({value} AS DOUBLE) AS VARCHAR) "
            f"ELSE CAST({value} AS VARCHAR) END")


def _keys(name: str) -> str:
    return f"list_transform({elements(name)}, lambda k: {key('k')})"


def _when_all(names: tuple[str, ...], body: str) -> str:
    """``body`` if no placeholder in ``names`` is NULL, else NULL (the functions' NULL rule)."""
    condition = " AND ".join(f"{n} IS NOT NULL" for n in names)
    return f"CASE WHEN {condition} THEN {body} END"


def _position(name: str, size: str) -> str:
    """A 0-based position, negative counting from the end, as a non-negative offset."""
    return f"(CASE WHEN {name} < 0 THEN {size} + {name} ELSE {name} END)"


_A, _B = elements("__A"), elements("__B")
_SIZE = f"len({_A})"

# ARRAY_APPEND / ARRAY_PREPEND / ARRAY_CAT (array_append, array_prepend, array_cat pages)
_APPEND = _when_all(("__A",), f"to_json(list_append({_A}, {element('__V')}))")
_PREPEND = _when_all(("__A",), f"to_json(list_prepend({element('__V')}, {_A}))")
_CAT = _when_all(("__A", "__B"), f"to_json(list_concat({_A}, {_B}))")
_REVERSE = _when_all(("__A",), f"to_json(list_reverse({_A}))")
_COMPACT = _when_all(("__A",), f"to_json(list_filter({_A}, lambda e: e IS NOT NULL AND NOT {is_undefined('e')}))")
# ARRAY_CONTAINS(value, array): a NULL value looks for an undefined element (array_contains page)
_FIND = (f"CASE WHEN __A IS NULL THEN NULL WHEN __V IS NULL THEN (CASE WHEN list_contains({_keys('__A')}, '{UNDEFINED}') "
         f"THEN TRUE END) ELSE list_contains({_keys('__A')}, {key('to_json(__V)')}) END")
_POSITION = (f"CASE WHEN __A IS NULL THEN NULL "
             f"ELSE CAST(list_position({_keys('__A')}, "
             f"CASE WHEN __V IS NULL THEN '{UNDEFINED}' ELSE {key('to_json(__V)')} END) - 1 AS BIGINT) END")
_DISTINCT = _when_all(("__A",), (f"to_json(list_filter({_A}, "
                                  f"lambda e, i: list_position({_keys('__A')}, {key('e')}) = i))"))
# multisets: the i-th element is kept when its occurrences so far exceed (EXCEPT) or do not
# exceed (INTERSECTION) its count in the other array
_OCCURRENCE = f"len(list_filter(list_slice({_keys('__A')}, 1, i), lambda k: k = {key('e')}))"
_COUNT_IN_B = f"len(list_filter({_keys('__B')}, lambda k: k = {key('e')}))"
_EXCEPT = _when_all(("__A", "__B"), f"to_json(list_filter({_A}, lambda e, i: {_OCCURRENCE} > {_COUNT_IN_B}))")
_INTERSECT = _when_all(("__A", "__B"), f"to_json(list_filter({_A}, lambda e, i: {_OCCURRENCE} <= {_COUNT_IN_B}))")
_OVERLAP = _when_all(("__A", "__B"), f"len(list_intersect({_keys('__A')}, {_keys('__B')})) > 0")
_REMOVE = _when_all(("__A", "__V"), f"to_json(list_filter({_A}, lambda e: {key('e')} <> {key('to_json(__V)')}))")
_REMOVE_AT = _when_all(("__A", "__P"), f"to_json(list_filter({_A}, lambda e, i: i - 1 <> {_position('__P', _SIZE)}))")
# ARRAY_SLICE(array, from, to): 0-based, `to` excluded, negative values count from the end
_FROM = f"greatest({_position('__F', _SIZE)}, 0)"
_TO = f"greatest({_position('__T', _SIZE)}, 0)"
_SLICE = _when_all(("__A", "__F", "__T"), f"to_json(list_slice({_A}, {_FROM} + 1, {_TO}))")
# ARRAY_INSERT(array, pos, value): beyond the end, the gap is filled with undefined elements
_AT = f"greatest({_position('__P', _SIZE)}, 0)"
_INSERT = _when_all(("__A", "__P"), (
    f"to_json(list_concat(list_slice({_A}, 1, {_AT}), list_transform(range(greatest({_AT} - {_SIZE}, 0)), "
    f"lambda x: {UNDEFINED_JSON}), [{element('__V')}], list_slice({_A}, {_AT} + 1, {_SIZE})))"))
# ARRAY_FLATTEN: NULL when an element is NULL (array_flatten page)
_FLATTEN = (f"CASE WHEN __A IS NULL OR len(list_filter({_A}, lambda e: e IS NULL OR {is_undefined('e')})) > 0 THEN NULL "
            f"ELSE to_json(flatten(list_transform({_A}, lambda e: {elements('e')}))) END")
# ARRAY_TO_STRING: each element as VARCHAR (strings unquoted), an undefined element as ''
_TO_STRING = _when_all(("__A", "__S"), (
    f"array_to_string(list_transform({_A}, lambda e: CASE WHEN e IS NULL OR {is_undefined('e')} THEN '' "
    f"ELSE json_extract_string(e, '$') END), __S)"))
# The values of an array in VARIANT order: numbers by value, then other values by their text,
# then a JSON null (array_sort page: [0, 10, 20, null, undefined] ascending).
_SORT_KEY = (f"lambda e: {{'z': e IS NULL, 'n': CASE WHEN json_type(e) IN {_NUMERIC} THEN CAST(e AS DOUBLE) END, "
             f"'t': CAST(e AS VARCHAR), 'v': e}}")
_SORTED = f"list_sort(list_transform(list_filter({_A}, lambda e: e IS NOT NULL AND NOT {is_undefined('e')}), {_SORT_KEY}))"
_MAX = _when_all(("__A",), f"({_SORTED})[-1].v")
_MIN = _when_all(("__A",), f"({_SORTED})[1].v")
_UNDEFINED = f"list_filter({_A}, lambda e: {is_undefined('e')})"


def _sort(node: exp.ArraySort) -> exp.Expression:
    """ARRAY_SORT(array [, ascending [, nulls_first]]): undefined last ascending, first descending."""
    ascending = _flag(node.args.get("asc"), True, node)
    nulls_first = _flag(node.args.get("nulls_first"), not ascending, node)
    order = "ASC" if ascending else "DESC"
    values = f"list_transform(list_sort(list_transform(list_filter({_A}, lambda e: e IS NULL OR NOT {is_undefined('e')}), " \
             f"{_SORT_KEY}), '{order}'), lambda s: s.v)"
    parts = f"{_UNDEFINED}, {values}" if nulls_first else f"{values}, {_UNDEFINED}"
    return duck(_when_all(("__A",), f"to_json(list_concat({parts}))"), a=node.this)


def _flag(value: exp.Expression | None, default: bool, node: exp.Expression) -> bool:
    if value is None:
        return default
    if not isinstance(value, exp.Boolean):
        raise Untranslatable("ARRAY_SORT with a sort direction that is not TRUE or FALSE", node,
                             keyword="ARRAY_SORT", hint="write TRUE or FALSE")
    return bool(value.this)


def _construct_compact(node: exp.ArrayConstructCompact) -> exp.Expression:
    values = exp.Array(expressions=[as_variant(x) for x in node.expressions])
    return duck("to_json(list_filter(__L, lambda e: e IS NOT NULL))", l=values)


def _zip(node: exp.ArraysZip) -> exp.Expression:
    """ARRAYS_ZIP(a1, ...): one object per position up to the longest array, keys $1, $2, ...

    A missing or undefined element is a JSON null (arrays_zip page, "null_elements").
    """
    arrays = list(node.expressions)
    names = [f"__A{i}" for i in range(len(arrays))]
    longest = "greatest(" + ", ".join(f"len({elements(n)})" for n in names) + ")" if len(names) > 1 \
        else f"len({elements(names[0])})"
    fields = ", ".join(f"'${i + 1}', nullif({elements(n)}[i + 1], {UNDEFINED_JSON})" for i, n in enumerate(names))
    body = (f"CASE WHEN {longest} = 0 THEN CAST('[{{}}]' AS JSON) "
            f"ELSE to_json(list_transform(range({longest}), lambda i: json_object({fields}))) END")
    return duck(_when_all(tuple(names), body), **{n[2:].lower(): a for n, a in zip(names, arrays)})


def _arrays_to_object(node: exp.Anonymous) -> exp.Expression:
    """ARRAYS_TO_OBJECT(keys, values): a NULL key drops its pair, a NULL value is kept as null."""
    if len(node.expressions) != 2:
        raise Untranslatable("ARRAYS_TO_OBJECT without exactly two arguments", node, keyword="ARRAYS_TO_OBJECT")
    pairs = (f"list_transform(range(len({_A})), lambda i: {{'k': json_extract_string(nullif({_A}[i + 1], "
             f"{UNDEFINED_JSON}), '$'), 'v': coalesce(nullif({_B}[i + 1], {UNDEFINED_JSON}), CAST('null' AS JSON))}})")
    body = f"to_json(map_from_entries(list_sort(list_filter({pairs}, lambda e: e.k IS NOT NULL))))"
    return duck(_when_all(("__A", "__B"), body), a=node.expressions[0], b=node.expressions[1])


# sqlglot node -> (template, {placeholder: node argument}); array first, unless noted
_TEMPLATES: dict[type, tuple[str, dict[str, str]]] = {
    exp.ArrayAppend: (_APPEND, {"a": "this", "v": "expression"}),
    exp.ArrayPrepend: (_PREPEND, {"a": "this", "v": "expression"}),
    exp.ArrayReverse: (_REVERSE, {"a": "this"}),
    exp.ArrayCompact: (_COMPACT, {"a": "this"}),
    exp.ArrayContains: (_FIND, {"a": "this", "v": "expression"}),
    exp.ArrayPosition: (_POSITION, {"a": "this", "v": "expression"}),
    exp.ArrayDistinct: (_DISTINCT, {"a": "this"}),
    exp.ArrayExcept: (_EXCEPT, {"a": "this", "b": "expression"}),
    exp.ArrayOverlaps: (_OVERLAP, {"a": "this", "b": "expression"}),
    exp.ArrayRemove: (_REMOVE, {"a": "this", "v": "expression"}),
    exp.ArrayRemoveAt: (_REMOVE_AT, {"a": "this", "p": "position"}),
    exp.ArraySlice: (_SLICE, {"a": "this", "f": "start", "t": "end"}),
    exp.ArrayInsert: (_INSERT, {"a": "this", "p": "position", "v": "expression"}),
    exp.Flatten: (_FLATTEN, {"a": "this"}),
    exp.ArrayToString: (_TO_STRING, {"a": "this", "s": "expression"}),
    exp.ArrayMax: (_MAX, {"a": "this"}),
    exp.ArrayMin: (_MIN, {"a": "this"}),
}
# Results that are not VARIANTs (BOOLEAN, a position, VARCHAR).
_SCALAR_RESULTS = (exp.ArrayContains, exp.ArrayPosition, exp.ArrayOverlaps, exp.ArrayToString)
_BUILDERS: dict[type, Callable[[exp.Expression], exp.Expression]] = {
    exp.ArraySort: _sort,
    exp.ArrayConstructCompact: _construct_compact,
    exp.ArraysZip: _zip,
}
def _repeat(node: exp.Anonymous) -> exp.Expression:
    """ARRAY_REPEAT(value, count): NULL for a NULL count, [] for a count below 1 (array_repeat page)."""
    if len(node.expressions) != 2:
        raise Untranslatable("ARRAY_REPEAT without exactly two arguments", node, keyword="ARRAY_REPEAT")
    value, count = node.expressions
    return duck(f"CASE WHEN __N IS NOT NULL THEN to_json(list_transform(range(greatest(__N, 0)), "
                f"lambda x: {element('__V')})) END",
                n=count, v=as_variant(value))


_ANONYMOUS = {"ARRAYS_TO_OBJECT": _arrays_to_object, "ARRAY_REPEAT": _repeat}
# sqlglot's ArrayConcat (ARRAY_CAT) and ArrayIntersect (ARRAY_INTERSECTION) list their arrays
_LISTED = {exp.ArrayConcat: _CAT, exp.ArrayIntersect: _INTERSECT}


def translates(node: exp.Expression) -> bool:
    """Whether this module rewrites ``node`` (so the up-front check must let it through)."""
    if isinstance(node, exp.Anonymous):
        return node.name.upper() in _ANONYMOUS
    return isinstance(node, (*_TEMPLATES, *_BUILDERS, *_LISTED))


def rewrite_node(node: exp.Expression) -> exp.Expression:
    """The DuckDB expression for an ARRAY function call, or ``node`` itself if it is none."""
    kind = type(node)
    if kind in _TEMPLATES:
        template, args = _TEMPLATES[kind]
        parts = {name: node.args.get(arg) or exp.Null() for name, arg in args.items()}
        if "v" in parts:
            parts["v"] = as_variant(parts["v"])
        result = duck(template, **parts)
        return result if isinstance(node, _SCALAR_RESULTS) else mark_variant(result)
    if kind in _LISTED:
        arrays = [node.this, *node.expressions] if node.this is not None else list(node.expressions)
        if len(arrays) != 2:
            raise Untranslatable(f"{node.sql_name()} of {len(arrays)} arrays", node, keyword=node.sql_name(),
                                 hint="combine two arrays at a time")
        return mark_variant(duck(_LISTED[kind], a=arrays[0], b=arrays[1]))
    if kind in _BUILDERS:
        return mark_variant(_BUILDERS[kind](node))
    if isinstance(node, exp.Anonymous) and node.name.upper() in _ANONYMOUS:
        return mark_variant(_ANONYMOUS[node.name.upper()](node))
    return node
