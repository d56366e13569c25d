"""Forecast metrics and baselines against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA

from seqlab.errors import DataError
from seqlab.tasks.forecast.baselines import naive_forecast, seasonal_naive_forecast
from seqlab.tasks.forecast.config import ForecastConfig, ForecastDataConfig
from seqlab.tasks.forecast.data import ForecastDataModule
from seqlab.tasks.forecast.metrics import ErrorSums, forecast_errors, masked_mse
from seqlab.tasks.forecast.series import naive_scale


def test_mae_rmse_mase_by_hand():
    # errors -1, 0, -2: MAE = 3/3 = 1, RMSE = sqrt(5/3); train [0, 2, 1, 4]: naive MAE (2 + 1 + 3) / 3 = 2
    scale = naive_scale(np.array([0.0, 2.0, 1.0, 4.0]))
    assert scale == 2.0
    got = forecast_errors(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 2.0, 5.0]), scale)
    assert got["mae"] == pytest.approx(1.0)
    assert got["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert got["mase"] == pytest.approx(0.5)


def test_masked_targets_are_left_out():
    forecast, actual = torch.tensor([[1.0, 9.0], [3.0, 4.0]]), torch.tensor([[2.0, 0.0], [3.0, 6.0]])
    mask = torch.tensor([[True, False], [True, True]])
    got = forecast_errors(forecast, actual, 1.0, mask)  # errors 1, 0, 2
    assert got["mae"] == pytest.approx(1.0) and got["rmse"] == pytest.approx(math.sqrt(5 / 3))
    loss, count = masked_mse(forecast, actual, mask)
    assert count == 3 and float(loss) == pytest.approx(5 / 3)
    assert masked_mse(forecast, actual, torch.zeros_like(mask)) == (None, 0)


def test_sums_over_batches_equal_the_whole():
    g = torch.Generator().manual_seed(0)
    f, a = torch.randn(10, 3, generator=g), torch.randn(10, 3, generator=g)
    whole = forecast_errors(f, a, 0.7)
    sums = ErrorSums()
    for part in range(0, 10, 4):
        sums.add(f[part : part + 4], a[part : part + 4], torch.ones(len(f[part : part + 4]), 3, dtype=torch.bool))
    for key, value in sums.metrics(0.7).items():
        assert value == pytest.approx(whole[key])
    assert ErrorSums().metrics(1.0) == {}


def test_naive_scale_skips_missing_pairs_and_refuses_a_constant():
    # pairs: (1, 3) -> 2, (3, nan) and (nan, 4) skipped, (4, 8) -> 4
    assert naive_scale(np.array([1.0, 3.0, np.nan, 4.0, 8.0])) == 3.0
    with pytest.raises(DataError, match="MASE is undefined"):
        naive_scale(np.array([5.0, 5.0, 5.0]))


def test_baselines_by_hand():
    y = np.array([10.0, 11, 12, 13, 14, 15, 16, 17])
    assert list(naive_forecast(y, 5, 3)) == [14, 14, 14]
    # m = 3, origin 5: leads 0..4 -> rows 2, 3, 4, then one more cycle back: 2, 3
    assert list(seasonal_naive_forecast(y, 5, 5, 3)) == [12, 13, 14, 12, 13]
    assert list(seasonal_naive_forecast(y, 5, 2, 1)) == [14, 14]  # m = 1 is the naive forecast


@pytest.mark.skipif(not (SHARED_DATA / "timeseries").is_dir(), reason="shared/data/timeseries not present")
def test_sunspots_baselines_match_a_direct_computation(monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(SHARED_DATA))
    y = np.loadtxt(SHARED_DATA / "timeseries" / "sunspots.csv", delimiter=",", skiprows=1)[:, 1]
    n_val = n_test = int(len(y) * 0.15)
    n_train = len(y) - n_val - n_test
    rows = np.arange(n_train + n_val, len(y))
    scale = np.mean(np.abs(np.diff(y[:n_train])))
    expected = {
        "naive": np.mean(np.abs(y[rows] - y[rows - 1])) / scale,
        "snaive": np.mean(np.abs(y[rows] - y[rows - 11])) / scale,
    }
    dm = ForecastDataModule(ForecastConfig(data=ForecastDataConfig(series="sunspots"), input_len=22, horizon=1))
    dm.prepare()
    sums = {"naive": ErrorSums(), "snaive": ErrorSums()}
    for batch in dm.test_dataloader():
        for name, s in sums.items():
            s.add(batch[name], batch["actual"], batch["mask"])
    for name, s in sums.items():
        assert s.count == len(rows)
        assert s.metrics(dm.info.mase_scale)["mase"] == pytest.approx(expected[name], rel=1e-6)
