"""One dynamic-table-properties type: built from the file and from a target's record, compared once."""

from __future__ import annotations

import pytest

from engine.kinds import Initialize, RefreshMode
from engine.properties import DynamicTableProperties, same_lag
from engine.spec.loader import load_pipeline
from helpers import FIXTURES



@pytest.fixture
def declared():
    return DynamicTableProperties.declared(load_pipeline(FIXTURES / "properties" / "declared.yaml"), "D")


def test_declared_from_the_file(declared):
    assert declared == DynamicTableProperties(
        query="SELECT id FROM T", target_lag="60 seconds", warehouse="WH",
        refresh_mode=RefreshMode.INCREMENTAL, initialize=Initialize.ON_SCHEDULE, comment="counts",
    )


def test_a_record_reads_back_equal(declared):
    assert DynamicTableProperties.from_record(declared.record()) == declared
    assert declared.record()["refresh_mode"] == "INCREMENTAL" and declared.record()["initialize"] == "ON_SCHEDULE"


def test_the_same_table_written_otherwise_has_no_differences(declared):
    shown = DynamicTableProperties.from_record(
        {"sql": "select ID\nfrom t;", "target_lag": "1 minute", "warehouse": "wh", "refresh_mode": "'incremental'",
         "comment": "counts"}  # no initialize: targets do not show it, and it is not compared
    )
    assert shown.differences(declared) == ()


def test_differences_in_plan_order(declared):
    current = DynamicTableProperties.from_record(
        {"sql": "SELECT id + 1 FROM T", "target_lag": "2 minutes", "warehouse": "OTHER", "refresh_mode": None}
    )
    found = current.differences(declared)
    assert [(d.property, d.current, d.desired) for d in found] == [
        ("query", "SELECT id + 1 FROM T", "SELECT id FROM T"),
        ("refresh_mode", "AUTO", "INCREMENTAL"),  # an absent REFRESH_MODE is AUTO
        ("target_lag", "2 minutes", "60 seconds"),
        ("warehouse", "OTHER", "WH"),
        ("comment", None, "counts"),
    ]


def test_an_unknown_mode_on_the_target_differs(declared):
    current = DynamicTableProperties.from_record({**declared.record(), "refresh_mode": "SOMETIMES"})
    assert current.refresh_mode is None
    assert [(d.property, d.current) for d in current.differences(declared)] == [("refresh_mode", None)]


@pytest.mark.parametrize(
    "a, b, same",
    [("60 seconds", "1 minute", True), ("DOWNSTREAM", "downstream", True), ("2 hours", "120 minutes", True),
     ("1 hour", "61 minutes", False), (None, "1 minute", False), (None, None, True), ("soon", "1 minute", False)],
)
def test_lags_compare_by_duration(a, b, same):
    assert same_lag(a, b) is same
