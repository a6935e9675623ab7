"""Kept for the local applier, which drops a replaced table's aggregate state through it; the
code lives in :mod:`engine.backends.local.incremental.aggstate`."""

from engine.backends.local.incremental.aggstate import drop

__all__ = ["drop"]
