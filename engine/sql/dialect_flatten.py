"""``LATERAL FLATTEN(input => ...)`` -> a DuckDB lateral subquery over ``json_each``.

Snowflake's FLATTEN yields one row per element of an array (or field of an object) with the
columns SEQ, KEY, PATH, INDEX, VALUE and THIS. Locally the input is JSON and the rows come from
DuckDB's ``json_each``; the subquery rebuilds KEY (objects only), PATH (``[i]`` or the key,
after the PATH argument), INDEX (arrays only), VALUE (a VARIANT) and THIS (the flattened
element). SEQ has no local counterpart and is rejected where it is referenced. A NULL or empty
input yields no rows; ``OUTER => TRUE`` keeps the outer row with NULLs (Snowflake also fills
THIS, and PATH with an empty string, in that row).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from engine.sql.dialect_common import Untranslatable, duck

_COLUMNS = ("SEQ", "KEY", "PATH", "INDEX", "VALUE", "THIS")
_DEFAULT_ALIAS = "_FLATTENED"  # sqlglot's name for an unaliased FLATTEN

_ROWS = """
SELECT
  CASE WHEN json_type("__FLATTEN_INPUT"."THIS") = 'OBJECT' THEN "__FLATTEN_EACH"."key" END AS "KEY",
  CASE WHEN json_type("__FLATTEN_INPUT"."THIS") = 'ARRAY' THEN __ARRAY_PREFIX || '[' || "__FLATTEN_EACH"."key" || ']'
       ELSE __OBJECT_PREFIX || "__FLATTEN_EACH"."key" END AS "PATH",
  CASE WHEN json_type("__FLATTEN_INPUT"."THIS") = 'ARRAY' THEN CAST("__FLATTEN_EACH"."key" AS BIGINT) END AS "INDEX",
  "__FLATTEN_EACH"."value" AS "VALUE",
  "__FLATTEN_INPUT"."THIS" AS "THIS"
FROM (SELECT CAST(__INPUT AS JSON) AS "THIS") AS "__FLATTEN_INPUT",
     json_each("__FLATTEN_INPUT"."THIS") AS "__FLATTEN_EACH"
"""


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
    rows = duck(_ROWS, input=_input(args), array_prefix=exp.Literal.string(prefix),
                object_prefix=exp.Literal.string(f"{prefix}." if prefix else ""))
    for projection, name in zip(rows.expressions, names[1:]):
        projection.set("alias", exp.to_identifier(name))
    table_alias = exp.TableAlias(this=exp.to_identifier(alias))

    outer = _flag(args, "OUTER")
    join = node.parent if isinstance(node.parent, exp.Join) else None
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
    if _flag(args, "RECURSIVE"):
        raise Untranslatable("FLATTEN(RECURSIVE => TRUE)", explode, keyword="RECURSIVE",
                             hint="flatten one level at a time with nested LATERAL FLATTEN")
    mode = args.get("MODE")
    if mode is not None and mode.name.upper() != "BOTH":
        raise Untranslatable(f"FLATTEN(MODE => '{mode.name}')", explode, keyword="MODE",
                             hint="drop MODE and filter on INDEX or KEY instead")
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
