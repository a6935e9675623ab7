"""Following the refresh history cheaply while ``pipe stream`` runs.

Every poll of DYNAMIC_TABLE_REFRESH_HISTORY is a query on the warehouse, so the stream asks
only for what it has not seen: refreshes at or after the newest data timestamp it already
reported (DATA_TIMESTAMP_START), a bounded RESULT_LIMIT, and no more often than an interval
that doubles while nothing new arrives and starts again short after each batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from engine.backends.base import RefreshRecord
from engine.backends.snowflake.state import FINAL_STATES
from engine.kinds import RefreshTrigger


@dataclass
class HistoryPoller:
    """When to poll next and from which data timestamp.

    Args:
        first_interval: seconds between the first polls after a batch.
        max_interval: the interval never grows past this.
        clock: monotonic seconds (tests replace it).
    """

    first_interval: float = 2.0
    max_interval: float = 30.0
    clock: Callable[[], float] = time.monotonic
    since: datetime | None = None
    interval: float = field(init=False)
    _next: float = field(init=False, default=0.0)
    _seen: set = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.interval = self.first_interval

    def start(self, since: datetime) -> None:
        """Follow refreshes from ``since`` on (the first batch's time, less clock slack)."""
        if self.since is None:
            self.since = since

    def nudge(self) -> None:
        """New rows arrived: poll again after the shortest interval (not at once: no refresh
        can have finished yet)."""
        self.interval = self.first_interval
        self._next = self.clock() + self.first_interval

    def due(self) -> bool:
        """Whether a poll should run now."""
        return self.since is not None and self.clock() >= self._next

    def take(self, records: list[RefreshRecord]) -> list[RefreshRecord]:
        """The finished refreshes not reported yet, oldest first; schedules the next poll.

        ``records`` is newest first, as the history query returns them. Running refreshes are
        left for a later poll: the window's start moves to the oldest one still running, or else
        to the newest data timestamp reported (DATA_TIMESTAMP_START is inclusive; the seen set
        drops the repeats).
        """
        fresh, running = [], []
        for record in reversed(records):
            if record.state not in FINAL_STATES:
                running.append(record.data_timestamp)
                continue
            if record.refresh_trigger == RefreshTrigger.CREATION or _key(record) in self._seen:
                continue
            fresh.append(record)
        self._seen.update(_key(r) for r in fresh)
        running_stamps = [s for s in running if s is not None]
        if running_stamps:
            self._advance(min(running_stamps))
        else:
            self._advance(max((r.data_timestamp for r in fresh if r.data_timestamp), default=None))
        self.interval = self.first_interval if fresh else min(self.interval * 2, self.max_interval)
        self._next = self.clock() + self.interval
        return fresh

    def mark_seen(self, records: list[RefreshRecord]) -> None:
        """Remember ``records`` as reported and move the window past them."""
        self._seen.update(_key(r) for r in records)
        self._advance(max((r.data_timestamp for r in records if r.data_timestamp), default=None))

    def _advance(self, stamp: datetime | None) -> None:
        if stamp is not None and self.since is not None:
            self.since = max(self.since, stamp)


def _key(record: RefreshRecord) -> tuple:
    return (record.name, record.data_timestamp, record.refresh_start_time, record.refresh_trigger)
