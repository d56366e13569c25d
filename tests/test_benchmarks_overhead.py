"""benchmarks/overhead.py: every task family's row trains on both sides and reports positive throughputs."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest
from conftest import SHARED_DATA

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
ROWS = ["charlm", "wordlm_full", "wordlm_adaptive", "translate", "caption", "sentiment"]
# the rows that read a data set (the word LMs and captioning generate theirs when it is missing)
DATA = {
    "charlm": "tinyshakespeare/input.txt",
    "translate": "eng-fra/eng-fra.txt",
    "sentiment": "sentiment-labelled-sentences",
}


@pytest.fixture
def overhead(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("overhead")


def needs_data(monkeypatch, *rows: str) -> None:
    """Point the benchmark at the shared data sets, or skip naming what is missing."""
    missing = [DATA[row] for row in rows if row in DATA and not (SHARED_DATA / DATA[row]).exists()]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} under {SHARED_DATA} (set SEQLAB_DATA_DIR)")
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(SHARED_DATA))


def test_unknown_row_is_one_error_line(overhead, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        overhead.main(["rows=charlm,nope", f"out={tmp_path / 'o'}"])
    assert exc.value.code == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["overhead: error: rows: unknown nope (allowed: all, " + ", ".join(ROWS) + ")"]
    assert not (tmp_path / "o.json").exists()


@pytest.mark.slow
def test_every_row_runs_with_tiny_settings(overhead, tmp_path, monkeypatch):
    needs_data(monkeypatch, *ROWS)
    out = tmp_path / "overhead"
    overhead.main(["steps=2", "warmup=1", "rounds=1", "threads=1", f"out={out}"])
    data = json.loads(out.with_suffix(".json").read_text())
    assert [row["name"] for row in data["rows"]] == ROWS
    assert data["threads"] == 1 and data["rounds"] == 1
    for row in data["rows"]:
        assert row["plain_tok_s"] > 0 and row["seqlab_tok_s"] > 0, row["name"]
        assert len(row["ratios"]) == 1 and math.isfinite(row["ratio_median"]) and row["ratio_median"] > 0
        assert row["ratio_min"] <= row["ratio_median"] <= row["ratio_max"]
        assert len(row["lightning_ratios"]) == 1 and row["lightning_ratio_median"] > 0
        assert row["goal"] == (0.98 if row["name"] == "charlm" else 0.95)


def test_a_chosen_row_only(overhead, tmp_path, monkeypatch):
    needs_data(monkeypatch, "charlm")
    out = tmp_path / "one"
    overhead.main(["rows=charlm", "steps=1", "warmup=1", "rounds=1", "threads=1", f"out={out}"])
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [row["name"] for row in rows] == ["charlm"]
    assert rows[0]["plain_tok_s"] > 0 and rows[0]["seqlab_tok_s"] > 0
    assert math.isfinite(rows[0]["lightning_ratio_median"]) and rows[0]["lightning_ratio_median"] > 0
