"""What researchers expect of runs and sweeps (issue 27): early stopping recorded as the reason a run stopped, a
plateau schedule stepped on the monitored metric after each validation, runs grouped over seeds in the report, and
pruned Optuna trials shown as pruned (not failed) in the sweep summary and the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from conftest import TINY, compose_config
from omegaconf import OmegaConf

from seqlab.report.command import report
from seqlab.report.runs import read_run
from seqlab.run.job import run
from seqlab.sweep.summary import render, summarize
from seqlab.training.optim import PlateauStep, build_scheduler

QUIET = [*TINY, "task.sample.every_n_val=0", "hardware.threads=1", "trainer.val_check_interval=2"]


def val_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r.get("val/loss")]


def test_early_stopping_stops_after_patience_validations_and_says_so(tmp_path, tiny_corpus, one_thread):
    # min_delta larger than any change: only the first validation is an improvement, the second ends the run
    cfg = compose_config(
        [
            *QUIET,
            f"task.data.path={tiny_corpus}",
            "trainer.max_steps=40",
            "callbacks=early_stopping",
            "callbacks.early_stopping.patience=1",
            "callbacks.early_stopping.min_delta=100.0",
        ]
    )
    assert cfg.callbacks.early_stopping.monitor == "val/loss"  # follows checkpoint.monitor
    results = run(cfg, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["stopped_by"] == "early_stopping"
    at = saved["stopped_at"]
    # validation every 2 batches of 2 TBPTT chunks: the second validation is at optimizer step 8
    assert at["step"] == results["optimizer_steps"] == 8 < 40
    assert at["monitor"] == "val/loss" and at["patience"] == 1
    assert len(val_rows(tmp_path / "run")) == 2
    assert "test/loss" in saved  # an early-stopped run is still tested


def test_a_run_without_early_stopping_records_no_stop_reason(tmp_path, tiny_corpus, one_thread):
    results = run(compose_config([*QUIET, f"task.data.path={tiny_corpus}"]), tmp_path / "run")
    assert "stopped_by" not in results and results["optimizer_steps"] == 6


def fake_validation(value: float, scheduler) -> tuple[SimpleNamespace, SimpleNamespace]:
    trainer = SimpleNamespace(
        sanity_checking=False, state=SimpleNamespace(fn="fit"), callback_metrics={"val/loss": torch.tensor(value)}
    )
    return trainer, SimpleNamespace(lr_schedulers=lambda: scheduler)


def test_plateau_multiplies_the_lr_by_gamma_after_patience_validations_without_improvement():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    cfg = OmegaConf.create(
        {"lr": 1.0, "schedule": "plateau", "gamma": 0.1, "plateau_patience": 1, "min_lr_ratio": 0.05}
    )
    scheduler = build_scheduler(optimizer, cfg, total_steps=100, mode="min")
    step = PlateauStep("val/loss")
    lrs = []
    for value in (3.0, 2.0, 2.0, 2.0, 1.0, 1.5, 1.5, 1.5, 1.5):
        step.on_validation_end(*fake_validation(value, scheduler))
        lrs.append(optimizer.param_groups[0]["lr"])
    # more than patience (1) validations in a row without improvement -> x gamma, never below lr * min_lr_ratio
    assert lrs == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05])


def test_plateau_steps_once_per_validation_during_a_run(tmp_path, tiny_corpus, one_thread):
    cfg = compose_config(
        [
            *QUIET,
            f"task.data.path={tiny_corpus}",
            "trainer.max_steps=12",
            "optimizer.schedule=plateau",
            "+optimizer.plateau_patience=1",
        ]
    )
    results = run(cfg, tmp_path / "run")
    state = torch.load(results["last_checkpoint"], weights_only=True)["lr_schedulers"][0]
    # 12 optimizer steps = 6 batches, a validation every 2 batches: 3 plateau steps (a per-step schedule has 12)
    assert state["last_epoch"] == 3 == len(val_rows(tmp_path / "run"))
    assert state["mode"] == "min" and state["patience"] == 1


def test_a_plateau_schedule_needs_no_step_or_epoch_bound(tmp_path):
    from seqlab.config.validate import validate

    cfg = compose_config(["optimizer.schedule=plateau", "trainer.max_epochs=-1", "trainer.max_time=00:00:01:00"])
    validate(cfg)  # cosine would be refused here: it spreads over the run's length


# ---- reports over seeds -------------------------------------------------------------------------------------------
def fake_run(folder: Path, overrides: list[str], results: dict | None, curve: list[tuple[int, float]] = ()) -> Path:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if results is not None:
        (folder / "results.json").write_text(json.dumps(results))
    if curve:
        (folder / "csv").mkdir()
        rows = "".join(f"{s},{v}\n" for s, v in curve)
        (folder / "csv" / "metrics.csv").write_text("step,val/loss\n" + rows)
    return folder


def seeded_runs(root: Path) -> None:
    values = {"rnn": [2.0, 2.2, 2.4], "lstm": [1.0, 1.1, 1.5]}
    for model, losses in values.items():
        for seed, loss in zip((1, 2, 3), losses):
            curve = [(10, loss + 1.0), (20, loss)]
            fake_run(root / f"{model}_{seed}", [f"model={model}", f"seed={seed}"], {"val/loss": loss}, curve)
    fake_run(root / "lstm_4", ["model=lstm", "seed=4"], None)  # failed: not in the statistics
    (root / "lstm_4" / "failed.json").write_text(json.dumps({"error": "boom"}))


def test_the_report_groups_runs_that_differ_only_in_seed(tmp_path, capsys):
    seeded_runs(tmp_path / "sweep")
    out = report([tmp_path / "sweep"], out=tmp_path / "out", html=True)
    printed = capsys.readouterr().out
    with open(out["files"]["seeds_csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["model"] for r in rows] == ["lstm", "rnn"]  # best mean first
    lstm, rnn = rows
    assert lstm["n"] == "3" and float(lstm["val/loss mean"]) == pytest.approx(3.6 / 3)
    assert float(lstm["val/loss std"]) == pytest.approx(torch.tensor([1.0, 1.1, 1.5]).std().item())
    assert float(rnn["val/loss mean"]) == pytest.approx(2.2) and float(rnn["val/loss std"]) == pytest.approx(0.2)
    assert "2 configurations over seeds" in printed and "2.2 ± 0.2" in printed
    md = (tmp_path / "out" / "report.md").read_text()
    assert "2.2 ± 0.2" in md and "| rnn | 3 | 1,2,3 |" in md
    page = (tmp_path / "out" / "report.html").read_text()
    assert 'id="seed-groups"' in page and "2.2 ± 0.2" in page and 'alt="mean curves over seeds"' in page
    assert (tmp_path / "out" / "report_curves.png").is_file()


def test_mean_curves_average_the_seeds_at_each_step(tmp_path):
    from seqlab.report.runs import find_runs
    from seqlab.report.seeds import mean_curve, seed_groups

    seeded_runs(tmp_path / "sweep")
    groups = {g.overrides["model"]: g for g in seed_groups(find_runs([tmp_path / "sweep"]))}
    steps = mean_curve(groups["rnn"], "val/loss")
    assert [s for s, _, _ in steps] == [10, 20]
    assert steps[1][1] == pytest.approx(2.2) and steps[1][2] == pytest.approx(0.2)
    assert steps[0][1] == pytest.approx(3.2)


def test_runs_without_repeated_seeds_are_not_grouped(tmp_path):
    fake_run(tmp_path / "a", ["model=rnn", "seed=1"], {"val/loss": 2.0})
    fake_run(tmp_path / "b", ["model=lstm", "seed=2"], {"val/loss": 1.0})
    out = report([tmp_path], plot=False)
    assert "seeds_csv" not in out["files"] and "over seeds" not in (tmp_path / "report.md").read_text()


# ---- pruned trials ------------------------------------------------------------------------------------------------
def test_a_pruned_trial_is_pruned_not_failed_in_the_summary_and_the_report(tmp_path):
    sweep = tmp_path / "sweep"
    fake_run(sweep / "0", ["optimizer.lr=0.01"], {"val/loss": 1.5})
    pruned = {"val/loss": 3.9, "stopped_by": "pruned", "stopped_at": {"step": 4, "epoch": 0, "val/loss": 3.9}}
    fake_run(sweep / "1", ["optimizer.lr=3.0"], pruned)
    assert read_run(sweep / "1").status == "pruned"
    summary = summarize(sweep, "val/loss")
    assert summary["counts"] == {"ok": 1, "pruned": 1, "failed": 0, "incomplete": 0}
    assert summary["best"] is None or summary["jobs"][summary["best"]]["status"] == "ok"
    text = render(summary, markdown=True)
    assert "2 jobs, 1 ok, 0 failed, 1 pruned" in text
    assert "| pruned | pruned at step 4 (val/loss 3.9) |" in text
    out = report([sweep], plot=False)
    assert [row[1] for row in out["rows"]] == ["ok", "pruned"]
