"""The shipped list of DuckDB functions matches the DuckDB the local engine runs."""

import duckdb

from engine.sql.dialect_functions import duckdb_functions


def test_shipped_function_list_matches_installed_duckdb():
    with duckdb.connect() as connection:
        installed = {n.lower() for (n,) in connection.execute("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()}
    shipped = duckdb_functions()
    assert "json_extract_string" in shipped and "mode" in shipped
    missing = sorted(shipped - installed)
    assert not missing, f"functions listed but not in DuckDB {duckdb.__version__}: {missing[:10]}"
