"""What the terminal shows of a refresh as it happens."""

from __future__ import annotations

from datetime import datetime

import pytest

from engine.backends.base import RefreshRecord
from engine.console import StreamReporter

AT = datetime(2026, 1, 1)


def _line(capsys, action: str, state: str = "SUCCEEDED", message: str | None = None) -> str:
    record = RefreshRecord("T", state, message, action, "SCHEDULED", AT, AT, AT, 1, 0)
    StreamReporter(None, None).event("refresh", record=record)
    return capsys.readouterr().out


@pytest.mark.parametrize("action", ["FULL", "REINITIALIZE"])
def test_a_full_refresh_says_why(capsys, action):
    assert "— SRC was written outside pipe" in _line(capsys, action, message="SRC was written outside pipe")


def test_an_incremental_refresh_line_has_no_message(capsys):
    assert "—" not in _line(capsys, "INCREMENTAL", message="anything")


def test_a_failed_refresh_says_why(capsys):
    assert "— T: division by zero" in _line(capsys, None, state="FAILED", message="T: division by zero")
