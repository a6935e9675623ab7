"""``LATERAL FLATTEN(input => ...)`` -> a DuckDB lateral subquery over ``json_each`` / ``json_tree``.

Snowflake's FLATTEN (sql-reference/functions/flatten) yields one row per element of an array (or
field of an object) with the columns SEQ, KEY, PATH, INDEX, VALUE and THIS. Locally the input is
JSON and the rows come from DuckDB's ``json_each`` (``json_tree`` with ``RECURSIVE => TRUE``,
which walks depth first as Snowflake does); the subquery rebuilds KEY (objects only), PATH
(``[i]`` or the key, after the PATH argument), INDEX (arrays only), VALUE (a VARIANT) and THIS
(the element's container). ``MODE => 'OBJECT' | 'ARRAY'`` keeps what is reached through objects
or arrays only. SEQ numbers the input rows: a FLATTEN first in FROM has one, so SEQ is 1; a
lateral FLATTEN's SEQ has no local counterpart and is rejected where it is referenced. A NULL,
empty or scalar input yields no rows; ``OUTER => TRUE`` keeps one row with NULLs, THIS the input
and PATH an empty string. An undefined array element yields no row (flatten page: FLATTEN of
PARSE_JSON('[1, ,77]') gives the rows of indexes 0 and 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from engine.sql.dialect_common import UNDEFINED, Untranslatable, duck

_COLUMNS = ("SEQ", "KEY", "PATH", "INDEX", "VALUE", "THIS")
_DEFAULT_ALIAS = "_FLATTENED"  # sqlglot's name for an unaliased FLATTEN

# One row per element of the input (json_each), or per descendant with RECURSIVE (json_tree, in
# the same depth-first order as Snowflake); THIS is the element's container. OUTER keeps one row
# of NULLs (PATH '', THIS the input) when nothing is flattened. {seq}, {join}, {table}, {container},
# {path} and {condition} are filled per call by _rows().
_ROWS = """
SELECT{seq}
  CASE WHEN json_type({container}) = 'OBJECT' THEN "__FLATTEN_EACH"."key" END AS "KEY",
  CASE WHEN "__FLATTEN_EACH"."key" IS NULL THEN '' ELSE {path} END AS "PATH",
  CASE WHEN json_type({container}) = 'ARRAY' THEN CAST("__FLATTEN_EACH"."key" AS BIGINT) END AS "INDEX",
  "__FLATTEN_EACH"."value" AS "VALUE",
  CASE WHEN "__FLATTEN_EACH"."key" IS NULL THEN "__FLATTEN_INPUT"."THIS" ELSE {container} END AS "THIS"
FROM (SELECT CAST(__INPUT AS JSON) AS "THIS") AS "__FLATTEN_INPUT"
  {join} JOIN {table}("__FLATTEN_INPUT"."THIS") AS "__FLATTEN_EACH"
  ON json_type("__FLATTEN_INPUT"."THIS") IN ('ARRAY', 'OBJECT')
  AND CAST("__FLATTEN_EACH"."value" AS VARCHAR) <> '""" + UNDEFINED + """'{condition}
"""
_ELEMENT_PATH = ("CASE WHEN json_type(\"__FLATTEN_INPUT\".\"THIS\") = 'ARRAY' "
                 "THEN __ARRAY_PREFIX || '[' || \"__FLATTEN_EACH\".\"key\" || ']' "
                 "ELSE __OBJECT_PREFIX || \"__FLATTEN_EACH\".\"key\" END")
# RECURSIVE: the path below the input, from json_tree's '$.b[0]' / '$[0]' (PATH argument first)
_DESCENDANT_PATH = ("__OBJECT_PREFIX || regexp_replace(\"__FLATTEN_EACH\".\"fullkey\", '^\\$\\.?', '')")
_DESCENDANT_CONTAINER = "json_extract(\"__FLATTEN_INPUT\".\"THIS\", \"__FLATTEN_EACH\".\"path\")"
# MODE => 'OBJECT' / 'ARRAY': only what is reached through objects / arrays
_MODES = {
    ("OBJECT", False): "json_type(\"__FLATTEN_INPUT\".\"THIS\") = 'OBJECT'",
    ("ARRAY", False): "json_type(\"__FLATTEN_INPUT\".\"THIS\") = 'ARRAY'",
    ("OBJECT", True): (f"json_type({_DESCENDANT_CONTAINER}) = 'OBJECT' "
                       "AND NOT contains(\"__FLATTEN_EACH\".\"path\", '[')"),
    ("ARRAY", True): (f"json_type({_DESCENDANT_CONTAINER}) = 'ARRAY' "
                      "AND regexp_full_match(\"__FLATTEN_EACH\".\"path\", '\\$(\\[[0-9]+\\])*')"),
}


def _rows(args: dict[str, exp.Expression], seq: bool) -> str:
    """The template of FLATTEN's rows for its arguments (see _ROWS)."""
    recursive = _flag(args, "RECURSIVE")
    mode = args["MODE"].name.upper() if "MODE" in args else "BOTH"
    condition = ' AND "__FLATTEN_EACH"."parent" IS NOT NULL' if recursive else ""
    if mode != "BOTH":
        condition += " AND " + _MODES[(mode, recursive)]
    return _ROWS.format(
        seq=' 1 AS "SEQ",' if seq else "",
        join="LEFT" if _flag(args, "OUTER") else "INNER",
        table="json_tree" if recursive else "json_each",
        container=_DESCENDANT_CONTAINER if recursive else '"__FLATTEN_INPUT"."THIS"',
        path=_DESCENDANT_PATH if recursive else _ELEMENT_PATH,
        condition=condition,
    )


@dataclass
class FlattenColumns:
    """The names under which FLATTEN outputs hold a VARIANT, by table alias.

    An unaliased FLATTEN is registered under ``None``: its columns are referenced bare.
    """

    variant: dict[str | None, set[str]] = field(default_factory=dict)

    def is_variant(self, column: exp.Column) -> bool:
        """Whether ``column`` reads a FLATTEN's VALUE or THIS."""
        names = self.variant.get(column.table or None, set())
        return column.name in names


def columns(tree: exp.Expression) -> FlattenColumns:
    """The VARIANT columns of every FLATTEN in ``tree`` (identifiers already normalized)."""
    found = FlattenColumns()
    for node in _flattens(tree):
        alias, names = _alias(node)
        if isinstance(node.parent, exp.Join):  # a lateral FLATTEN: SEQ would number the outer rows
            _reject_seq(tree, alias, names[0])
        found.variant[None if alias == _DEFAULT_ALIAS else alias] = {names[4], names[5]}
    return found


def rewrite(tree: exp.Expression) -> None:
    """Replace every FLATTEN table function in ``tree`` by a (lateral) subquery.

    Runs after the VARIANT pass, which has already rewritten the FLATTEN inputs.
    """
    for node in _flattens(tree):
        _replace(node)


def _flattens(tree: exp.Expression) -> list[exp.Expression]:
    return [n for n in tree.find_all(exp.Lateral, exp.TableFromRows) if isinstance(n.this, exp.Explode)]


def _replace(node: exp.Lateral | exp.TableFromRows) -> None:
    args = _arguments(node.this)
    alias, names = _alias(node)
    prefix = args["PATH"].name if "PATH" in args else ""
    join = node.parent if isinstance(node.parent, exp.Join) else None
    # SEQ numbers the input rows; a FLATTEN first in FROM has one input row, so SEQ is 1
    rows = duck(_rows(args, seq=join is None), input=_input(args), array_prefix=exp.Literal.string(prefix),
                object_prefix=exp.Literal.string(f"{prefix}." if prefix else ""))
    for projection, name in zip(rows.expressions, names if join is None else names[1:]):
        projection.set("alias", exp.to_identifier(name))
    table_alias = exp.TableAlias(this=exp.to_identifier(alias))

    outer = _flag(args, "OUTER")
    if join is None:  # first item of FROM: nothing to correlate with
        node.replace(exp.Subquery(this=rows, alias=table_alias))
        return
    node.replace(exp.Lateral(this=exp.Subquery(this=rows), alias=table_alias))
    if outer:
        join.set("side", "LEFT")
        join.set("kind", None)
    if join.args.get("on") is None:
        if join.side:  # LEFT JOIN LATERAL needs a condition in DuckDB
            join.set("on", exp.true())
        else:
            join.set("kind", "CROSS")


def _arguments(explode: exp.Explode) -> dict[str, exp.Expression]:
    """FLATTEN's arguments by upper-case name; a positional first argument is INPUT."""
    args: dict[str, exp.Expression] = {}
    for arg in [explode.this, *explode.expressions]:
        if isinstance(arg, exp.Kwarg):
            args[arg.this.name.upper()] = arg.expression
        else:
            args.setdefault("INPUT", arg)
    if "INPUT" not in args:
        raise Untranslatable("FLATTEN without INPUT", explode, hint="write FLATTEN(input => <expr>)")
    for flag in ("OUTER", "RECURSIVE"):
        if flag in args and not isinstance(args[flag], exp.Boolean):
            raise Untranslatable(f"FLATTEN {flag} that is not TRUE or FALSE", explode, keyword=flag)
    mode = args.get("MODE")
    if mode is not None and not (mode.is_string and mode.name.upper() in ("BOTH", "OBJECT", "ARRAY")):
        raise Untranslatable(f"FLATTEN(MODE => {mode.sql()})", explode, keyword="MODE",
                             hint="MODE is 'OBJECT', 'ARRAY' or 'BOTH'")
    unknown = set(args) - {"INPUT", "PATH", "OUTER", "RECURSIVE", "MODE"}
    if unknown:
        raise Untranslatable(f"FLATTEN argument {sorted(unknown)[0]}", explode)
    return args


def _flag(args: dict[str, exp.Expression], name: str) -> bool:
    value = args.get(name)
    return isinstance(value, exp.Boolean) and bool(value.this)


def _input(args: dict[str, exp.Expression]) -> exp.Expression:
    value = args["INPUT"].copy()
    path = args.get("PATH")
    if path is None:
        return value
    if not path.is_string:
        raise Untranslatable("FLATTEN PATH that is not a string literal", path)
    text = path.name
    json_path = "$" + (text if text.startswith("[") else "." + text)
    return exp.Anonymous(this="json_extract", expressions=[value, exp.Literal.string(json_path)])


def _alias(node: exp.Expression) -> tuple[str, list[str]]:
    """The table alias and the six output names (SEQ, KEY, PATH, INDEX, VALUE, THIS)."""
    alias = node.args.get("alias")
    name = alias.name if alias is not None and alias.name else _DEFAULT_ALIAS
    columns = [c.name for c in alias.columns] if alias is not None else []
    if not columns:
        columns = list(_COLUMNS)
    if len(columns) != len(_COLUMNS):
        raise Untranslatable(f"FLATTEN alias with {len(columns)} column names", alias,
                             hint="name all six columns (SEQ, KEY, PATH, INDEX, VALUE, THIS) or none")
    return name, columns


def _reject_seq(root: exp.Expression, alias: str, seq: str) -> None:
    for column in root.find_all(exp.Column):
        if column.name == seq and column.table in (alias, "" if alias == _DEFAULT_ALIAS else alias):
            raise Untranslatable(f"FLATTEN column {seq}", column,
                                 hint="SEQ has no local equivalent; use INDEX or the outer row's key")
