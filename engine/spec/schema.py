"""The JSON Schema of the pipeline file, for editors (``pipe schema``).

Its descriptions are the models' field docstrings. Pydantic could read them as each model class is
made (``use_attribute_docstrings``), but that parses each model's source again at import: a cost
every command would pay for what only this one shows. They are read here instead, once.
"""

from __future__ import annotations

import ast
import inspect
import sys
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from engine.spec import checks, model
from engine.spec.model import Pipeline

SCHEMA_ID = "urn:pipe:pipeline:v1"
TESTS_SCHEMA_ID = "urn:pipe:tests:v1"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a version 1 pipeline file."""
    _describe_fields()
    schema = Pipeline.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def tests_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a unit tests file (``tests/*.yaml`` beside a pipeline file)."""
    _describe_fields()
    schema = checks.UnitTestFile.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": TESTS_SCHEMA_ID, **schema}


def field_docstrings(cls: type[BaseModel]) -> dict[str, str]:
    """The docstring under each field of model class ``cls`` (field name -> text), read as
    pydantic's ``use_attribute_docstrings`` reads it: the string right after the annotation."""
    return _class_docstrings(cls.__module__).get(cls.__qualname__, {})


@lru_cache(maxsize=None)
def _class_docstrings(module_name: str) -> dict[str, dict[str, str]]:
    """Each top-level class of a module -> its fields' docstrings."""
    tree = ast.parse(inspect.getsource(sys.modules[module_name]))
    found: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        docs = found[node.name] = {}
        for field, after in zip(node.body, node.body[1:]):
            if (
                isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[field.target.id] = inspect.cleandoc(after.value.value)
    return found


@lru_cache(maxsize=1)
def _describe_fields() -> None:
    """Give every spec model field without a description its docstring, and rebuild each model's
    schema with it: in the order of the source, so that a model is rebuilt after the models it
    nests (engine.spec.model imports engine.spec.checks)."""
    for module in (checks, model):
        for name in _class_docstrings(module.__name__):
            cls = getattr(module, name)
            if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
                continue
            docs = field_docstrings(cls)
            for field_name, field in cls.model_fields.items():
                if field.description is None and field_name in docs:
                    field.description = docs[field_name]
            cls.model_rebuild(force=True)
