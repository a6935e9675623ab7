"""Snowflake column types -> the DuckDB types the local engine stores and casts to.

Representation decisions:

* NUMBER with scale 0 (NUMBER, NUMBER(p), NUMBER(p,0), INT, BIGINT, ...) becomes BIGINT. Every
  Snowflake integer type is NUMBER(38,0); locally values are limited to 64 bits (DuckDB raises
  an overflow error beyond that, it never wraps). Integers read back as Python ``int``.
* NUMBER(p,s) with s > 0 becomes DECIMAL(p,s): exact, the same precision and scale.
* FLOAT, FLOAT4, REAL, DOUBLE: all 64-bit in Snowflake, so DOUBLE.
* VARIANT, OBJECT and ARRAY become JSON (see dialect_variant.py).
* TIMESTAMP and TIMESTAMP_NTZ become TIMESTAMP; TIMESTAMP_LTZ and TIMESTAMP_TZ, TIMESTAMPTZ.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ParseError

from engine.sql.dialect_common import Untranslatable

T = exp.DataType.Type

_INTEGERS = {T.TINYINT, T.SMALLINT, T.INT, T.BIGINT, T.INT128, T.INT256}
_SAME = {
    T.BOOLEAN: "BOOLEAN",
    T.DATE: "DATE",
    T.TIME: "TIME",
    T.TIMESTAMP: "TIMESTAMP",
    T.TIMESTAMPNTZ: "TIMESTAMP",
    T.DATETIME: "TIMESTAMP",
    T.TIMESTAMPLTZ: "TIMESTAMPTZ",
    T.TIMESTAMPTZ: "TIMESTAMPTZ",
    T.FLOAT: "DOUBLE",
    T.DOUBLE: "DOUBLE",
    T.VARCHAR: "VARCHAR",
    T.NVARCHAR: "VARCHAR",
    T.CHAR: "VARCHAR",
    T.NCHAR: "VARCHAR",
    T.TEXT: "VARCHAR",
    T.BINARY: "BLOB",
    T.VARBINARY: "BLOB",
    T.VARIANT: "JSON",
    T.OBJECT: "JSON",
    T.ARRAY: "JSON",
    T.JSON: "JSON",
}


def parse_snowflake_type(text: str) -> exp.DataType:
    """Parse a Snowflake type name such as ``'NUMBER(10,2)'`` or ``'timestamp_ntz'``.

    Raises:
        Untranslatable: the text is not a type.
    """
    try:
        return exp.DataType.build(text.strip(), dialect="snowflake")
    except (ParseError, ValueError):
        raise Untranslatable(f"unknown Snowflake type {text!r}", hint="use a Snowflake type such as NUMBER, VARCHAR, "
                             "FLOAT, BOOLEAN, DATE, TIMESTAMP_NTZ, VARIANT") from None


def duckdb_type_name(datatype: exp.DataType) -> str:
    """The DuckDB type name for a parsed Snowflake type.

    Raises:
        Untranslatable: the type has no local equivalent (GEOGRAPHY, VECTOR, ...).
    """
    kind = datatype.this
    if kind == T.DECIMAL:
        precision, scale = _precision_scale(datatype)
        return "BIGINT" if scale == 0 else f"DECIMAL({precision},{scale})"
    if kind in _INTEGERS:
        return "BIGINT"
    if kind in _SAME:
        return _SAME[kind]
    name = datatype.sql(dialect="snowflake")
    raise Untranslatable(f"type {name}", datatype, keyword=name.split("(")[0],
                         hint="the local engine has no equivalent; cast to VARCHAR or VARIANT")


def to_duckdb_datatype(datatype: exp.DataType) -> exp.DataType:
    """The DuckDB DataType node replacing a Snowflake one in a CAST."""
    return exp.DataType.build(duckdb_type_name(datatype), dialect="duckdb")


def is_integer(datatype: exp.DataType) -> bool:
    """Whether a (DuckDB) type is the local form of a scale-0 NUMBER."""
    return datatype.this in _INTEGERS


def is_json(datatype: exp.DataType) -> bool:
    """Whether a (DuckDB) type is the local form of VARIANT, OBJECT or ARRAY."""
    return datatype.this == T.JSON


def is_text(datatype: exp.DataType) -> bool:
    """Whether a (DuckDB) type is VARCHAR."""
    return datatype.this in (T.VARCHAR, T.TEXT)


def _precision_scale(datatype: exp.DataType) -> tuple[int, int]:
    params = [int(p.this.this) if isinstance(p.this, exp.Literal) else int(p.name) for p in datatype.expressions]
    precision = params[0] if params else 38
    scale = params[1] if len(params) > 1 else 0
    return precision, scale


_BACK = {"DOUBLE": "FLOAT", "FLOAT": "FLOAT", "JSON": "VARIANT", "TIMESTAMP": "TIMESTAMP_NTZ",
         "TIMESTAMP WITH TIME ZONE": "TIMESTAMP_TZ", "BLOB": "BINARY", "BOOLEAN": "BOOLEAN", "DATE": "DATE",
         "TIME": "TIME", "VARCHAR": "VARCHAR"}


def snowflake_type_name(duckdb_type: str) -> str | None:
    """The Snowflake type a local column of DuckDB type ``duckdb_type`` stores (inverse of the above)."""
    name = duckdb_type.upper()
    if name in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT"):
        return "NUMBER(38,0)"
    if name.startswith("DECIMAL"):
        return "NUMBER" + name[len("DECIMAL"):]
    return _BACK.get(name)


# Column types whose values Snowflake reads from text in its own way when a statement stores
# text in them (date-time-input-output "AUTO" layouts; binary-input-output, HEX by default).
_READ_FROM_TEXT = {T.DATE, T.TIME, T.TIMESTAMP, T.TIMESTAMPNTZ, T.DATETIME, T.TIMESTAMPLTZ, T.TIMESTAMPTZ,
                   T.BINARY, T.VARBINARY}
_TEXT = {T.VARCHAR, T.NVARCHAR, T.CHAR, T.NCHAR, T.TEXT}


def coerce_inserted_text(tree: exp.Expression, catalog: dict[str, dict[str, str]] | None) -> None:
    """Cast text an INSERT stores in a DATE, TIME, TIMESTAMP or BINARY column to that type.

    Snowflake converts the text as its casts do (``'10-AUG-2025'`` into a DATE, ``'4869'`` into
    a BINARY as hexadecimal); DuckDB's implicit conversion reads ISO dates and the text's bytes.
    The explicit cast is then translated like any other. Needs the table's types (``catalog``)
    and the annotated types of the values (run after ``dialect_annotate.annotate``).
    """
    from engine.sql.dialect_annotate import is_type

    if not isinstance(tree, exp.Insert) or not catalog:
        return
    target = tree.this
    table = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(table, exp.Table):
        return
    types = next((cols for name, cols in catalog.items() if name.upper() == table.name.upper()), None)
    if not types:
        return
    if isinstance(target, exp.Schema) and target.expressions:
        names = [c.name.upper() for c in target.expressions]
    else:
        names = [c.upper() for c in types]
    kinds = {c.upper(): parse_snowflake_type(t) for c, t in types.items()}
    source = tree.expression
    rows = ([r.expressions for r in source.expressions] if isinstance(source, exp.Values)
            else [source.expressions] if isinstance(source, exp.Select) else [])
    for row in rows:
        for name, value in zip(names, row):
            kind = kinds.get(name)
            value_node = value.this if isinstance(value, exp.Alias) else value
            if kind is not None and kind.this in _READ_FROM_TEXT and is_type(value_node, _TEXT):
                cast = exp.Cast(this=value_node.copy(), to=kind.copy())
                cast.meta.update(value_node.meta)
                value_node.replace(cast)
