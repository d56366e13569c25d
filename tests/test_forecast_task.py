"""Task ``forecast`` end to end: runs in both modes, metrics that match the written forecasts, config errors."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from conftest import compose_config, run_cli, run_dirs

from seqlab.checkpoint import load_module
from seqlab.config.preflight import preflight
from seqlab.errors import ConfigError
from seqlab.run.job import run

FAST = [
    "model.hidden_size=16",
    "model.num_layers=1",
    "task.batch_size=16",
    "task.input_len=12",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=csv",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def series_csv(tmp_path):
    """120 monthly-like rows: a noisy 12-step cycle plus trend, an exogenous column, two missing targets."""
    rng = np.random.default_rng(0)
    t = np.arange(120)
    y = 50 + 0.2 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, 120)
    x = np.cos(2 * np.pi * t / 12)
    lines = ["date,price,volume"]
    for i in t:
        cell = "" if i in (30, 110) else f"{y[i]:.4f}"
        lines.append(f"{2000 + i // 12}-{i % 12 + 1:02d}-01,{cell},{x[i]:.4f}")
    path = tmp_path / "prices.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def train(tmp_path, csv_path, *extra, name="run"):
    cfg = compose_config(
        ["task=forecast", *FAST, f"task.data.path={csv_path}", "task.data.target=price", "task.seasonality=12", *extra]
    )
    return run(cfg, tmp_path / name)


def read_table(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_direct_run_writes_metrics_that_match_its_forecasts(tmp_path, series_csv):
    results = train(tmp_path, series_csv, "model=lstm", "trainer.max_epochs=2", "task.data.exogenous=[volume]")
    folder = tmp_path / "run"
    saved = json.loads((folder / "results.json").read_text())
    for stage in ("val", "test"):
        for key in ("loss", "mae", "rmse", "mase", "naive_mae", "naive_mase", "seasonal_naive_mase"):
            assert math.isfinite(saved[f"{stage}/{key}"]), f"{stage}/{key}"
    assert (folder / "forecast_test.png").stat().st_size > 10_000
    rows = [r for r in read_table(folder / "forecast_test.csv") if r["observed"] == "1"]
    err = np.array([float(r["forecast"]) - float(r["actual"]) for r in rows])
    naive = np.array([float(r["naive"]) - float(r["actual"]) for r in rows])
    assert saved["test/mae"] == pytest.approx(np.abs(err).mean(), rel=1e-5)
    assert saved["test/rmse"] == pytest.approx(np.sqrt((err**2).mean()), rel=1e-5)
    assert saved["test/naive_mae"] == pytest.approx(np.abs(naive).mean(), rel=1e-5)
    # MASE's scale: the one-step naive MAE on the train rows (84 of 120; row 30 missing, its pairs skipped)
    y = np.genfromtxt(series_csv, delimiter=",", skip_header=1, usecols=1)[:84]
    scale = np.nanmean(np.abs(np.diff(y)))
    assert saved["test/mase"] == pytest.approx(saved["test/mae"] / scale, rel=1e-5)
    assert saved["test/naive_mase"] == pytest.approx(saved["test/naive_mae"] / scale, rel=1e-5)
    assert len(rows) == 18 - 1  # 18 test rows, one of them missing
    assert results["test/mae"] == saved["test/mae"]


def test_autoregressive_rollout_with_truncated_bptt(tmp_path, series_csv):
    results = train(
        tmp_path,
        series_csv,
        "model=gru",
        "task.mode=autoregressive",
        "task.horizon=3",
        "task.tbptt_steps=5",
        "trainer.max_epochs=1",
    )
    # train windows: origins 12..81 (targets inside the 84 train rows) = 70 -> 5 batches of 16; 14 steps -> 3 chunks
    assert results["optimizer_steps"] == 5 * 3
    table = read_table(tmp_path / "run" / "forecast_test.csv")
    assert {r["lead"] for r in table} == {"1", "2", "3"}
    module = load_module(tmp_path / "run" / "checkpoints" / "last.ckpt")
    x = torch.randn(2, 12, 1)
    out = module.forecast(x)
    assert out.shape == (2, 3)
    # the rollout feeds each prediction back: lead 2 equals a one-step forecast from the extended window
    extended = torch.cat([x, out[:, :1].unsqueeze(-1)], dim=1)
    torch.testing.assert_close(module.forecast(extended)[:, 0], out[:, 1])
    # predict_next works in original units: normalize with the train scaler, forecast, map back
    history = 50 + 10 * np.sin(2 * np.pi * np.arange(12) / 12)
    mean, std = module.target_mean, module.target_std
    expected = module.forecast(torch.tensor((history - mean) / std, dtype=torch.float32).view(1, 12, 1))
    np.testing.assert_allclose(module.predict_next(history), (expected[0] * std + mean).detach().numpy(), rtol=1e-5)


def test_direct_truncated_bptt_steps_once_per_batch(tmp_path, series_csv):
    results = train(
        tmp_path,
        series_csv,
        "model=rnn",
        "task.horizon=2",
        "task.tbptt_steps=4",
        "trainer.max_epochs=1",
        "task.data.missing=interpolate",
    )
    assert results["optimizer_steps"] == math.ceil(69 / 16)  # origins 12..80 for H = 2
    assert math.isfinite(results["test/mase"])


def test_training_beats_the_naive_forecast(tmp_path, series_csv):
    results = train(
        tmp_path,
        series_csv,
        "model=gru",
        "model.hidden_size=32",
        "optimizer.lr=0.01",
        "trainer.max_epochs=15",
        "logger=none",
        "task.plot=false",
    )
    assert results["test/mae"] < 0.6 * results["test/naive_mae"]
    assert not (tmp_path / "run" / "forecast_test.png").exists()


def test_window_level_forecasts_a_trend_past_the_training_range(tmp_path):
    """Val/test of a steep trend lie above every training value: the global scaler extrapolates badly (worse than
    naive), windows relative to their last value do not; predict_next applies the same shift."""
    rng = np.random.default_rng(0)
    t = np.arange(160)
    y = 20 + 1.5 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, 160)
    path = tmp_path / "trend.csv"
    path.write_text("t,y\n" + "\n".join(f"{i},{v:.4f}" for i, v in zip(t, y)) + "\n")
    common = [
        "task=forecast",
        *FAST,
        "model=gru",
        "model.hidden_size=32",
        f"task.data.path={path}",
        "task.data.target=y",
        "task.seasonality=12",
        "optimizer.lr=0.01",
        "trainer.max_epochs=15",
        "logger=none",
        "task.plot=false",
    ]
    scores = {
        level: run(compose_config([*common, f"task.level={level}"]), tmp_path / level) for level in ("global", "window")
    }
    assert scores["global"]["test/mae"] > scores["global"]["test/naive_mae"]
    assert scores["window"]["test/mae"] < 0.5 * scores["window"]["test/naive_mae"]
    module = load_module(tmp_path / "window" / "checkpoints" / "last.ckpt")
    history = y[-12:]
    z = (history - module.target_mean) / module.target_std
    expected = module.forecast(torch.tensor(z - z[-1], dtype=torch.float32).view(1, 12, 1)) + float(z[-1])
    expected = (expected[0] * module.target_std + module.target_mean).detach().numpy()
    np.testing.assert_allclose(module.predict_next(history), expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("extra", "key", "fragment"),
    [
        (["task.level=local"], "task.level", "allowed: global, window"),
        (["task.mode=sideways"], "task.mode", "allowed: autoregressive, direct"),
        (["task.data.target=close"], "task.data.target", "allowed: date, price, volume"),
        (["task.data.exogenous=[volumes]"], "task.data.exogenous", "no column 'volumes'"),
        (["task.data.missing=drop"], "task.data.missing", "allowed: ffill, interpolate"),
        (["task.mode=autoregressive", "task.horizon=3", "task.data.exogenous=[volume]"], "task.mode", "direct"),
        (["task.mode=autoregressive", "model.bidirectional=true"], "model.bidirectional", "allowed: false"),
        (["task.input_len=12", "task.tbptt_steps=13"], "task.tbptt_steps", "[1, 12]"),
        (["task.horizon=0"], "task.horizon", ">= 1"),
        (["task.data.path=/nonexistent/file.csv"], "task.data.path", "file not found"),
    ],
)
def test_bad_config_is_one_clear_error(series_csv, extra, key, fragment):
    argv = ["task=forecast", f"task.data.path={series_csv}", "task.data.target=price", *extra]
    with pytest.raises(Exception) as info:
        preflight(argv)
    message = str(info.value)
    assert message.startswith(key + ":"), message
    assert fragment in message and "\n" not in message


@pytest.mark.slow  # a subprocess: tens of seconds on a busy 2-core machine
def test_cli_error_exits_2_without_a_run_folder(tmp_path, series_csv):
    proc = run_cli(["task=forecast", f"task.data.path={series_csv}"], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("seqlab: error: task.data.target: name the column")
    assert run_dirs(tmp_path) == []


def test_user_csv_needs_a_target_column(series_csv):
    with pytest.raises(ConfigError, match="allowed: price, volume"):
        preflight(["task=forecast", f"task.data.path={series_csv}"])


@pytest.mark.slow
def test_ddp_on_cpu_scores_every_test_window_once(tmp_path, series_csv):
    """hardware=ddp_cpu: val/test windows are strided by rank without duplicates, the errors summed over ranks,
    and rank 0 plots every rank's windows."""
    proc = run_cli(
        [
            "task=forecast",
            *FAST,
            f"task.data.path={series_csv}",
            "task.data.target=price",
            "task.seasonality=12",
            "model=gru",
            "trainer.max_epochs=2",
            "hardware=ddp_cpu",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["world_size"] == 2
    table = read_table(run_dir / "forecast_test.csv")
    origins = [r["time"] for r in table]
    # 18 test rows, one missing target (its H = 1 window is dropped): 17 windows, each once, in time order
    assert len(table) == 17 and len(set(origins)) == 17 and origins == sorted(origins)
    rows = [r for r in table if r["observed"] == "1"]
    err = np.array([float(r["forecast"]) - float(r["actual"]) for r in rows])
    naive = np.array([float(r["naive"]) - float(r["actual"]) for r in rows])
    assert results["test/mae"] == pytest.approx(np.abs(err).mean(), rel=1e-5)
    assert results["test/naive_mae"] == pytest.approx(np.abs(naive).mean(), rel=1e-5)
