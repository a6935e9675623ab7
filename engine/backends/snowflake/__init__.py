"""The Snowflake backend, split by role.

* :mod:`.connection` finds the named connection the way the connector does, opens the session
  (warehouse, database, schema and QUERY_TAG set before any query) and maps driver errors;
* :mod:`.state` is the state reader: the introspection statements (SHOW, the refresh-history
  table function) and their rows as statuses and refresh records;
* :mod:`.diff` reads Snowflake's rewritten DDL text and pipe's fingerprints into the planner's
  :class:`~engine.planner.TargetState`;
* :mod:`.executor` is :class:`SnowflakeBackend`: it runs plans, refreshes and stream batches and
  polls the refresh history (:mod:`.polling`).

Only :mod:`.connection` imports the connector, and only when a connection is opened.
"""

from engine.backends.snowflake.executor import SnowflakeBackend, plan_groups

__all__ = ["SnowflakeBackend", "plan_groups"]
