"""benchmarks/gpu.py on a machine without a GPU: one line, exit 0, nothing written; its docs section replacement."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def gpu(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("gpu")


def test_without_a_gpu_one_line_and_exit_0(gpu, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# b\n")
    assert gpu.main([f"docs={docs}"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("gpu: no CUDA device")
    assert docs.read_text() == "# b\n"


def test_docs_table_replaces_its_section_only(gpu, tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# b\n\ntext before\n")
    gpu.write_docs(docs, "first table")
    gpu.write_docs(docs, "second table")
    text = docs.read_text()
    assert text.startswith("# b\n\ntext before\n")
    assert "second table" in text and "first table" not in text
    assert text.count(gpu.BEGIN) == 1 and text.count(gpu.END) == 1
    docs.write_text(text + "\ntext after\n")
    gpu.write_docs(docs, "third")
    assert docs.read_text().endswith("third\n" + gpu.END + "\n\ntext after\n")
