"""Generators: Faker-based Python UDTFs on Snowflake, run locally from the same module.

A generator module is plain Python that a Snowflake UDTF embeds verbatim: its handler class
yields rows from ``process(self, *args)``. Locally the module is imported from its file and
run the same way (the UDTF path), or, when the handler also offers ``process_columns``, as
NumPy columns loaded into DuckDB in bulk (the fast path, same rows). :mod:`.seeding` says which
seed each call runs with, on both targets.

Names are imported on first use, so that rendering SQL (which needs :mod:`.seeding` only) loads
no database driver.
"""

from __future__ import annotations

from engine.lazy import exports

__all__ = [
    "Column",
    "duckdb_type",
    "generate_rows",
    "generator_columns",
    "insert_generated",
    "load_module",
    "udtf_source",
]

# Imported on first use: rendering a UDTF (pipe plan) reads engine.generators.packages, which
# must not import DuckDB through engine.generators.local.
__getattr__, __dir__ = exports(
    __name__,
    {
        "Column": "engine.generators.values",
        "duckdb_type": "engine.generators.values",
        "generate_rows": "engine.generators.local",
        "generator_columns": "engine.generators.local",
        "insert_generated": "engine.generators.local",
        "load_module": "engine.generators.modules",
        "udtf_source": "engine.generators.modules",
    },
)
