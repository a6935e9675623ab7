"""The enums of kinds and states print, format, serialise and compare as the words they replace."""

from __future__ import annotations

import json

import pytest

from engine.kinds import ActionKind, Initialize, ObjectKind, RefreshMode, RefreshState, State


def test_members_print_as_their_words():
    assert str(ObjectKind.DYNAMIC_TABLE) == "dynamic_table"
    assert f"{ActionKind.CREATE} {State.NOT_CREATED:<12}|" == "create NOT CREATED |"
    assert json.dumps({"kind": ObjectKind.TABLE, "mode": RefreshMode.FULL}) == '{"kind": "table", "mode": "FULL"}'


def test_members_equal_and_hash_as_their_words():
    assert ObjectKind.TABLE == "table" and "FAILED" == RefreshState.FAILED
    assert {"table": 1}[ObjectKind.TABLE] == 1 and "NOT CREATED" in {State.NOT_CREATED}
    assert "CANCELED" in frozenset(RefreshState)  # the docs' other spelling


@pytest.mark.parametrize(
    "text, mode",
    [("auto", RefreshMode.AUTO), ("'INCREMENTAL'", RefreshMode.INCREMENTAL), ("Full", RefreshMode.FULL), (None, RefreshMode.AUTO)],
)
def test_refresh_mode_is_read_in_any_case(text, mode):
    assert RefreshMode.of(text) is mode


def test_initialize_defaults_to_on_create_and_rejects_other_words():
    assert Initialize.of("") is Initialize.ON_CREATE and Initialize.of("on_schedule") is Initialize.ON_SCHEDULE
    with pytest.raises(ValueError):
        Initialize.of("sometimes")
