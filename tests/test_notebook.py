"""The demo notebook runs end to end, so that it cannot rot."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the test extra")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in the test extra")

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "engagement_demo.ipynb"


def test_engagement_demo_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPE_NOTEBOOK_DIR", str(tmp_path))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()
    outputs = "\n".join(
        out.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )
    assert "MEMBER_SESSIONS" in outputs and "INCREMENTAL" in outputs
    assert (tmp_path / "engagement.duckdb").exists()
