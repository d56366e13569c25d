"""Multiruns end to end: every combination gets its own folder, an impossible one fails fast with its reason while the
sweep goes on, the sweep ends with a summary, and the report compares the runs. Presets compose; Optuna (slow)."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path

import pytest
import yaml
from conftest import TINY, run_cli, run_dirs, run_inprocess
from hydra import compose, initialize_config_module
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf

from seqlab.config.preflight import preflight
from seqlab.config.store import register_configs
from seqlab.errors import ConfigError
from seqlab.sweep.summary import SUMMARY_JSON, SUMMARY_MD, SweepSummary, metric_direction, summarize

# should job folders be named after their overrides (hydra.job.override_dirname), keep the fixed ones out
SHORT_NAMES = (
    "hydra.job.config.override_dirname.exclude_keys=[task.data.path," + ",".join(o.split("=")[0] for o in TINY) + "]"
)


def write_corpus(path: Path) -> Path:
    lines = [f"ROMEO: line {i} of a tiny play, où l'été chante {i % 7}.\nJULIET: reply {i * 3}.\n" for i in range(90)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """One small grid: rnn/gru x uni/bidirectional on charlm; the two bidirectional jobs are impossible."""
    root = tmp_path_factory.mktemp("grid")
    corpus = write_corpus(root / "corpus.txt")
    proc = run_inprocess(
        ["-m", "model=rnn,gru", "model.bidirectional=false,true", f"task.data.path={corpus}", *TINY, SHORT_NAMES],
        cwd=root,
    )
    return root, proc


def sweep_folder(root: Path, marker: str = "multirun.yaml") -> Path:
    (found,) = (root / "outputs" / "multirun").glob(f"*/*/{marker}")
    return found.parent


def job_overrides(run_dir: Path) -> dict[str, str]:
    return dict(o.split("=", 1) for o in yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()))


def test_grid_runs_every_combination_and_impossible_ones_fail_fast(grid):
    root, proc = grid
    # every job ran; the two impossible ones failed, so the sweep exits 1 after its summary
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == "seqlab: 2 job(s) of the sweep failed (see sweep_summary.md)"
    assert proc.stdout.index("sweep summary:") >= 0
    dirs = run_dirs(root)
    combos = {(job_overrides(d)["model"], job_overrides(d)["model.bidirectional"].lower()) for d in dirs}
    assert combos == {("rnn", "false"), ("rnn", "true"), ("gru", "false"), ("gru", "true")}
    for d in dirs:
        bidirectional = job_overrides(d)["model.bidirectional"].lower() == "true"
        assert (d / "results.json").is_file() != bidirectional
        assert (d / "failed.json").is_file() == bidirectional
        if bidirectional:
            failed = json.loads((d / "failed.json").read_text())
            assert failed["error"].startswith("model.bidirectional:") and "causal" in failed["error"]
            assert not list(d.glob("checkpoints/*.ckpt")), "an impossible job must fail before training"
        else:
            assert math.isfinite(json.loads((d / "results.json").read_text())["val/loss"])


def test_sweep_ends_with_a_summary_of_what_ran_and_what_failed(grid):
    root, proc = grid
    sweep = sweep_folder(root)
    assert "sweep summary: 4 jobs, 2 ok, 2 failed" in proc.stdout
    summary = json.loads((sweep / SUMMARY_JSON).read_text())
    assert summary["counts"] == {"ok": 2, "failed": 2, "incomplete": 0}
    assert set(summary["swept_keys"]) == {"model", "model.bidirectional"}
    losses = {}
    for job in summary["jobs"]:
        run_dir = sweep / job["dir"]
        if job["status"] == "ok":
            losses[job["num"]] = json.loads((run_dir / "results.json").read_text())["val/loss"]
            assert job["value"] == pytest.approx(losses[job["num"]])
        else:
            assert job["swept"]["model.bidirectional"].lower() == "true" and "causal" in job["error"]
            assert job["error"] in proc.stdout
    assert summary["best"] == min(losses, key=losses.get)
    md = (sweep / SUMMARY_MD).read_text()
    assert md.count("| failed |") == 2 and md.count("| ok |") == 2


def test_report_on_the_sweep(grid, tmp_path):
    root, _ = grid
    sweep = sweep_folder(root)
    proc = run_inprocess([str(sweep), "sort=val/loss", f"out={tmp_path}"], cwd=root, module="seqlab.report")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "report.csv", newline="") as fh:
        records = list(csv.DictReader(fh))
    columns = set(records[0])
    assert {"model", "model.bidirectional", "val/loss", "params", "tokens/s", "wall s"} <= columns
    assert "task.seq_len" not in columns, "overrides every run shares are not columns"
    assert [r["status"] for r in records] == ["ok", "ok", "failed", "failed"]
    losses = [float(r["val/loss"]) for r in records[:2]]
    assert losses == sorted(losses)
    assert (tmp_path / "report.md").read_text().count("\n|") >= 5
    assert (tmp_path / "report_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def compose_with_hydra(overrides: list[str]):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="seqlab.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def test_arch_grid_preset_is_the_full_grid_and_command_line_sweeps_replace_its_keys():
    cfg = compose_with_hydra(["sweep=arch_grid"])
    params = OmegaConf.to_container(cfg.hydra.sweeper.params)
    assert set(params) == {"model", "model.num_layers", "model.bidirectional", "task.tbptt_steps"}
    parser = OverridesParser.create()
    preset = [f"{k}={v}" for k, v in params.items()]
    (jobs,) = BasicSweeper.split_arguments(parser.parse_overrides(preset), None)
    assert len(jobs) == 3 * 3 * 2 * 2
    (jobs,) = BasicSweeper.split_arguments(parser.parse_overrides([*preset, "model=gru"]), None)
    assert len(jobs) == 3 * 2 * 2 and all("model=gru" in job for job in jobs)
    assert compose_with_hydra([]).hydra.sweeper.params is None


def test_preflight_accepts_presets_and_interval_sweeps_and_names_a_bad_preset():
    preflight(["-m", "sweep=arch_grid"])
    preflight(["-m", "sweep=tbptt_grid", "model=rnn,gru"])
    preflight(["-m", "optimizer.lr=interval(1e-4,1e-2)"])
    with pytest.raises(ConfigError) as info:
        preflight(["-m", "sweep=no_such_grid"])
    assert info.value.key == "sweep" and "arch_grid" in info.value.allowed


def test_a_crashing_job_is_recorded_with_its_reason(tmp_path):
    """An error seqlab does not handle (a bug, out of memory) still ends up in the summary."""
    sweep = tmp_path / "sweep"
    job = sweep / "0_model=rnn"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- model=rnn\n")
    config = OmegaConf.create({"hydra": {"mode": RunMode.MULTIRUN, "runtime": {"output_dir": str(job)}}})
    ret = JobReturn(overrides=["model=rnn"], status=JobStatus.FAILED, _return_value=RuntimeError("CUDA out of memory"))
    SweepSummary().on_job_end(config, ret)
    failed = json.loads((job / "failed.json").read_text())
    assert failed["error"] == "crashed: RuntimeError: CUDA out of memory" and failed["overrides"] == ["model=rnn"]
    summary = summarize(sweep, "val/loss")
    assert summary["counts"]["failed"] == 1 and summary["jobs"][0]["error"] == failed["error"]


def test_summary_direction_follows_the_sweeper_then_the_checkpoint_then_the_name():
    optuna = OmegaConf.create({"hydra": {"sweeper": {"direction": "maximize"}}})
    assert metric_direction(optuna, "val/loss") == "max"
    ckpt = OmegaConf.create({"checkpoint": {"monitor": "val/acc", "mode": "min"}})
    assert metric_direction(ckpt, "val/acc") == "min"
    assert metric_direction(OmegaConf.create({}), "val/acc") == "max"
    assert metric_direction(OmegaConf.create({}), "val/bpc") == "min"


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("optuna") is None, reason="Optuna not installed (pip install -e .[optuna])"
)
def test_optuna_search_minimizes_the_returned_metric(tmp_path, tiny_corpus):
    proc = run_cli(
        [
            "-m",
            "hparams_search=optuna",
            "hydra.sweeper.n_trials=3",
            f"task.data.path={tiny_corpus}",
            *TINY,
            SHORT_NAMES,
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = sweep_folder(tmp_path, "optimization_results.yaml")
    dirs = run_dirs(tmp_path)
    assert len(dirs) == 3
    lrs = {job_overrides(d)["optimizer.lr"] for d in dirs}
    assert len(lrs) == 3, "each trial samples its own learning rate"
    losses = [json.loads((d / "results.json").read_text())["val/loss"] for d in dirs]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(min(losses))
    assert "sweep summary: 3 jobs, 3 ok, 0 failed" in proc.stdout
