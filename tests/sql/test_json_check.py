"""CHECK_JSON locally (engine.sql.json_check), against the check_json and parse_json pages.

check_json page: NULL for a valid document or a NULL input, ``misplaced }, pos 32`` for
``'{"Malformed -- Missing value": }'`` (the position is 1-based: the ``}`` is the 32nd character);
a VARIANT holding that text as a string gives the same message. parse_json page, "Usage notes":
keys without quotes, NULL / TRUE / FALSE in any case and missing array elements are accepted.
"""

from __future__ import annotations

import duckdb
import pytest

from engine.sql import local_functions
from engine.sql.json_check import check_json
from engine.sql.translate import to_duckdb


@pytest.mark.parametrize("text", [
    '{"ValidKey1": "ValidValue1"}', None, "[1, ,77]", "[-1, 12, 289, 2188, false,]", "{a: NULL, b: True}", "  12 ",
])
def test_what_parse_json_reads_is_valid(text: str | None) -> None:
    assert check_json(text) is None


@pytest.mark.parametrize(("text", "position"), [
    ('{"Malformed -- Missing value": }', 32),
    ('{"a" 1}', 6),       # the 6th character is where the colon is missing
    ("[1 2]", 4),
    ('{"a":1,}', 8),
    ('"abc', 1),
])
def test_an_invalid_document_gives_the_position_of_its_first_error(text: str, position: int) -> None:
    message = check_json(text)
    assert message is not None and message.endswith(f", pos {position}")


def test_check_json_runs_translated_on_text_and_variant() -> None:
    con = duckdb.connect()
    local_functions.register(con)
    sql = to_duckdb("""SELECT CHECK_JSON(t) AS of_text, CHECK_JSON(t::VARIANT) AS of_variant,
                              CHECK_JSON(PARSE_JSON('[1, 2]')) AS of_array
                       FROM (SELECT '{"Malformed -- Missing value": }' AS t)""")
    assert con.execute(sql).fetchall() == [("misplaced }, pos 32", "misplaced }, pos 32", None)]
