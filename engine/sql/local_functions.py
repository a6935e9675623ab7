"""Functions the local engine adds to DuckDB, for Snowflake functions DuckDB has no form of.

SHA2 / SHA2_HEX / SHA2_BINARY with a digest size of 224, 384 or 512 bits (sha2, sha2_binary):
DuckDB has SHA-256 only, Python's hashlib has all four; the digest is of the UTF-8 bytes of the
text, as Snowflake's. The translation writes ``pipe_sha2(x, bits)`` / ``pipe_sha2_binary(x,
bits)``; :func:`register` must run on every DuckDB connection that runs translated SQL.

TO_JSON (to_json page): the JSON text of a VARIANT, with no white space and an OBJECT's keys in
the order Snowflake stores them, sorted (the page's example: TO_JSON(PARSE_JSON('{"b":1,"a":2}'))
is '{"a":2,"b":1}'); numbers keep the text they were written with. DuckDB keeps an object's keys
in the order of the text it parsed, so the translation writes ``pipe_to_json(text)``.

CHECK_JSON: ``pipe_check_json(text, is_variant)``, see engine.sql.json_check.
"""

from __future__ import annotations

import hashlib
import json

SHA2_SIZES = {224: hashlib.sha224, 256: hashlib.sha256, 384: hashlib.sha384, 512: hashlib.sha512}
NAMES = frozenset({"pipe_sha2", "pipe_sha2_binary", "pipe_to_json", "pipe_check_json"})


def _digest(value: str | bytes, bits: int) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return SHA2_SIZES[int(bits)](data).digest()


class _Number(str):
    """A JSON number as written in the text."""


def _written(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{_written(k)}:{_written(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_written(v) for v in value) + "]"
    if isinstance(value, _Number):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def to_json(text: str) -> str:
    """The JSON text ``text`` written as Snowflake's TO_JSON writes it (see the module docstring)."""
    return _written(json.loads(text, parse_int=_Number, parse_float=_Number))


def register(con) -> None:
    """Add the functions of this module to the DuckDB connection ``con`` (once per connection)."""
    from duckdb import sqltypes

    existing = {row[0] for row in con.execute(
        "SELECT function_name FROM duckdb_functions() WHERE function_name LIKE 'pipe_%'").fetchall()}
    if "pipe_sha2" not in existing:
        con.create_function("pipe_sha2", lambda value, bits: _digest(value, bits).hex(),
                            [sqltypes.VARCHAR, sqltypes.BIGINT], sqltypes.VARCHAR, side_effects=False)
    if "pipe_check_json" not in existing:
        from engine.sql.json_check import check_json

        con.create_function("pipe_check_json", check_json, [sqltypes.VARCHAR, sqltypes.BOOLEAN], sqltypes.VARCHAR,
                            side_effects=False, null_handling="special")
    if "pipe_to_json" not in existing:
        con.create_function("pipe_to_json", to_json, [sqltypes.VARCHAR], sqltypes.VARCHAR, side_effects=False)
    if "pipe_sha2_binary" not in existing:
        con.create_function("pipe_sha2_binary", lambda value, bits: _digest(value, bits),
                            [sqltypes.VARCHAR, sqltypes.BIGINT], sqltypes.BLOB, side_effects=False)
