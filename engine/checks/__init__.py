"""Declared checks and query unit tests: validated at load, evaluated locally after every write
and by ``pipe test``, deployed to Snowflake as data metric functions.

Modules: :mod:`.declared` (what the file declares, and its validation), :mod:`.files` (unit tests
in ``tests/*.yaml`` beside the pipeline file), :mod:`.local` (evaluation on the local database,
from a write's change where possible), :mod:`.after_refresh` (when they run: inside each refresh's
transaction, after a streamed batch, after apply), :mod:`.unit` (query unit tests),
:mod:`.snowflake` (data metric functions), :mod:`.run` (``pipe test``).
"""
