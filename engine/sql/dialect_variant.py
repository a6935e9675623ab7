"""VARIANT, OBJECT and ARRAY: stored locally as DuckDB JSON, made to behave like Snowflake.

What differs between a Snowflake VARIANT and a DuckDB JSON value, and how it is bridged:

* ``v:a.b``, ``v:"Key"``, ``v['k']``, ``v[0]`` -> ``json_extract(v, '$.a.b')``: still JSON.
* ``variant::VARCHAR`` is the string without JSON quotes -> ``json_extract_string(x, '$')``;
  other casts go through that text (DuckDB cannot cast the JSON ``"2.5"`` to a number).
* ``GROUP BY v:k`` with ``v:k::VARCHAR`` selected: DuckDB accepts a select expression only if
  the grouped expression appears inside it, so the cast is built *around* the extraction, and
  folded into one ``json_extract_string(v, '$.k')`` only where no GROUP BY needs it.
* A VARIANT compared with a non-VARIANT, used in arithmetic, a string function, ``||`` or as a
  condition, is converted the way Snowflake coerces it (to a number, text or boolean).
  ORDER BY a VARIANT sorts numbers by value, not as JSON text.
* ARRAY_AGG / OBJECT_AGG / OBJECT_CONSTRUCT / ARRAY_CONSTRUCT build JSON, skipping NULLs as
  Snowflake does. An ARRAY_AGG without WITHIN GROUP is ordered by its values, so a recompute
  gives the same array (Snowflake leaves that order unspecified).

Which expressions are VARIANTs is decided from the query text: paths, FLATTEN's VALUE and
THIS, casts to VARIANT, and the functions above. A plain column of a JSON table is not known
to be one: cast to VARCHAR, a string held directly in it keeps its JSON quotes (other casts,
and everything reached through a path, are right). MIN/MAX of a VARIANT compare JSON text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from engine.sql import dialect_arrays, dialect_objects
from engine.sql.dialect_common import (
    UNDEFINED,
    UNDEFINED_JSON,
    Untranslatable,
    duck,
    is_marked_variant,
    is_native,
    json_text,
    mark_variant,
    rewrite_bottom_up,
)
from engine.sql.dialect_flatten import FlattenColumns
from engine.sql.dialect_types import is_integer, is_json, is_text, to_duckdb_datatype

_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)
# Functions whose first argument Snowflake coerces from VARIANT to a number, or to text.
_NUMERIC_ARGUMENT = (exp.Sum, exp.Avg, exp.Round, exp.Abs, exp.Floor, exp.Ceil, exp.Neg, exp.Stddev, exp.Variance)
# Where a VARIANT stands for a condition, Snowflake reads it as a BOOLEAN.
_CONDITIONS = (exp.Where, exp.Having, exp.Qualify, exp.And, exp.Or, exp.Not, exp.If, exp.CountIf)
_TEXT_ARGUMENT = (
    exp.Upper, exp.Lower, exp.Length, exp.Substring, exp.Trim, exp.Left, exp.Right, exp.SplitPart,
    exp.StartsWith, exp.Initcap, exp.RegexpLike, exp.RegexpExtract, exp.RegexpReplace, exp.Like, exp.ILike,
)

_ARRAY = "COALESCE(to_json(__AGG), CAST('[]' AS JSON))"
_OBJECT_AGG = (
    "COALESCE(to_json(map_from_entries(list({'k': CAST(__K AS VARCHAR), 'v': to_json(__V)} ORDER BY __K)"
    " FILTER (WHERE __K IS NOT NULL AND __V IS NOT NULL))), CAST('{}' AS JSON))"
)
_OBJECT_PAIR = "{'k': CAST(__K AS VARCHAR), 'v': to_json(__V)}"
# keys sorted, as Snowflake stores an OBJECT's keys
_OBJECT = "to_json(map_from_entries(list_sort(list_filter(__PAIRS, lambda e: e.k IS NOT NULL AND e.v IS NOT NULL))))"
# Snowflake's TYPEOF names for the JSON value kinds DuckDB's json_type reports.
_TYPEOF = (
    "CASE json_type(__X) WHEN 'NULL' THEN 'NULL_VALUE' WHEN 'BIGINT' THEN 'INTEGER' WHEN 'UBIGINT' THEN 'INTEGER'"
    " WHEN 'DOUBLE' THEN (CASE WHEN regexp_matches(CAST(__X AS VARCHAR), '[eE]') THEN 'DOUBLE' ELSE 'DECIMAL' END)"
    " ELSE json_type(__X) END"
)
# PARSE_JSON's leniencies (parse_json page, "Usage notes" and examples): keys without quotes,
# NULL / TRUE / FALSE in any case, and missing array elements ('[1, ,77]', '[1, 2,]'), which Snowflake reads as
# undefined (dialect_common.UNDEFINED). Applied only to text that is not valid JSON as it stands.
_MISSING = UNDEFINED.replace("\\", "\\\\")  # a regexp_replace replacement: its backslash escaped
_LITERAL = r"([:,\[]\s*)(?i:{word})(\s*[,}}\]])"
_LENIENT_STEPS = (
    (r"([{,]\s*)([A-Za-z_$][A-Za-z0-9_$]*)(\s*):", r'\1"\2"\3:'),
    *((pattern, replacement) for word in ("null", "true", "false")
      for pattern, replacement in ((rf"^(\s*)(?i:{word})(\s*)$", rf"\1{word}\2"),
                                   (_LITERAL.format(word=word), rf"\1{word}\2"),
                                   (_LITERAL.format(word=word), rf"\1{word}\2"))),
    (r"\[(\s*),", rf"[\1{_MISSING},"),
    (r",(\s*),", rf",\1{_MISSING},"),
    (r",(\s*),", rf",\1{_MISSING},"),
    (r",(\s*)\]", rf",\1{_MISSING}]"),
)


_EXPONENT = r"-?[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]+"


def _lenient_json(text: exp.Expression) -> exp.Expression:
    fixed = "__S"
    for pattern, replacement in _LENIENT_STEPS:
        fixed = f"regexp_replace({fixed}, '{pattern}', '{replacement}', 'g')"
    # DuckDB reads '[1, 2,]' as [1, 2]; Snowflake as [1, 2, undefined], so that text is fixed too
    return duck(f"CASE WHEN json_valid(__S) AND NOT regexp_matches(__S, ',\\s*\\]') THEN __S ELSE {fixed} END",
                s=text)


_ARRAY_SIZE = "CASE WHEN json_type(__X) = 'ARRAY' THEN CAST(json_array_length(__X) AS BIGINT) END"


def translates(node: exp.Expression) -> bool:
    """Whether this pass rewrites the ARRAY / OBJECT function ``node`` (so it is not refused up front)."""
    return dialect_arrays.translates(node) or dialect_objects.translates(node)


def rewrite(tree: exp.Expression, flatten: FlattenColumns) -> exp.Expression:
    """Rewrite every VARIANT construct of ``tree`` into DuckDB JSON operations."""
    rules = _Rules(flatten)
    tree = rewrite_bottom_up(tree, rules)
    _fold_text_extractions(tree)
    return tree


def _text_length(datatype: exp.DataType) -> int | None:
    """The length of a VARCHAR(n) / CHAR(n) type, if it has one."""
    if datatype.this not in (exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR) or not datatype.expressions:
        return None
    param = datatype.expressions[0]
    value = param.this if isinstance(param, exp.DataTypeParam) else param
    return int(value.name) if isinstance(value, exp.Literal) and value.is_int else None


class _Rules:
    """The per-node rewrite, called children first (see ``rewrite_bottom_up``)."""

    def __init__(self, flatten: FlattenColumns):
        self.flatten = flatten

    def is_variant(self, node: exp.Expression) -> bool:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Column):
            return self.flatten.is_variant(node)
        return is_marked_variant(node)

    def __call__(self, node: exp.Expression) -> exp.Expression:
        if is_native(node):
            return node
        if dialect_arrays.translates(node):
            return dialect_arrays.rewrite_node(node)
        if dialect_objects.translates(node):
            return dialect_objects.rewrite_node(node)
        if isinstance(node, exp.JSONExtract):
            return mark_variant(_extract(node.this, _json_path(node.expression)))
        if isinstance(node, exp.ToChar) and node.args.get("format") is None and self.is_variant(node.this):
            return _varchar(node.this)  # TO_VARCHAR(variant): a string without its quotes
        if isinstance(node, exp.ToChar) and node.args.get("format") is None and isinstance(node.this, exp.Column):
            return _undefined_written(node)  # a column of unknown type may be a VARIANT (see _cast)
        if isinstance(node, exp.Bracket):
            if len(node.expressions) != 1:
                raise Untranslatable("a bracket with several subscripts", node)
            return _subscript(node.this, node.expressions[0])
        if isinstance(node, exp.GetExtract):  # GET(v, 'k') / GET(v, 0)
            return _subscript(node.this, node.expression)
        if isinstance(node, exp.Cast):
            return self._cast(node)
        if isinstance(node, _COMPARISONS):
            return self._compare(node)
        if isinstance(node, exp.In):
            return self._in(node)
        if isinstance(node, _ARITHMETIC):
            return self._coerce(node, _number, "this", "expression")
        if isinstance(node, _NUMERIC_ARGUMENT):
            return self._coerce(node, _number, "this")
        if isinstance(node, _CONDITIONS):
            return self._coerce(node, _boolean, "this", "expression")
        if isinstance(node, exp.DPipe):
            return self._coerce(node, _varchar, "this", "expression")
        if isinstance(node, _TEXT_ARGUMENT):
            return self._coerce(node, _varchar, "this")
        if isinstance(node, (exp.ArrayAgg, exp.WithinGroup, exp.ObjectAgg)):
            return self._aggregate(node)
        if isinstance(node, exp.Order):
            return self._order(node)
        if isinstance(node, exp.Struct):
            return _object_construct(node)
        if isinstance(node, exp.Array):  # a SQL NULL element is undefined
            values = [duck(dialect_arrays.element("__X"), x=dialect_arrays.as_variant(e)) for e in node.expressions]
            return mark_variant(duck("to_json(__L)", l=exp.Array(expressions=values)) if values
                                else exp.Anonymous(this="json_array", expressions=[]))
        if isinstance(node, exp.JSONFormat) and not node.args.get("options"):  # TO_JSON (local_functions.to_json)
            text = duck("CAST(__X AS VARCHAR)", x=dialect_arrays.as_variant(node.this))
            return duck(f"replace(pipe_to_json(__T), '{UNDEFINED}', 'undefined')", t=text)
        if isinstance(node, exp.ArraySize):
            return duck(_ARRAY_SIZE, x=node.this)
        if isinstance(node, exp.Typeof):
            known = node.this.meta.get(dialect_arrays.VARIANT_TYPE)
            if known:  # a TIMESTAMP cast to VARIANT is text locally, but its type is known here
                return duck(f"CASE WHEN __X IS NOT NULL THEN '{known}' END", x=node.this)
            return duck(_TYPEOF, x=node.this)
        if isinstance(node, exp.ParseJSON) and isinstance(node.this, exp.Literal) and not node.this.is_string:
            # PARSE_JSON(0): Snowflake reads the number's text
            return mark_variant(exp.ParseJSON(this=exp.Literal.string(node.this.name)))
        if isinstance(node, exp.ParseJSON):
            text = node.this
            node.set("this", _lenient_json(text.copy()))
            # a number written with an exponent is a DOUBLE (typeof page: '1.912e2' is DOUBLE)
            return mark_variant(duck(f"CASE WHEN regexp_full_match(trim(__S), '{_EXPONENT}') "
                                     "THEN CAST(printf('%.15e', CAST(trim(__S) AS DOUBLE)) AS JSON) ELSE __P END",
                                     s=text, p=node))
        if isinstance(node, exp.Paren) and self.is_variant(node.this):
            return mark_variant(node)
        return node

    def _cast(self, node: exp.Cast) -> exp.Expression:
        target = to_duckdb_datatype(node.to)
        source = node.this
        make = exp.TryCast if isinstance(node, exp.TryCast) else exp.Cast
        if self.is_variant(source):
            if is_json(target):
                return source
            text = json_text(source)
            if target.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ, exp.DataType.Type.TIMESTAMPTZ):
                # a number in a VARIANT is seconds since the epoch, read in the session's time
                # zone (to_timestamp, "Usage notes")
                number = "json_type(__V) IN ('UBIGINT', 'BIGINT', 'DOUBLE')"
                name = target.sql(dialect="duckdb")
                return duck(f"CASE WHEN {number} THEN CAST(to_timestamp(CAST(__T AS DOUBLE)) AS {name}) "
                            f"ELSE {make.key.upper()}(CASE WHEN {number} THEN NULL ELSE __T END AS {name}) END",
                            v=source, t=text)
            return _varchar(source) if is_text(target) else make(this=text, to=target)
        if is_json(target):
            return dialect_arrays.as_variant(source)
        if is_text(target) and isinstance(source, exp.Column) and not isinstance(node, exp.TryCast):
            # a column of unknown type may be a VARIANT holding undefined array elements
            return _undefined_written(make(this=source, to=target))
        if is_integer(target) and not (isinstance(source, exp.Literal) and source.is_int):
            # DuckDB casts a DOUBLE to an integer rounding half to even; Snowflake rounds half
            # away from zero, as DuckDB's DECIMAL cast does.
            source = make(this=source, to=exp.DataType.build("DECIMAL(38, 0)"))
        length = _text_length(node.to)
        if isinstance(node, exp.TryCast) and length is not None:
            # TRY_CAST to VARCHAR(n) / CHAR(n) of a longer text is NULL (try_cast examples)
            return duck(f"CASE WHEN length(CAST(__X AS VARCHAR)) <= {length} THEN CAST(__X AS VARCHAR) END", x=source)
        return make(this=source, to=target)

    def _compare(self, node: exp.Binary) -> exp.Expression:
        if isinstance(node.parent, exp.Update):  # SET column = value: an assignment, not a comparison
            return node
        left, right = node.this, node.expression
        if self.is_variant(left) == self.is_variant(right):
            return node
        variant, other = (left, right) if self.is_variant(left) else (right, left)
        variant.replace(_coerce_like(variant.copy(), other))
        return node

    def _in(self, node: exp.In) -> exp.Expression:
        values = node.expressions
        if self.is_variant(node.this) and values and not any(self.is_variant(v) for v in values):
            node.this.replace(_coerce_like(node.this.copy(), values[0]))
        return node

    def _coerce(self, node: exp.Expression, convert: Callable[[exp.Expression], exp.Expression],
                *args: str) -> exp.Expression:
        """Replace the VARIANT operands among ``args`` of ``node`` by ``convert(operand)``."""
        for side in (node.args.get(a) for a in args):
            if side is not None and self.is_variant(side):
                side.replace(convert(side.copy()))
        return node

    def _order(self, node: exp.Order) -> exp.Expression:
        """ORDER BY a VARIANT: numbers by value (DuckDB would compare JSON text), then text."""
        if _orders_one_row(node):
            node.parent.set("order", None)
            return node
        keys = []
        for ordered in node.expressions:
            if isinstance(ordered, exp.Ordered) and self.is_variant(ordered.this):
                text = json_text(ordered.this.copy())
                number = exp.TryCast(this=text.copy(), to=exp.DataType.build("DOUBLE"))
                keys.append(ordered.__class__(**{**ordered.args, "this": number}))
                keys.append(ordered.__class__(**{**ordered.args, "this": text}))
            else:
                keys.append(ordered)
        node.set("expressions", keys)
        return node

    def _aggregate(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.WithinGroup):
            if not isinstance(node.this, exp.ArrayAgg):
                return node
            return _array_agg(node.this.this, list(node.expression.expressions))
        if isinstance(node, exp.ArrayAgg) and isinstance(node.parent, exp.WithinGroup):
            return node  # handled with its ORDER BY, at the parent
        if isinstance(node.parent, exp.Window):
            raise Untranslatable(f"{node.sql_name()} as a window function", node, keyword=node.sql_name(),
                                 hint="aggregate in a subquery grouped by the partition and join it back")
        if isinstance(node, exp.ArrayAgg):
            return _array_agg(node.this, [])
        return mark_variant(duck(_OBJECT_AGG, k=node.this, v=node.expression))


def _orders_one_row(order: exp.Order) -> bool:
    """An ORDER BY of aggregated columns on an aggregate without GROUP BY, which returns one row.

    Snowflake accepts it (array_agg page: ``SELECT ARRAY_AGG(DISTINCT s) ... ORDER BY s``) and it
    orders nothing; DuckDB rejects a column outside an aggregate, so it is dropped.
    """
    select = order.parent
    if not isinstance(select, exp.Select) or select.args.get("group") or select.args.get("having"):
        return False
    aggregates = [a for e in select.expressions for a in e.find_all(exp.AggFunc) if not a.find_ancestor(exp.Window)]
    keys = [o.this for o in order.expressions if isinstance(o, exp.Ordered)]
    aggregated = [c for a in aggregates for c in a.find_all(exp.Column)]
    return bool(aggregates) and len(keys) == len(order.expressions) and all(
        isinstance(k, exp.Column) and k in aggregated for k in keys)


def _subscript(value: exp.Expression, index: exp.Expression) -> exp.Expression:
    """``value[index]``: a key for a string index, a 0-based position for a number."""
    if isinstance(index, exp.Literal):
        return mark_variant(_extract(value, "$" + _path_part(index.this if index.is_string else int(index.this))))
    # A computed subscript: the JSON path is built at run time.
    text = exp.cast(index.copy(), "VARCHAR")
    opening, closing = ('$."', '"') if index.is_type(*exp.DataType.TEXT_TYPES) else ("$[", "]")
    path = exp.DPipe(this=exp.DPipe(this=exp.Literal.string(opening), expression=text),
                     expression=exp.Literal.string(closing))
    extracted = exp.Anonymous(this="json_extract", expressions=[value, path])
    return mark_variant(extracted if index.is_type(*exp.DataType.TEXT_TYPES) else _defined(extracted))


def _extract(value: exp.Expression, path: str) -> exp.Expression:
    extracted = exp.Anonymous(this="json_extract", expressions=[value, exp.Literal.string(path)])
    return _defined(extracted) if path.endswith("]") else extracted


def _defined(element: exp.Expression) -> exp.Expression:
    """An array element read by position: an undefined element reads as SQL NULL, as on Snowflake."""
    return duck(f"nullif(__E, {UNDEFINED_JSON})", e=element)


def _varchar(variant: exp.Expression) -> exp.Expression:
    """A VARIANT cast to VARCHAR (:func:`json_text`), its undefined array elements written ``undefined``."""
    return _undefined_written(json_text(variant))


def _undefined_written(text: exp.Expression) -> exp.Expression:
    """``text`` with the undefined array elements of a VARIANT's JSON written ``undefined``."""
    return duck(f"replace(__T, '{UNDEFINED}', 'undefined')", t=text)


def _json_path(path: exp.Expression) -> str:
    if isinstance(path, exp.Literal):  # GET_PATH(v, 'a.b') may arrive as a plain string
        text = path.name
        return text if text.startswith("$") else "$" + ("" if text.startswith("[") else ".") + text
    text = "$"
    for part in path.expressions:
        if isinstance(part, exp.JSONPathRoot):
            continue
        if isinstance(part, exp.JSONPathKey) and isinstance(part.this, str):
            text += _path_part(part.this)
        elif isinstance(part, exp.JSONPathSubscript) and isinstance(part.this, int):
            text += _path_part(part.this)
        else:
            raise Untranslatable(f"variant path element {part.sql()}", path, hint="use keys and integer indexes")
    return text


def _path_part(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if _SIMPLE_KEY.match(key):
        return f".{key}"
    return '."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _coerce_like(variant: exp.Expression, other: exp.Expression) -> exp.Expression:
    """A VARIANT converted for comparison with a value that is not one.

    A number or boolean literal fixes the type; otherwise the VARIANT becomes its text, which
    DuckDB compares with a string as is and casts to the type of any other column.
    """
    if isinstance(other, exp.Boolean):
        return _boolean(variant)
    if isinstance(other, exp.Literal) and not other.is_string:
        return _number(variant)
    if isinstance(other, exp.Neg) and isinstance(other.this, exp.Literal):
        return _number(variant)
    return json_text(variant)


def _number(variant: exp.Expression) -> exp.Expression:
    return exp.Cast(this=json_text(variant), to=exp.DataType.build("DOUBLE"))


def _boolean(variant: exp.Expression) -> exp.Expression:
    return exp.Cast(this=json_text(variant), to=exp.DataType.build("BOOLEAN"))


def _array_agg(value: exp.Expression, order: list[exp.Expression]) -> exp.Expression:
    distinct = isinstance(value, exp.Distinct)
    if distinct:
        value = value.expressions[0]
    inner = exp.Distinct(expressions=[value.copy()]) if distinct else value.copy()
    descending = bool(order and order[0].args.get("desc"))
    if distinct or not order:
        # DuckDB sorts a DISTINCT aggregate only by its argument (Snowflake requires the same).
        order = [exp.Ordered(this=value.copy(), desc=descending, nulls_first=False)]
    ordered = exp.Order(this=inner, expressions=order)
    keep = exp.Where(this=exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())))
    aggregate = exp.Filter(this=exp.ArrayAgg(this=ordered), expression=keep)
    return mark_variant(duck(_ARRAY, agg=aggregate))


def _object_construct(node: exp.Struct) -> exp.Expression:
    pairs = []
    for item in node.expressions:
        if not isinstance(item, exp.PropertyEQ):
            raise Untranslatable("OBJECT_CONSTRUCT with an odd number of arguments", node, keyword="OBJECT_CONSTRUCT")
        key = item.this
        if isinstance(key, exp.Identifier):
            key = exp.column(key)
        pairs.append(duck(_OBJECT_PAIR, k=key, v=dialect_arrays.as_variant(item.expression)))
    if not pairs:
        return mark_variant(exp.cast(exp.Literal.string("{}"), "JSON"))
    return mark_variant(duck(_OBJECT, pairs=exp.Array(expressions=pairs)))


def _fold_text_extractions(tree: exp.Expression) -> None:
    """``json_extract_string(json_extract(v, p), '$')`` -> ``json_extract_string(v, p)``.

    Kept unfolded where ``json_extract(v, p)`` is a GROUP BY key of the enclosing SELECT:
    DuckDB then sees the grouped expression inside the selected one.
    """
    for node in list(tree.find_all(exp.Anonymous)):
        if not (_is_call(node, "json_extract_string") and node.expressions[1] == exp.Literal.string("$")):
            continue
        inner = node.expressions[0]
        if not _is_call(inner, "json_extract") or _is_group_key(inner, node):
            continue
        node.replace(exp.Anonymous(this="json_extract_string", expressions=list(inner.expressions)))


def _is_call(node: exp.Expression, name: str) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() == name


def _is_group_key(expression: exp.Expression, at: exp.Expression) -> bool:
    select = at.find_ancestor(exp.Select)
    group = select.args.get("group") if select is not None else None
    return group is not None and any(key == expression for key in group.expressions)
