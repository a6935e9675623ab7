"""The local scheduler: which dynamic tables are due for a refresh to stay within their lag.

Like Snowflake, only tables with a time target lag start refreshes; DOWNSTREAM tables are
refreshed as the upstream of those, at the same data timestamp. A table is refreshed once
half its target lag has passed since its data timestamp, so that the next refresh lands well
within the target. Suspended tables are skipped.
"""

from __future__ import annotations

from datetime import datetime

from engine.backends.local.store import Store
from engine.graph import PipelineGraph


def due(store: Store, graph: PipelineGraph, now: datetime) -> list[str]:
    """The time-lagged dynamic tables whose data is old enough to refresh now."""
    meta = {name: (row["STATE"], row["DATA_TIMESTAMP"]) for name, row in store.dynamic_tables().items()}
    names = []
    for name in graph.dynamic_tables:
        lag = graph.pipeline.dynamic_tables[name].lag_seconds
        if lag is None or name not in meta:
            continue
        state, stamp = meta[name]
        if state == "SUSPENDED":
            continue
        if stamp is None or (now - stamp).total_seconds() >= lag / 2:
            names.append(name)
    return names
