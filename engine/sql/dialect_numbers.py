"""Numbers and digests: conversions sqlglot leaves unmapped or maps loosely to DuckDB.

* TO_NUMBER / TO_DECIMAL / TO_NUMERIC (and TRY_) with a format (to_decimal, sql-format-models):
  digits ``9``/``0``, ``.``/``D``, ``,``/``G``, ``$``, ``S``, ``TM9``/``TME`` read the number after
  dropping the currency sign, group separators and blanks; ``X`` digits read hexadecimal.
  Formats with other elements are refused.
* TRUNC(x, scale) of a FLOAT (trunc): toward zero at ``scale`` decimals, negative scales too.
* MD5_NUMBER_LOWER64 / _UPPER64 (md5_number_lower64): the low / high 64 bits of the digest.
* A FLOAT cast to NUMBER(p, s): the double's exact binary value rounded half away from zero at
  ``s`` decimals (to_double example: ``TO_DOUBLE(1.1)::NUMBER(38, 18)`` is 1.100000000000000089);
  DuckDB's own cast multiplies in floating point and is off in the last digits.
* A FLOAT as text (TO_VARCHAR, ``::VARCHAR``, ``||``): at most 10 significant digits, no trailing
  zeros (to_char example: ``TO_VARCHAR(LOG(3,4))`` is ``1.261859507``; ``5``, not ``5.0``). Only
  where the FLOAT is known from the query or the catalog; an untyped column keeps DuckDB's text.
* TO_CHAR / TO_VARCHAR of a BINARY with 'HEX', 'BASE64' or 'UTF-8' (to_char, binary-input-output).
* HASH (hash) cannot give Snowflake's values (see dialect_differences), but keeps its contract:
  a signed 64-bit number, and equal numbers hash equal whatever their type (``HASH(10)``,
  ``HASH(10::NUMBER(5,3))`` and ``HASH(10::FLOAT)`` are one value), so numbers are hashed as DOUBLE.
* SHA2 / SHA2_BINARY with 224, 384 or 512 bits (sha2): DuckDB has SHA-256 only, so the functions
  of ``engine.sql.local_functions`` compute them.
"""

from __future__ import annotations

import re

from sqlglot import exp

from engine.sql.dialect_annotate import NUMBERS, is_float, is_type
from engine.sql.dialect_common import Untranslatable, duck, is_native, mark_native
from engine.sql.local_functions import SHA2_SIZES

_DECIMAL_FORMAT = re.compile(r"^(?i:\$?S?[90,.DG]*|TM9|TME|TM)$")
_HEX_FORMAT = re.compile(r"^(?i:0*X+)$")
_TEXT = {exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT, exp.DataType.Type.CHAR}
_BINARY_FORMATS = {"HEX": "upper(hex(__X))", "BASE64": "to_base64(__X)", "UTF-8": "decode(__X)", "UTF8": "decode(__X)"}


def rewrite_node(node: exp.Expression) -> exp.Expression:
    """One node's rewrite (called bottom-up by dialect_functions.rewrite)."""
    if isinstance(node, exp.Cast) and _decimal_scale(node.to) and is_float(node.this):
        exact = duck("format('{:.30f}', CAST(__X AS DOUBLE))", x=node.this)
        return node.__class__(this=exact, to=node.to.copy())
    if isinstance(node, exp.ToChar) and node.args.get("format") is None and is_float(node.this):
        return _float_text(node.this)
    if isinstance(node, exp.Cast) and node.to.this in _TEXT and is_float(node.this):
        return _float_text(node.this)
    if isinstance(node, exp.DPipe):
        for key in ("this", "expression"):
            if is_float(node.args[key]):
                node.set(key, _float_text(node.args[key]))
        return node
    if isinstance(node, exp.ToNumber) and node.args.get("format") is not None:
        return _to_number(node)
    if isinstance(node, exp.Trunc) and node.args.get("decimals") is not None and _is_float(node.this):
        return duck("CASE WHEN __S IS NULL THEN NULL ELSE trunc(__X * pow(10, __S)) / pow(10, __S) END",
                    x=node.this, s=node.args["decimals"])
    if (isinstance(node, exp.Anonymous) and node.name.upper() in ("TRUNC", "TRUNCATE") and len(node.expressions) == 2
            and not node.expressions[1].is_string and _is_float(node.expressions[0])):
        # TRUNC(x, scale) with a scale that is not a constant (a constant one parses as exp.Trunc)
        return duck("CASE WHEN __S IS NULL THEN NULL ELSE trunc(__X * pow(10, __S)) / pow(10, __S) END",
                    x=node.expressions[0], s=node.expressions[1])
    if isinstance(node, exp.Anonymous) and node.name.upper() == "HASH" and not is_native(node):
        arguments = [exp.Cast(this=a, to=exp.DataType.build("DOUBLE")) if _is_number(a) else a for a in node.expressions]
        return duck("CAST(CAST(__H AS HUGEINT) - CASE WHEN __H > 9223372036854775807 THEN 18446744073709551616"
                    " ELSE 0 END AS BIGINT)", h=mark_native(exp.Anonymous(this="hash", expressions=arguments)))
    if isinstance(node, (exp.SHA2, exp.SHA2Digest)) and node.args.get("length") is not None:
        return _sha2(node)
    if isinstance(node, exp.MD5NumberLower64):
        return duck("CAST('0x' || substr(md5(__X), 17) AS UBIGINT)", x=node.this)
    if isinstance(node, exp.MD5NumberUpper64):
        return duck("CAST('0x' || substr(md5(__X), 1, 16) AS UBIGINT)", x=node.this)
    return node


def _is_number(node: exp.Expression) -> bool:
    return (isinstance(node, exp.Literal) and not node.is_string) or is_type(node, NUMBERS)


def _sha2(node: exp.SHA2 | exp.SHA2Digest) -> exp.Expression:
    length = node.args["length"]
    bits = int(length.name) if isinstance(length, exp.Literal) and length.is_int else None
    name = "SHA2_BINARY" if isinstance(node, exp.SHA2Digest) else "SHA2"
    if bits not in SHA2_SIZES:
        raise Untranslatable(f"{name} with a digest size of {length.sql(dialect='snowflake')}", node, keyword=name,
                             hint="give 224, 256, 384 or 512 as a number literal")
    if bits == 256:
        return node
    function = "pipe_sha2_binary" if isinstance(node, exp.SHA2Digest) else "pipe_sha2"
    return exp.Anonymous(this=function, expressions=[exp.Cast(this=node.this, to=exp.DataType.build("VARCHAR")),
                                                     exp.Literal.number(bits)])


def _float_text(value: exp.Expression) -> exp.Expression:
    return duck("printf('%.10g', CAST(__X AS DOUBLE))", x=value)


def binary_to_text(node: exp.ToChar) -> exp.Expression | None:
    """TO_CHAR(binary, 'HEX' | 'BASE64' | 'UTF-8') in DuckDB, or None for another format."""
    fmt = node.args.get("format")
    template = _BINARY_FORMATS.get(fmt.name.upper()) if fmt is not None and fmt.is_string else None
    return duck(template, x=node.this) if template else None


def _decimal_scale(datatype: exp.DataType) -> int:
    """The scale of a NUMBER(p, s) type, 0 for any other type."""
    if datatype.this != exp.DataType.Type.DECIMAL or len(datatype.expressions) < 2:
        return 0
    param = datatype.expressions[1]
    value = param.this if isinstance(param, exp.DataTypeParam) else param
    return int(value.name) if isinstance(value, exp.Literal) and value.is_int else 0


def _is_float(node: exp.Expression) -> bool:
    return is_float(node) or not is_type(node, {exp.DataType.Type.DECIMAL, exp.DataType.Type.INT,
                                                          exp.DataType.Type.BIGINT})


def _to_number(node: exp.ToNumber) -> exp.Expression:
    fmt = node.args["format"]
    safe = bool(node.args.get("safe"))
    if not fmt.is_string:
        raise Untranslatable("TO_NUMBER with a format that is not a constant", node, keyword="TO_",
                             hint="give the format as a string literal")
    text = fmt.name.strip()
    cast = "TRY_CAST" if safe else "CAST"
    if _HEX_FORMAT.match(text):
        return duck(f"{cast}('0x' || trim(__X) AS HUGEINT)", x=node.this)
    if not _DECIMAL_FORMAT.match(text):
        raise Untranslatable(f"TO_NUMBER / TO_DECIMAL with the format '{text}'", node, keyword="TO_",
                             hint="use a format of 9, 0, '.', ',', '$', S, TM9 or X elements")
    precision = node.args.get("precision")
    scale = node.args.get("scale")
    p = int(precision.name) if precision is not None and precision.is_int else 38
    s = int(scale.name) if scale is not None and scale.is_int else 0
    return duck(f"{cast}(replace(replace(replace(__X, '$', ''), ',', ''), ' ', '') AS DECIMAL({p}, {s}))",
                x=node.this)
