"""Snowflake's OBJECT functions and VARIANT type tests over the local representation: DuckDB JSON.

An OBJECT is a JSON object locally. Snowflake stores an object's keys sorted, so every object
built here (OBJECT_CONSTRUCT, OBJECT_INSERT, OBJECT_DELETE, OBJECT_PICK, ARRAYS_TO_OBJECT) has
its keys sorted, and equal objects have equal text. Each rule cites its page of Snowflake's SQL
reference (``sql-reference/functions/<name>``):

* OBJECT_CONSTRUCT (``{'k': v}`` too) omits a pair whose key or value is SQL NULL;
  OBJECT_CONSTRUCT_KEEP_NULL keeps a NULL value as JSON null; ``OBJECT_CONSTRUCT(*)`` is an
  object of the row's columns, named as Snowflake names them (upper case when unquoted).
* OBJECT_INSERT(o, k, v [, update]) fails when ``k`` exists unless ``update`` is TRUE, and omits
  a SQL NULL ``v``; OBJECT_DELETE / OBJECT_PICK drop / keep the keys given (or an ARRAY of keys).
* TO_OBJECT fails on anything but an OBJECT; AS_<type> gives NULL when the VARIANT holds
  another type; IS_<type> tells which type it holds. A number is an INTEGER when it has no
  fraction, a DOUBLE when written with an exponent (as Snowflake writes a FLOAT it stores in a
  VARIANT), a DECIMAL otherwise.
"""

from __future__ import annotations

import re

from sqlglot import exp

from engine.sql.dialect_common import Untranslatable, duck, mark_variant

_INTEGER = "json_type(CAST(__X AS JSON)) IN ('BIGINT', 'UBIGINT')"
_NUMBER = "json_type(CAST(__X AS JSON)) IN ('BIGINT', 'UBIGINT', 'DOUBLE')"
_DOUBLE = "(json_type(CAST(__X AS JSON)) = 'DOUBLE' AND regexp_matches(CAST(__X AS VARCHAR), '[eE]'))"
_DECIMAL = f"({_NUMBER} AND NOT {_DOUBLE})"
_TYPE_IS = "json_type(CAST(__X AS JSON)) = '{}'"

# IS_<type>(variant) -> the condition on __X (is_<type> pages)
_IS = {
    "IS_ARRAY": _TYPE_IS.format("ARRAY"),
    "IS_OBJECT": _TYPE_IS.format("OBJECT"),
    "IS_BOOLEAN": _TYPE_IS.format("BOOLEAN"),
    "IS_VARCHAR": _TYPE_IS.format("VARCHAR"),
    "IS_CHAR": _TYPE_IS.format("VARCHAR"),
    "IS_INTEGER": _INTEGER,
    "IS_DECIMAL": _DECIMAL,
    "IS_DOUBLE": _NUMBER,  # any number can be read as a DOUBLE (is_double page)
    "IS_REAL": _NUMBER,
}
# AS_<type>(variant) -> (condition, value) (as_<type> pages)
_AS = {
    "AS_ARRAY": (_TYPE_IS.format("ARRAY"), "CAST(__X AS JSON)"),
    "AS_OBJECT": (_TYPE_IS.format("OBJECT"), "CAST(__X AS JSON)"),
    "AS_BOOLEAN": (_TYPE_IS.format("BOOLEAN"), "CAST(CAST(__X AS JSON) AS BOOLEAN)"),
    "AS_VARCHAR": (_TYPE_IS.format("VARCHAR"), "json_extract_string(CAST(__X AS JSON), '$')"),
    "AS_CHAR": (_TYPE_IS.format("VARCHAR"), "json_extract_string(CAST(__X AS JSON), '$')"),
    "AS_INTEGER": (_INTEGER, "CAST(CAST(__X AS JSON) AS BIGINT)"),
    # a floating-point value only: another number gives NULL (as_double-real page)
    "AS_DOUBLE": (_DOUBLE, "CAST(CAST(__X AS JSON) AS DOUBLE)"),
    "AS_REAL": (_DOUBLE, "CAST(CAST(__X AS JSON) AS DOUBLE)"),
}
# A DATE, TIME or TIMESTAMP stored in a VARIANT is text locally: these cannot tell it from a string.
_DATETIME_IN_VARIANT = {
    f"{prefix}_{kind}" for prefix in ("AS", "IS")
    for kind in ("DATE", "DATE_VALUE", "TIME", "TIMESTAMP", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ")
}
_AS_FIXED = ("AS_NUMBER", "AS_DECIMAL", "AS_NUMERIC")
_VARIANT_RESULTS = ("AS_ARRAY", "AS_OBJECT")

# An object's entries ({key, value}) and an object made of entries, keys sorted.
_ENTRIES = "map_entries(CAST(CAST(__O AS JSON) AS MAP(VARCHAR, JSON)))"
_OBJECT_OF = "to_json(map_from_entries(list_sort({})))"
_TO_OBJECT = ("CASE WHEN __X IS NULL THEN NULL WHEN json_type(CAST(__X AS JSON)) = 'OBJECT' THEN CAST(__X AS JSON) "
              "ELSE error('TO_OBJECT: the value is not an OBJECT') END")
_INSERT = (
    "CASE WHEN __O IS NULL OR __K IS NULL THEN NULL "
    f"WHEN NOT __U AND list_contains(list_transform({_ENTRIES}, lambda e: e.key), __K) "
    "THEN error('OBJECT_INSERT: the key ' || __K || ' exists already; pass TRUE as the fourth argument to update it') "
    "WHEN __V IS NULL THEN " + _OBJECT_OF.format(f"list_filter({_ENTRIES}, lambda e: e.key <> __K)") + " "
    "ELSE " + _OBJECT_OF.format(f"list_append(list_filter({_ENTRIES}, lambda e: e.key <> __K), "
                                "{'key': __K, 'value': to_json(__V)})") + " END"
)
# GET_IGNORE_CASE(o, k): the exact key first, else a key equal but for case (get_ignore_case page);
# the first such key in sorted order, as Snowflake's objects are sorted (the page's 'AA' finds "Aa").
_GET_IGNORE_CASE = (
    "CASE WHEN __O IS NULL OR __K IS NULL OR json_type(CAST(__O AS JSON)) <> 'OBJECT' THEN NULL "
    f"ELSE COALESCE(list_filter({_ENTRIES}, lambda e: e.key = __K)[1].value, "
    f"list_filter(list_sort({_ENTRIES}), lambda e: lower(e.key) = lower(__K))[1].value) END"
)
_KEEP = "CASE WHEN __O IS NULL THEN NULL ELSE " + _OBJECT_OF.format(
    f"list_filter({_ENTRIES}, lambda e: {{}}list_contains(__KEYS, e.key))") + " END"


def quote_object_keys(tree: exp.Expression) -> None:
    """Keep the case of the keys of ``{'key': value}`` constants (run before identifiers are normalized).

    sqlglot reads the quoted key of a Snowflake object constant as an unquoted identifier, which
    normalization would upper-case; the key is a string, whose case is kept.
    """
    for struct in tree.find_all(exp.Struct):
        for item in struct.expressions:
            if isinstance(item, exp.PropertyEQ) and isinstance(item.this, exp.Identifier):
                item.set("this", exp.Literal.string(item.this.name))


def translates(node: exp.Expression) -> bool:
    """Whether this module rewrites ``node`` (so the up-front check must let it through)."""
    if isinstance(node, exp.Anonymous):
        name = node.name.upper()
        return name in _IS or name in _AS or name in _AS_FIXED or name in _ANONYMOUS or name in _DATETIME_IN_VARIANT
    return isinstance(node, (exp.ObjectInsert, exp.JSONObject, exp.GetIgnoreCase, exp.CheckJson))


def rewrite_node(node: exp.Expression) -> exp.Expression:
    """The DuckDB expression for an OBJECT function or VARIANT type test, or ``node`` itself."""
    if isinstance(node, exp.ObjectInsert):
        update = node.args.get("update_flag") or exp.false()
        return mark_variant(duck(_INSERT, o=node.this, k=node.args["key"], v=node.args["value"], u=update))
    if isinstance(node, exp.JSONObject):
        return mark_variant(_keep_null(node))
    if isinstance(node, exp.GetIgnoreCase):
        return mark_variant(duck(_GET_IGNORE_CASE, o=node.this, k=node.expression))
    if isinstance(node, exp.CheckJson):  # engine.sql.json_check, registered by local_functions
        return duck("pipe_check_json(CAST(__X AS VARCHAR), typeof(__X) = 'JSON')", x=node.this)
    if not isinstance(node, exp.Anonymous):
        return node
    name, args = node.name.upper(), list(node.expressions)
    if name in _DATETIME_IN_VARIANT:
        raise Untranslatable(name, node, keyword=name,
                             hint="a date or time stored in a VARIANT is text locally; cast the value "
                                  "(v::DATE, TRY_CAST(v::VARCHAR AS TIMESTAMP)) instead")
    if name in _IS:
        return duck(f"CASE WHEN __X IS NOT NULL THEN COALESCE({_IS[name]}, FALSE) END", x=_one(node, args))
    if name in _AS:
        condition, value = _AS[name]
        result = duck(f"CASE WHEN {condition} THEN {value} END", x=_one(node, args))
        return mark_variant(result) if name in _VARIANT_RESULTS else result
    if name in _AS_FIXED:
        return _as_fixed(node, args)
    if name in _ANONYMOUS:
        return mark_variant(_ANONYMOUS[name](node, args))
    return node


def _one(node: exp.Anonymous, args: list[exp.Expression]) -> exp.Expression:
    if len(args) != 1:
        raise Untranslatable(f"{node.name.upper()} with {len(args)} arguments", node, keyword=node.name)
    return args[0]


def _as_fixed(node: exp.Anonymous, args: list[exp.Expression]) -> exp.Expression:
    """AS_NUMBER(v [, precision [, scale]]): a fixed-point number held by ``v``, else NULL."""
    sizes = [a.name for a in args[1:]]
    if not args or len(args) > 3 or not all(a.is_int for a in args[1:] if isinstance(a, exp.Literal)) \
            or not all(isinstance(a, exp.Literal) for a in args[1:]):
        raise Untranslatable(f"{node.name.upper()} with a precision or scale that is not a number", node,
                             keyword=node.name)
    precision, scale = (sizes + ["38", "0"][len(sizes):])[:2]
    return duck(f"CASE WHEN {_DECIMAL} THEN CAST(CAST(__X AS JSON) AS DECIMAL({precision}, {scale})) END",
                x=args[0])


def _to_object(node: exp.Anonymous, args: list[exp.Expression]) -> exp.Expression:
    return duck(_TO_OBJECT, x=_one(node, args))


def _keys_list(node: exp.Anonymous, keys: list[exp.Expression]) -> exp.Expression:
    """The keys given to OBJECT_DELETE / OBJECT_PICK, as a DuckDB list of VARCHAR."""
    if len(keys) == 1 and not (isinstance(keys[0], exp.Literal) and keys[0].is_string):
        return duck("""from_json(CAST(__K AS JSON), '["VARCHAR"]')""", k=keys[0])  # an ARRAY of keys
    if not keys:
        raise Untranslatable(f"{node.name.upper()} without keys", node, keyword=node.name)
    return exp.Array(expressions=[exp.cast(k, "VARCHAR") for k in keys])


def _delete(node: exp.Anonymous, args: list[exp.Expression]) -> exp.Expression:
    return duck(_KEEP.format("NOT "), o=args[0], keys=_keys_list(node, args[1:]))


def _pick(node: exp.Anonymous, args: list[exp.Expression]) -> exp.Expression:
    return duck(_KEEP.format(""), o=args[0], keys=_keys_list(node, args[1:]))


def _keep_null(node: exp.JSONObject) -> exp.Expression:
    """OBJECT_CONSTRUCT_KEEP_NULL(k, v, ...): a NULL key drops its pair, a NULL value is JSON null."""
    pairs = []
    for item in node.expressions:
        if not isinstance(item, exp.JSONKeyValue):
            raise Untranslatable("OBJECT_CONSTRUCT_KEEP_NULL(*)", node, keyword="OBJECT_CONSTRUCT_KEEP_NULL")
        pairs.append(duck("{'k': CAST(__K AS VARCHAR), 'v': COALESCE(to_json(__V), CAST('null' AS JSON))}",
                          k=item.this, v=item.expression))
    if not pairs:
        return exp.cast(exp.Literal.string("{}"), "JSON")
    return duck(_OBJECT_OF.format("list_filter(__PAIRS, lambda e: e.k IS NOT NULL)"),
                pairs=exp.Array(expressions=pairs))


_ANONYMOUS = {"TO_OBJECT": _to_object, "OBJECT_DELETE": _delete, "OBJECT_PICK": _pick}


def expand_object_stars(tree: exp.Expression, catalog: dict[str, dict[str, str]] | None) -> None:
    """``OBJECT_CONSTRUCT(*)``, ``OBJECT_CONSTRUCT_KEEP_NULL(*)`` and ``{*}`` -> one key per column of FROM.

    Run after identifiers are normalized. The keys are the column names as Snowflake stores them
    (object_construct page: ``OBJECT_CONSTRUCT(*)`` over a table); ``* ILIKE 'pattern'`` and
    ``* EXCLUDE (c, ...)`` choose columns as they do in a select list. The columns come from the
    catalog (tables), VALUES (COLUMN1, ...) and subqueries; a source whose columns are unknown
    cannot be expanded and is refused.
    """
    for node in list(tree.find_all(exp.StarMap, exp.JSONObject, exp.Struct)):
        star = node.this if isinstance(node, exp.StarMap) else (
            node.expressions[0] if len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Star) else None)
        if not isinstance(star, exp.Star):
            continue
        columns = _chosen(star, _from_columns(node, catalog or {}), node)
        pairs = [(exp.Literal.string(name), exp.column(exp.to_identifier(name, quoted=True),
                                                        table=exp.to_identifier(table, quoted=True)))
                 for table, name in columns]
        if isinstance(node, exp.JSONObject):
            node.replace(exp.JSONObject(expressions=[exp.JSONKeyValue(this=k, expression=v) for k, v in pairs]))
        else:
            node.replace(exp.Struct(expressions=[exp.PropertyEQ(this=k, expression=v) for k, v in pairs]))


def _from_columns(node: exp.Expression, catalog: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """``(table alias, column)`` for every column the SELECT around ``node`` reads, in order."""
    select = node.find_ancestor(exp.Select)
    sources = []
    if select is not None and select.args.get("from_") is not None:
        sources.append(select.args["from_"].this)
    sources += [join.this for join in (select.args.get("joins") or [])] if select is not None else []
    tables = {name.upper(): columns for name, columns in catalog.items()}
    found = []
    for source in sources:
        alias = source.alias_or_name
        if isinstance(source, exp.Table) and source.name.upper() in tables:
            names = list(tables[source.name.upper()])
        elif isinstance(source, exp.Values):
            aliases = source.args.get("alias")
            names = [c.name for c in aliases.columns] if aliases is not None and aliases.columns else [
                f"COLUMN{i + 1}" for i in range(len(source.expressions[0].expressions))]
            alias = alias or "VALUES"
        elif isinstance(source, exp.Subquery) and isinstance(source.this, exp.Select) and not source.this.is_star:
            names = [e.alias_or_name for e in source.this.expressions]
        else:
            raise Untranslatable(f"OBJECT_CONSTRUCT(*) over {source.sql(dialect='snowflake')}, whose columns are "
                                 "not known locally", node, keyword="*",
                                 hint="list the keys and values: OBJECT_CONSTRUCT('A', a, 'B', b)")
        found += [(alias, name) for name in names]
    return found


def _chosen(star: exp.Star, columns: list[tuple[str, str]], node: exp.Expression) -> list[tuple[str, str]]:
    excluded = {c.name.upper() for c in star.args.get("except_") or []}
    pattern = star.args.get("ilike")
    if star.args.get("rename") or star.args.get("replace"):
        raise Untranslatable("OBJECT_CONSTRUCT(* RENAME / REPLACE)", node, keyword="*")
    chosen = [(t, c) for t, c in columns if c.upper() not in excluded]
    if pattern is not None:
        regex = "^" + "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern.name) + "$"
        chosen = [(t, c) for t, c in chosen if re.match(regex, c, re.IGNORECASE | re.DOTALL)]
    return chosen
