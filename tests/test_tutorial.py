"""docs/tutorial.ipynb runs from top to bottom (nbclient, a real kernel) on a tiny budget: two char LMs trained
with seqlab.train, compared in a plot, one loaded and generating text."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"


def test_the_tutorial_notebook_runs_on_a_tiny_budget(tmp_path, tiny_corpus, monkeypatch):
    monkeypatch.setenv("SEQLAB_TUTORIAL_TINY", "1")
    monkeypatch.setenv("SEQLAB_TUTORIAL_CORPUS", str(tiny_corpus))
    monkeypatch.setenv("SEQLAB_TUTORIAL_DIR", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3")
    client.execute(cwd=str(tmp_path))
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "lstm: val/loss" in text and "gru: val/loss" in text
    assert "refused: model.hidden_size" in text
    assert "ROMEO:" in text  # the generated text starts with its prompt
    assert "translate: task 'charlm' has no translate()" in text
    assert any(out.output_type == "display_data" and "image/png" in out.get("data", {}) for out in outputs)
    assert (tmp_path / "lstm_vs_gru.png").stat().st_size > 0
    assert len(list((tmp_path / "outputs").glob("*/*_charlm_*/results.json"))) == 2
