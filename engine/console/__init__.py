"""Everything the CLI shows, with rich: tables, plans, progress, errors.

Plain (no colours, no boxes) when the output is not a terminal. :mod:`.base` holds the consoles
and one-line messages, :mod:`.plans` what validate, plan, apply and destroy show, :mod:`.progress`
the bars and the stream's lines, :mod:`.results` what is read back from a target.
"""

from engine.console.base import error, note, plain, stderr, stdout, warn, warnings
from engine.console.plans import (
    applied, collapse_function_bodies, confirm_destroy, confirm_plan, destroyed, plan, plan_record, validated,
)
from engine.console.progress import (
    CliReporter, StreamReporter, changes_kept, refresh_kept, reporter, stopped, stream_display, stream_kept, ui_kept,
)
from engine.console.results import history, initialised, query_result, sinks, status, test_report

__all__ = [
    "CliReporter", "StreamReporter", "applied", "changes_kept", "collapse_function_bodies", "confirm_destroy", "confirm_plan",
    "destroyed", "error", "history", "initialised", "note", "plain", "plan", "plan_record", "query_result",
    "refresh_kept", "reporter", "sinks", "status", "stderr", "stdout", "stopped", "stream_display", "stream_kept",
    "test_report", "ui_kept", "validated", "warn", "warnings",
]
