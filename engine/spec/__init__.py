"""The pipeline file: typed model and loader.

The models are built with pydantic's plugins off (``PYDANTIC_DISABLE_PLUGINS``, as Typer builds
its parameters' adapters): finding plugins reads the entry points of every installed distribution,
a cost each command would pay at start-up for instrumentation the file's models do not use.
"""

import os

_plugins = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
try:
    from engine.spec.loader import load_pipeline, load_pipeline_text
    from engine.spec.model import DynamicTable, Generator, Pipeline, SnowflakeTarget, Stream, Table
finally:
    if _plugins is None:
        del os.environ["PYDANTIC_DISABLE_PLUGINS"]
    else:
        os.environ["PYDANTIC_DISABLE_PLUGINS"] = _plugins

__all__ = [
    "DynamicTable",
    "Generator",
    "Pipeline",
    "SnowflakeTarget",
    "Stream",
    "Table",
    "load_pipeline",
    "load_pipeline_text",
]
