"""``python -m seqlab.report``: run folders built by hand (ok, failed, unfinished), sorted tables, CSV/Markdown/PNG."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from seqlab.report.command import main, report
from seqlab.report.runs import build_table, direction, find_runs, plot_curves, sort_runs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run(
    folder: Path,
    overrides: list[str],
    results: dict | None = None,
    error: str | None = None,
    curve: list[tuple[int, float]] | None = None,
    num: int = 0,
) -> Path:
    """A run folder as seqlab writes it: .hydra/{overrides,hydra}.yaml, results.json or failed.json, csv/metrics.csv."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (folder / ".hydra" / "hydra.yaml").write_text(f"hydra:\n  job:\n    num: {num}\n")
    if results is not None:
        (folder / "results.json").write_text(json.dumps(results))
    if error is not None:
        (folder / "failed.json").write_text(json.dumps({"error": error, "overrides": overrides}))
    if curve:
        (folder / "csv").mkdir()
        rows = ["epoch,step,train/loss,val/loss"]
        for step, value in curve:
            rows += [f"0,{step},{value + 0.1},", f"0,{step},,{value}"]
        (folder / "csv" / "metrics.csv").write_text("\n".join(rows) + "\n")
    return folder


def results(val_loss: float | str, params: int, **extra) -> dict:
    return {
        "val/loss": val_loss,
        "test/loss": 0.0 if isinstance(val_loss, str) else val_loss + 0.05,
        "trainable_parameters": params,
        "tokens_per_second": 1000.0,
        "wall_seconds": 2.5,
        **extra,
    }


@pytest.fixture
def sweep(tmp_path) -> Path:
    """Five jobs of a sweep: three finished with different losses, one impossible, one still running."""
    root = tmp_path / "multirun" / "12-00-00"
    common = ["task.seq_len=16", "trainer.max_steps=6"]
    make_run(root / "0_model=rnn", ["model=rnn", *common], results(2.5, 1000), curve=[(2, 3.0), (5, 2.5)], num=0)
    make_run(root / "1_model=lstm", ["model=lstm", *common], results(1.5, 4000), curve=[(2, 2.0), (5, 1.5)], num=1)
    make_run(root / "2_model=gru", ["model=gru", *common], results(2.0, 3000), curve=[(2, 2.2), (5, 2.0)], num=2)
    make_run(
        root / "3_model=gru,model.bidirectional=true",
        ["model=gru", "model.bidirectional=true", *common],
        error="model.bidirectional: a bidirectional model cannot be the causal language model",
        num=3,
    )
    make_run(root / "4_model=lstm,model.num_layers=3", ["model=lstm", "model.num_layers=3", *common], num=4)
    return root


def test_runs_are_found_recursively_with_their_status(sweep):
    runs = find_runs([sweep.parent])
    assert [r.num for r in runs] == [0, 1, 2, 3, 4]
    assert [r.status for r in runs] == ["ok", "ok", "ok", "failed", "incomplete"]
    assert runs[3].error.startswith("model.bidirectional:")
    assert find_runs([sweep / "1_model=lstm", sweep / "1_model=lstm"])[0].overrides["model"] == "lstm"


def test_table_is_sorted_by_the_metric_with_failed_runs_last(sweep):
    runs = sort_runs(find_runs([sweep]), "val/loss")
    header, rows = build_table(runs, "val/loss")
    assert header[:5] == ["run", "status", "model", "model.bidirectional", "model.num_layers"]
    assert "task.seq_len" not in header, "an override every run shares is not a column"
    assert [r[0] for r in rows] == [
        "1_model=lstm",
        "2_model=gru",
        "0_model=rnn",
        "3_model=gru,model.bidirectional=true",
        "4_model=lstm,model.num_layers=3",
    ]
    col = header.index
    assert [r[col("params")] for r in rows[:3]] == [4000, 3000, 1000]
    assert rows[3][col("error")].startswith("model.bidirectional") and rows[3][col("val/loss")] is None
    best_last = sort_runs(runs, "val/loss", order="max")
    assert [r.num for r in best_last[:3]] == [0, 2, 1]


def test_a_non_finite_metric_sorts_after_the_finite_ones(tmp_path):
    make_run(tmp_path / "a", ["model=rnn"], results("nan", 10), num=0)
    make_run(tmp_path / "b", ["model=gru"], results(9.0, 10), num=1)
    assert [r.num for r in sort_runs(find_runs([tmp_path]), "val/loss")] == [1, 0]


def test_report_writes_csv_markdown_and_one_png(sweep, tmp_path, capsys):
    out = tmp_path / "out"
    made = report([sweep], sort="val/loss", out=out)
    printed = capsys.readouterr().out
    assert "5 runs (3 ok)" in printed and "failed: 3_model=gru" in printed
    with open(out / "report.csv", newline="") as fh:
        records = list(csv.DictReader(fh))
    assert [r["model"] for r in records] == ["lstm", "gru", "rnn", "gru", "lstm"]
    assert float(records[0]["val/loss"]) == 1.5 and records[0]["tokens/s"] == "1000.0"
    md = (out / "report.md").read_text()
    assert "Common overrides: `task.seq_len=16 trainer.max_steps=6`" in md
    assert md.count("\n| ") == 1 + len(records)
    assert (out / "report_curves.png").read_bytes()[:8] == PNG_MAGIC
    assert set(made["files"]) == {"csv", "md", "png"}


def test_curves_come_from_each_runs_metrics_csv(sweep, tmp_path):
    runs = find_runs([sweep])
    assert plot_curves(runs, "val/loss", tmp_path / "c.png", [r.path.name for r in runs]) == 3
    assert plot_curves(runs, "val/acc", tmp_path / "none.png", [r.path.name for r in runs]) == 0
    assert not (tmp_path / "none.png").exists()


def test_columns_and_order_options(sweep, tmp_path, capsys):
    main([str(sweep), "columns=test/loss", "sort=test/loss", "order=max", f"out={tmp_path}", "plot=false"])
    with open(tmp_path / "report.csv", newline="") as fh:
        records = list(csv.DictReader(fh))
    assert "test/loss" in records[0] and "val/loss" not in records[0]
    assert [r["model"] for r in records[:3]] == ["rnn", "gru", "lstm"]
    assert not (tmp_path / "report_curves.png").exists()


@pytest.mark.parametrize(
    "metric, expected",
    [
        ("val/loss", "min"),
        ("test/bpc", "min"),
        ("val/ppl", "min"),
        ("val/mse", "min"),
        ("val/mase", "min"),
        ("test/smape", "min"),
        ("val/acc", "max"),
        ("val/f1", "max"),
    ],
)
def test_direction_from_the_metric_name(metric, expected):
    assert direction(metric) == expected


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "PATH: missing"),
        (
            ["{sweep}", "sortt=val/loss"],
            "sortt: unknown argument (allowed: columns=, curve=, order=, out=, plot=, sort=)",
        ),
        (["{sweep}/nowhere"], "is not a folder"),
        (["{sweep}", "sort=val/nope"], "sort: no run reports 'val/nope' (allowed: test/loss, val/loss)"),
        (["{sweep}", "order=best"], "order: unknown order 'best' (allowed: auto, max, min)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(sweep, capsys, args, message):
    with pytest.raises(SystemExit) as info:
        main([a.format(sweep=sweep) for a in args])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.startswith("seqlab.report: error: ") and message in err and err.count("\n") == 1
