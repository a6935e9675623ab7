"""SQL: templates and rendering, query analysis, and Snowflake -> DuckDB translation."""
