"""The typed model: names, types, forms, defaults, frozen values, and the JSON Schema."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationError

from engine.spec.model import DynamicTable, Generator, Pipeline, Stream, Table
from engine.spec.schema import field_docstrings, json_schema
from helpers import ENGAGEMENT

BASE = {"version": 1, "name": "t", "snowflake": {"database": "db", "schema": "sc", "warehouse": "wh"}}


def pipeline(**extra) -> Pipeline:
    return Pipeline.model_validate({**BASE, **extra})


def test_names_are_upper_case_identifiers():
    p = pipeline(
        tables={"members": {"columns": {"id": "number"}}},
        dynamic_tables={"Summary": {"target_lag": "1 minute", "sql": "SELECT 1 AS x"}},
    )
    assert p.snowflake.database == "DB" and p.snowflake.schema_name == "SC" and p.snowflake.warehouse == "WH"
    assert list(p.tables) == ["MEMBERS"]
    assert list(p.dynamic_tables) == ["SUMMARY"]
    assert p.object_names == ["MEMBERS", "SUMMARY"]


@pytest.mark.parametrize(
    "name",
    ["a b", "1abc", "x;y", "T; DROP TABLE X", 'q"uote', "dash-name", "", "a" * 256, "é"],
)
def test_invalid_identifiers(name):
    with pytest.raises(ValidationError, match="not a valid Snowflake identifier"):
        pipeline(tables={name: {"columns": {"id": "number"}}})


@pytest.mark.parametrize("name", ["_x", "a$b", "A1", "a" * 255, "members_2024"])
def test_valid_identifiers(name):
    assert name.upper() in pipeline(tables={name: {"columns": {"id": "number"}}}).tables


@pytest.mark.parametrize("name", ["select", "TABLE", "Order", "from", "current_date"])
def test_reserved_keywords_are_not_names(name):
    with pytest.raises(ValidationError, match="reserved Snowflake keyword"):
        pipeline(tables={name: {"columns": {"id": "number"}}})


@pytest.mark.parametrize(
    "where",
    [
        {"tables": {"T": {"columns": {"id) ; --": "number"}}}},
        {"generators": {"g(); --": {"module": "m.py", "handler": "H", "returns": {"id": "number"}}}},
        {"generators": {"g": {"module": "m.py", "handler": "H", "returns": {"a b": "number"}}}},
        {"generators": {"g": {"module": "m.py", "handler": "H", "args": {"n;": "number"}, "returns": {"x": "number"}}}},
        {"snowflake": {"database": "DB", "schema": "S.X", "warehouse": "WH"}},
    ],
)
def test_no_sql_through_names(where):
    with pytest.raises(ValidationError, match="not a valid Snowflake identifier"):
        pipeline(**where)


def test_handler_must_be_a_python_name():
    with pytest.raises(ValidationError, match="handler"):
        Generator.model_validate({"module": "m.py", "handler": "A; import os", "returns": {"x": "number"}})


@pytest.mark.parametrize(
    ("written", "kept"),
    [("number", "NUMBER"), ("varchar", "VARCHAR"), ("Number(10, 2)", "NUMBER(10, 2)"), ("timestamp_ntz", "TIMESTAMP_NTZ"),
     ("double   precision", "DOUBLE PRECISION"), ("variant", "VARIANT")],
)
def test_column_types_are_normalised(written, kept):
    gen = Generator.model_validate({"module": "m.py", "handler": "H", "returns": {"x": written}})
    assert gen.returns == {"x": kept}


@pytest.mark.parametrize("written", ["numbr", "varchar(", "number(a)", "int; drop", "geography"])
def test_unknown_column_types(written):
    with pytest.raises(ValidationError, match="not a Snowflake column type"):
        Generator.model_validate({"module": "m.py", "handler": "H", "returns": {"x": written}})


def test_generator_needs_columns_and_unique_ones():
    with pytest.raises(ValidationError, match="returns must list at least one column"):
        Generator.model_validate({"module": "m.py", "handler": "H", "returns": {}})
    with pytest.raises(ValidationError, match="column names are case-insensitive"):
        Generator.model_validate({"module": "m.py", "handler": "H", "returns": {"x": "number", "X": "varchar"}})


def test_generator_defaults():
    gen = Generator.model_validate({"module": "m.py", "handler": "H", "returns": {"x": "number"}})
    assert gen.args == {} and gen.packages == ["faker"] and gen.runtime_version == "3.11" and gen.comment is None


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ({"generator": "g", "args": [1]}, "generated"),
        ({"columns": {"a": "number"}}, "empty"),
        ({"external": True}, "external"),
        ({"external": True, "columns": {"a": "number"}}, "external"),  # columns checked by the compiler
    ],
)
def test_table_forms(spec, kind):
    assert Table.model_validate(spec).kind == kind


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "exactly one of generator, columns or external"),
        ({"generator": "g", "external": True}, "exactly one of"),
        ({"generator": "g", "columns": {"a": "number"}}, "exactly one of"),
        ({"columns": {"a": "number"}, "args": [1]}, "args and order_by go with generator"),
        ({"external": True, "order_by": ["a"]}, "args and order_by go with generator"),
        ({"columns": {}}, "at least one column"),
    ],
)
def test_bad_table_forms(spec, message):
    with pytest.raises(ValidationError, match=message):
        Table.model_validate(spec)


def test_dynamic_table_defaults_and_lag():
    dt = DynamicTable.model_validate({"sql": "SELECT 1", "target_lag": " 2 minutes "})
    assert dt.refresh_mode == "auto" and dt.initialize == "on_create" and dt.warehouse is None
    assert dt.target_lag == "2 minutes" and dt.lag_seconds == 120
    assert DynamicTable.model_validate({"sql": "SELECT 1", "target_lag": "downstream"}).lag_seconds is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"sql": "SELECT 1", "target_lag": "30 seconds"}, "minimum of 60 seconds"),
        ({"sql": "SELECT 1", "target_lag": "1 minute", "refresh_mode": "partial"}, "refresh_mode"),
        ({"sql": "SELECT 1", "target_lag": "1 minute", "initialize": "later"}, "initialize"),
        ({"sql": "", "target_lag": "1 minute"}, "at least 1 character"),
        ({"sql": "SELECT 1"}, "target_lag"),
        ({"sql": "SELECT 1", "target_lag": "1 minute", "lag": "1 minute"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_dynamic_tables(spec, message):
    with pytest.raises(ValidationError, match=message):
        DynamicTable.model_validate(spec)


def test_stream_delay_and_defaults():
    stream = Stream.model_validate({"table": "raw", "generator": "g"})
    assert stream.table == "RAW" and stream.batches == 5 and stream.records == 100 and stream.delay_seconds == 10
    assert Stream.model_validate({"table": "raw", "generator": "g", "delay": 2.5}).delay_seconds == 2.5
    with pytest.raises(ValidationError, match="is not a duration"):
        Stream.model_validate({"table": "raw", "generator": "g", "delay": "soon"})
    with pytest.raises(ValidationError, match="batches"):
        Stream.model_validate({"table": "raw", "generator": "g", "batches": 0})


def test_models_are_frozen():
    p = pipeline(tables={"T": {"columns": {"id": "number"}}})
    with pytest.raises(ValidationError):
        p.name = "other"
    with pytest.raises(ValidationError):
        p.tables["T"].external = True


def test_version_must_be_1():
    with pytest.raises(ValidationError, match="version"):
        Pipeline.model_validate({**BASE, "version": 2})


def test_generator_lookup_is_case_insensitive():
    p = pipeline(generators={"gen_rows": {"module": "m.py", "handler": "H", "returns": {"x": "number"}}})
    assert p.generator("GEN_ROWS") is p.generators["gen_rows"]
    assert p.generator_name("Gen_Rows") == "gen_rows"
    assert p.generator("nope") is None


def _models(model: type[BaseModel], seen: set) -> None:
    seen.add(model)
    for field in model.model_fields.values():
        for sub in _nested(field.annotation):
            if sub not in seen:
                _models(sub, seen)


def _nested(annotation) -> list[type[BaseModel]]:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _nested(arg)]


def test_every_field_has_a_docstring():
    models: set = set()
    _models(Pipeline, models)
    assert {m.__name__ for m in models} == {
        "Pipeline", "SnowflakeTarget", "Generator", "Table", "DynamicTable", "Stream",
        "Check", "AcceptedValues", "Relationship", "RowCount", "Freshness", "UnitTest", "Rows",
    }
    for model in models:
        assert model.__doc__, model
        docs = field_docstrings(model)
        for name in model.model_fields:
            assert docs.get(name), f"{model.__name__}.{name} has no docstring"


def test_field_docstrings_are_the_schema_descriptions():
    # Read from the source as pydantic's use_attribute_docstrings reads them, indentation removed.
    assert field_docstrings(Stream)["batches"] == "Number of batches."
    assert field_docstrings(Stream)["args"].splitlines()[:2] == [
        "Generator arguments; {{ records }}, {{ batch }} (1, 2, … in each run) and {{ rows }} (the",
        "table's row count before the batch: unlike {{ batch }}, unique across runs) are available. Each",
    ]
    stream = json_schema()["$defs"]["Stream"]["properties"]
    assert stream["batches"]["description"] == "Number of batches."
    assert stream["args"]["description"] == field_docstrings(Stream)["args"]
    # The models still validate as before once their schemas are rebuilt with descriptions.
    assert Stream.model_validate({"table": "raw", "generator": "g"}).table == "RAW"


def test_json_schema():
    schema = json_schema()
    json.dumps(schema)  # serialisable
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"version", "name", "snowflake"}
    target = schema["$defs"]["SnowflakeTarget"]
    assert set(target["properties"]) == {"database", "schema", "warehouse"}  # the YAML key, not schema_name
    for name, definition in schema["$defs"].items():
        assert definition.get("additionalProperties") is False, name
        for prop, body in definition["properties"].items():
            assert body.get("description"), f"{name}.{prop}"
    lag = schema["$defs"]["DynamicTable"]["properties"]["refresh_mode"]
    assert lag["enum"] == ["auto", "full", "incremental"]


def test_engagement_file_validates_against_the_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    data = yaml.safe_load(ENGAGEMENT.read_text())
    jsonschema.validate(data, json_schema())
    data["dynamic_tables"]["MEMBER_SESSIONS"]["lag"] = "1 minute"
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        jsonschema.validate(data, json_schema())


@pytest.mark.parametrize("setting", [None, "logfire"])
def test_the_models_are_built_without_looking_for_pydantic_plugins(setting):
    import os
    import subprocess
    import sys

    from helpers import ROOT

    code = (
        "import os, engine.spec\n"
        "from pydantic.plugin import _loader\n"
        "print(_loader._plugins is None, os.environ.get('PYDANTIC_DISABLE_PLUGINS'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if setting is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = setting
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", str(setting)]  # not scanned; the user's setting is left as it was
