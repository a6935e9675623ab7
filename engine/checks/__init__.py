"""Declared checks and query unit tests: validated at load, evaluated locally after every refresh
and by ``pipe test``, deployed to Snowflake as data metric functions.

Modules: :mod:`.declared` (what the file declares, and its validation), :mod:`.local` (evaluation
on the local database, from a refresh's change where possible), :mod:`.unit` (query unit tests),
:mod:`.snowflake` (data metric functions), :mod:`.run` (``pipe test``).
"""
