"""The pipeline file: typed model and loader."""

from engine.spec.loader import load_pipeline, load_pipeline_text
from engine.spec.model import DynamicTable, Generator, Pipeline, SnowflakeTarget, Stream, Table

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
