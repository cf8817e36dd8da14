"""The walkthrough notebook runs top to bottom on the tiny config, so it never rots."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_walkthrough_executes(monkeypatch, tmp_path):
    monkeypatch.setenv("WALKTHROUGH_TINY", "1")
    nb = nbformat.read(ROOT / "notebooks" / "walkthrough.ipynb", as_version=4)
    resources = {"metadata": {"path": str(ROOT)}}
    NotebookClient(nb, timeout=600, kernel_name="python3", resources=resources).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    pictures = [
        o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})
    ]
    assert len(pictures) >= 2
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "VOC-style mAP50" in text
