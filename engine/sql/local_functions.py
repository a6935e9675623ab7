"""Functions the local engine adds to DuckDB, for Snowflake functions DuckDB has no form of.

SHA2 / SHA2_HEX / SHA2_BINARY with a digest size of 224, 384 or 512 bits (sha2, sha2_binary):
DuckDB has SHA-256 only, Python's hashlib has all four; the digest is of the UTF-8 bytes of the
text, as Snowflake's. The translation writes ``pipe_sha2(x, bits)`` / ``pipe_sha2_binary(x,
bits)``; :func:`register` must run on every DuckDB connection that runs translated SQL.
"""

from __future__ import annotations

import hashlib

SHA2_SIZES = {224: hashlib.sha224, 256: hashlib.sha256, 384: hashlib.sha384, 512: hashlib.sha512}
NAMES = frozenset({"pipe_sha2", "pipe_sha2_binary"})


def _digest(value: str | bytes, bits: int) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return SHA2_SIZES[int(bits)](data).digest()


def register(con) -> None:
    """Add the functions of this module to the DuckDB connection ``con`` (once per connection)."""
    from duckdb import sqltypes

    existing = {row[0] for row in con.execute(
        "SELECT function_name FROM duckdb_functions() WHERE function_name LIKE 'pipe_%'").fetchall()}
    if "pipe_sha2" not in existing:
        con.create_function("pipe_sha2", lambda value, bits: _digest(value, bits).hex(),
                            [sqltypes.VARCHAR, sqltypes.BIGINT], sqltypes.VARCHAR, side_effects=False)
    if "pipe_sha2_binary" not in existing:
        con.create_function("pipe_sha2_binary", lambda value, bits: _digest(value, bits),
                            [sqltypes.VARCHAR, sqltypes.BIGINT], sqltypes.BLOB, side_effects=False)
