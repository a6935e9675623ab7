"""Text and binary functions sqlglot writes for DuckDB with another meaning.

* Text becomes BINARY as hexadecimal digits, Snowflake's default BINARY_INPUT_FORMAT
  (binary-input-output): ``'4869'::BINARY``, ``TO_BINARY('4869')``; DuckDB's cast takes the
  text's bytes and its ``to_binary`` writes bits.
* BASE64_ENCODE of text encodes its UTF-8 bytes (base64_encode); DuckDB's to_base64 takes bytes.
* POSITION / CHARINDEX of a BINARY in a BINARY counts bytes (position, charindex examples);
  LPAD / RPAD of a BINARY pad with the bytes given (lpad, rpad examples). DuckDB has these for
  text only, so the bytes are handled as pairs of hexadecimal digits.
* UPPER / LOWER with a Turkish or Azerbaijani collation map dotted and dotless i the Turkish way
  (upper, lower: ``UPPER('i' COLLATE 'tr')`` is ``İ``); another collation does not change them.
* REGEXP_SUBSTR_ALL with the ``e`` parameter extracts group 1 (regexp_substr_all); sqlglot
  writes a missing group number as 0, the whole match.
"""

from __future__ import annotations

from sqlglot import exp

from engine.sql.dialect_annotate import TEXT, is_type
from engine.sql.dialect_common import duck

T = exp.DataType.Type
_BINARY = {T.BINARY, T.VARBINARY}
_TURKIC = ("tr", "az")
_SAFE_HEX = "CASE WHEN regexp_full_match(__X, '([0-9A-Fa-f]{2})*') THEN unhex(__X) END"
_BYTE_POSITION = ("CASE WHEN regexp_matches(hex(__H), '^(?:..)*?' || hex(__N)) "
                  "THEN length(regexp_extract(hex(__H), '^((?:..)*?)' || hex(__N), 1)) // 2 + 1 ELSE 0 END")


def rewrite_node(node: exp.Expression) -> exp.Expression:
    """One node's rewrite (called bottom-up by dialect_functions.rewrite)."""
    if isinstance(node, exp.Cast) and node.to.this in _BINARY and is_type(node.this, TEXT):
        return duck(_SAFE_HEX if isinstance(node, exp.TryCast) else "unhex(__X)", x=node.this)
    if isinstance(node, exp.ToBinary) and node.args.get("format") is None:
        return duck(_SAFE_HEX if node.args.get("safe") else "unhex(__X)", x=node.this)
    if isinstance(node, exp.Base64Encode) and not _is_binary(node.this):
        node.set("this", exp.Encode(this=node.this, charset=exp.Literal.string("utf-8")))
        return node
    if isinstance(node, exp.StrPosition) and _is_binary(node.this) and _is_binary(node.args["substr"]):
        return _byte_position(node)
    if isinstance(node, exp.Pad) and _is_binary(node.this):
        function = "lpad" if node.args.get("is_left") else "rpad"
        fill = node.args.get("fill_pattern")
        return duck(f"unhex({function}(hex(__X), 2 * __N, hex(__FILL)))", x=node.this, n=node.expression,
                    fill=fill if fill is not None else duck("unhex('20')"))
    if isinstance(node, (exp.Upper, exp.Lower)) and isinstance(node.this, exp.Collate):
        return _case_with_collation(node)
    if (isinstance(node, exp.RegexpExtractAll) and _int(node.args.get("group")) == 0
            and "e" in _text(node.args.get("parameters")) and "(" in _text(node.expression)):
        node.set("group", exp.Literal.number(1))
        return node
    return node


def _is_binary(node: exp.Expression) -> bool:
    return isinstance(node, exp.HexString) or is_type(node, _BINARY)


def _byte_position(node: exp.StrPosition) -> exp.Expression:
    haystack = node.this
    position = node.args.get("position")
    if position is None:
        return duck(_BYTE_POSITION, h=haystack, n=node.args["substr"])
    found = duck(_BYTE_POSITION, h=duck("unhex(substr(hex(__H), 2 * greatest(__P, 1) - 1))", h=haystack, p=position),
                 n=node.args["substr"])
    return duck("CASE WHEN __F = 0 THEN 0 ELSE __F + greatest(__P, 1) - 1 END", f=found, p=position)


def _case_with_collation(node: exp.Upper | exp.Lower) -> exp.Expression:
    collate = node.this
    locale = _text(collate.expression).lower()
    value = collate.this
    if not locale.split("-")[0] in _TURKIC:
        return node.__class__(this=value)
    if isinstance(node, exp.Upper):
        return duck("upper(replace(__X, 'i', 'İ'))", x=value)
    return duck("lower(replace(replace(__X, 'I', 'ı'), 'İ', 'i'))", x=value)


def _text(node: exp.Expression | None) -> str:
    if node is None:
        return ""
    if isinstance(node, (exp.Literal, exp.Identifier, exp.Var)):
        return node.name
    if isinstance(node, exp.Column):
        return node.name
    return ""


def _int(node: exp.Expression | None) -> int | None:
    return int(node.name) if isinstance(node, exp.Literal) and node.is_int else None
