"""Generators: Faker-based Python UDTFs on Snowflake, run locally from the same module.

A generator module is plain Python that a Snowflake UDTF embeds verbatim: its handler class
yields rows from ``process(self, *args)``. Locally the module is imported from its file and
run the same way (the UDTF path), or, when the handler also offers ``process_columns``, as
NumPy columns loaded into DuckDB in bulk (the fast path, same rows).
"""

from engine.generators.local import generate_rows, generator_columns, insert_generated
from engine.generators.modules import load_module, udtf_source
from engine.generators.values import Column, duckdb_type

__all__ = [
    "Column",
    "duckdb_type",
    "generate_rows",
    "generator_columns",
    "insert_generated",
    "load_module",
    "udtf_source",
]
