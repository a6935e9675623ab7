"""Which seed each generator call runs with, on both targets.

A table made from a generator is filled with the pipeline's ``seed``. A stream batch runs with
the seed moved on by the table's row count before the batch, so batches differ from one another
(new members and values, not only new ids) while a rerun of the same sequence reproduces them.
Locally the engine sets the module's ``SEED`` before calling the handler. On Snowflake the UDTF
takes the seed as one more argument, ``PIPE_SEED``, after the generator's own: the handler pipe
names in ``HANDLER`` (:data:`HANDLER`, appended to the module text by :func:`seeded_handler`)
sets ``SEED`` from it and hands the other arguments to the module's handler class.

    >>> batch_seed(42, rows_before=10_000)
    10042
"""

from __future__ import annotations

SEED_ARGUMENT = "PIPE_SEED"
"""The UDTF's last argument: the seed of the call."""
SEED_TYPE = "NUMBER"
HANDLER = "PipeSeededHandler"
"""The class the UDTF's HANDLER names: it seeds the call, then delegates to the module's handler."""


def batch_seed(seed: int, *, rows_before: int) -> int:
    """The seed of a stream batch into a table holding ``rows_before`` rows."""
    return seed + rows_before


def seeded_handler(handler: str) -> str:
    """Python appended to a generator module in its UDTF body: the handler class Snowflake calls.

    Snowflake instantiates it with no arguments once per partition, calls ``process`` for each
    input row and ``end_partition`` at the end; it passes all of that on to one instance of
    ``handler``, made once ``SEED`` holds the first row's seed (handlers read ``SEED`` when they
    start).
    """
    return f'''

class {HANDLER}:
    """pipe's UDTF handler: the last argument is the call's seed; the others go to {handler}."""

    def __init__(self):
        self._handler = None

    def process(self, *args):
        global SEED
        SEED = args[-1]
        if self._handler is None:
            self._handler = {handler}()
        return self._handler.process(*args[:-1])

    def end_partition(self):
        finish = getattr(self._handler, "end_partition", None)
        return finish() if finish is not None else None'''
