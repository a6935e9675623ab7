"""Incremental refresh: recompute only the rows a change can touch.

The package is split by role: :mod:`.orchestrator` decides how each refresh is done;
:mod:`.keys` and :mod:`.restriction` find and read the rows of the affected keys;
:mod:`.preaggregation` and :mod:`.aggstate` (recognised by :mod:`.recognition`) keep what a
grouped query needs materialised between refreshes.
"""

from engine.backends.local.incremental.orchestrator import Incremental, Outcome

__all__ = ["Incremental", "Outcome"]
