"""The JSON Schema of the pipeline file, for editors (``pipe schema``)."""

from __future__ import annotations

from typing import Any

from engine.spec.model import Pipeline

SCHEMA_ID = "urn:pipe:pipeline:v1"
TESTS_SCHEMA_ID = "urn:pipe:tests:v1"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a version 1 pipeline file."""
    schema = Pipeline.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def tests_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a unit tests file (``tests/*.yaml`` beside a pipeline file)."""
    from engine.spec.checks import UnitTestFile

    schema = UnitTestFile.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": TESTS_SCHEMA_ID, **schema}
