"""Forecast data: reading, missing values, chronological split, train-only scaling, windows without leakage."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA

from seqlab.data.splits import split_sizes
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.forecast.config import ForecastConfig, ForecastDataConfig
from seqlab.tasks.forecast.data import ForecastDataModule
from seqlab.tasks.forecast.series import forward_fill, interpolate_segment, parse_time, read_series
from seqlab.tasks.forecast.windows import window_origins

N = 60  # rows of the fixture: 42 train | 9 val | 9 test


def write_csv(path: Path, target: list[float], exo: list[float] | None = None, times: list | None = None) -> Path:
    times = times if times is not None else list(range(2000, 2000 + len(target)))
    lines = ["t,y" + (",x" if exo is not None else "")]
    for i, (t, y) in enumerate(zip(times, target)):
        cell = "" if isinstance(y, float) and math.isnan(y) else f"{y}"
        lines.append(f"{t},{cell}" + (f",{exo[i]}" if exo is not None else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def module_for(path: Path, **task) -> ForecastDataModule:
    data = task.pop("data", {})
    exo = ["x"] if "exo" in task and task.pop("exo") else []
    cfg = ForecastConfig(
        data=ForecastDataConfig(path=str(path), target="y", exogenous=exo, **data),
        **{"input_len": 5, "horizon": 2, "seasonality": 4, **task},
    )
    dm = ForecastDataModule(cfg)
    dm.prepare()
    return dm


def base_series() -> list[float]:
    return [10.0 + 3 * math.sin(i / 3) + 0.1 * i for i in range(N)]


def train_tensors(dm: ForecastDataModule) -> list[np.ndarray]:
    ds = dm.datasets["train"]
    items = [ds[i] for i in range(len(ds))]
    return [np.stack([it[k].numpy() for it in items]) for k in ("x", "y", "mask")]


@pytest.mark.parametrize("missing", ["ffill", "interpolate"])
@pytest.mark.parametrize("mode", ["direct", "autoregressive"])
@pytest.mark.parametrize("level", ["global", "window"])
def test_changing_val_and_test_changes_nothing_in_training(tmp_path, missing, mode, level):
    values = base_series()
    values[41] = float("nan")  # the last train row is missing: its fill must not borrow from val
    future = list(values)
    for i in range(42, N):
        future[i] = 1e6 + i * 1e4  # wild val/test values
    exo = mode == "direct"  # exogenous inputs (an autoregressive rollout takes none)
    a = module_for(
        write_csv(tmp_path / "a.csv", values, exo=values), exo=exo, mode=mode, level=level, data={"missing": missing}
    )
    b = module_for(
        write_csv(tmp_path / "b.csv", future, exo=future), exo=exo, mode=mode, level=level, data={"missing": missing}
    )
    assert a.sizes == b.sizes == (42, 9, 9)
    np.testing.assert_array_equal(a.scaler.mean, b.scaler.mean)
    np.testing.assert_array_equal(a.scaler.std, b.scaler.std)
    np.testing.assert_allclose(a.scaler.mean[0], np.nanmean(values[:42]))
    for ta, tb in zip(train_tensors(a), train_tensors(b)):
        np.testing.assert_array_equal(ta, tb)
    assert a.info.mase_scale == b.info.mase_scale
    # ... while the val/test windows do see the change
    assert not np.array_equal(a.datasets["test"][0]["actual"].numpy(), b.datasets["test"][0]["actual"].numpy())


def test_windows_read_the_past_and_score_their_own_split(tmp_path):
    dm = module_for(write_csv(tmp_path / "s.csv", base_series()))
    z = dm.scaler.transform(dm.filled)
    for name, (start, end) in dm.bounds.items():
        ds = dm.datasets[name]
        for i in range(len(ds)):
            item, t = ds[i], int(ds.origins[i])
            assert start <= t and t + 2 <= end  # every target inside the split
            np.testing.assert_allclose(item["x"].numpy()[:, 0], z[t - 5 : t, 0], rtol=1e-6)  # inputs strictly before
            np.testing.assert_allclose(item["y"].numpy(), z[t : t + 2, 0], rtol=1e-6)
    assert list(dm.datasets["train"].origins) == list(range(5, 41))
    assert list(dm.datasets["val"].origins) == list(range(42, 50))
    assert list(dm.datasets["test"].origins) == list(range(51, 59))


@pytest.mark.parametrize("mode", ["direct", "autoregressive"])
def test_window_level_subtracts_the_last_input_value(tmp_path, mode):
    values = base_series()
    dm = module_for(
        write_csv(tmp_path / "s.csv", values, exo=[float(i % 7) for i in range(N)]),
        exo=True,
        level="window",
        mode=mode,
        horizon=1 if mode == "autoregressive" else 2,
    )
    z = dm.scaler.transform(dm.filled)
    for ds in dm.datasets.values():
        for i in (0, len(ds) - 1):
            item, t = ds[i], int(ds.origins[i])
            level = float(item["level"])
            assert level == pytest.approx(z[t - 1, 0], abs=1e-6)
            x = item["x"].numpy()
            assert x[4, 0] == 0.0  # the last input before the origin is the level itself
            np.testing.assert_allclose(x[:, 0] + level, z[t - 5 : t - 5 + len(x), 0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(x[:, 1], z[t - 5 : t - 5 + len(x), 1], rtol=1e-6)  # exogenous untouched
            first = t if len(item["y"]) == dm.task.horizon else t - 4
            np.testing.assert_allclose(
                item["y"].numpy() + level, z[first : first + len(item["y"]), 0], rtol=1e-5, atol=1e-6
            )


def test_autoregressive_train_windows_are_shifted_by_one(tmp_path):
    dm = module_for(write_csv(tmp_path / "s.csv", base_series()), mode="autoregressive", horizon=3)
    item = dm.datasets["train"][0]
    assert item["x"].shape == (5 + 3 - 1, 1) and item["y"].shape == (7,)
    np.testing.assert_array_equal(item["x"][1:, 0].numpy(), item["y"][:-1].numpy())
    assert int(dm.datasets["train"].origins[-1]) + 3 <= 42


def test_missing_targets_are_masked_not_scored(tmp_path):
    values = base_series()
    values[53] = float("nan")
    dm = module_for(write_csv(tmp_path / "s.csv", values), horizon=2)
    test = dm.datasets["test"]
    masks = {int(test.origins[i]): test[i]["mask"].tolist() for i in range(len(test))}
    assert masks[52] == [True, False] and masks[53] == [False, True] and masks[51] == [True, True]
    one_step = module_for(write_csv(tmp_path / "s.csv", values), horizon=1).datasets["test"]
    assert 53 not in one_step.origins  # its only target is missing: no window
    assert dm.filled[53, 0] == values[52]  # ffill: the last observed value


def test_forward_fill_and_interpolation_by_hand():
    v = np.array([[1.0], [np.nan], [np.nan], [4.0], [np.nan]])
    np.testing.assert_array_equal(forward_fill(v)[:, 0], [1, 1, 1, 4, 4])
    times = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(interpolate_segment(times, v)[:, 0], [1, 2, 3, 4, 4])
    uneven = np.array([0.0, 1.0, 3.0, 4.0, 5.0])  # interpolation follows time, not row number
    np.testing.assert_allclose(interpolate_segment(uneven, v)[:, 0], [1, 1.75, 3.25, 4, 4])


def test_ffill_drops_rows_before_first_observation(tmp_path):
    values = base_series()
    values[0] = values[1] = float("nan")
    dm = module_for(write_csv(tmp_path / "s.csv", values))
    assert len(dm.series.times) == N - 2 and dm.series.times[0] == 2002


def test_times_are_parsed_and_sorted(tmp_path):
    days, is_date = parse_time(["19700102", "19700109"], "date")
    assert is_date and list(days) == [1.0, 8.0]
    days, is_date = parse_time(["1970-01-03", "1970-01-10T12:00:00"], "date")
    assert is_date and list(days) == [2.0, 9.5]
    years, is_date = parse_time(["1871", "1872.5"], "year")
    assert not is_date and list(years) == [1871.0, 1872.5]
    path = write_csv(tmp_path / "u.csv", [3.0, 1.0, 2.0], times=[2002, 2000, 2001])
    series = read_series(path, "t", "y", [])
    assert list(series.values[:, 0]) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "times,text,message",
    [
        ([2000, 2000, 2001], "1\n2\n3", "repeated time"),
        (["x", "y", "z"], "1\n2\n3", "cannot read"),
        ([2000, 2001, 2002], "1\nabc\n3", "not a number"),
    ],
)
def test_bad_csv_is_one_clear_error(tmp_path, times, text, message):
    rows = text.split("\n")
    path = tmp_path / "bad.csv"
    path.write_text("t,y\n" + "\n".join(f"{t},{r}" for t, r in zip(times, rows)) + "\n")
    with pytest.raises(DataError, match=message):
        read_series(path, "t", "y", [])


def test_split_sizes_and_window_origins_by_hand():
    assert split_sizes(100, 0.1, 0.2) == (70, 10, 20)
    with pytest.raises(ConfigError, match="val_fraction"):
        split_sizes(100, 0.6, 0.5)
    observed = np.ones(20, dtype=bool)
    assert list(window_origins((0, 10), 3, 2, observed)) == [3, 4, 5, 6, 7, 8]
    assert list(window_origins((10, 15), 3, 2, observed)) == [10, 11, 12, 13]
    observed[11:13] = False  # a window whose targets are all missing is dropped
    assert list(window_origins((10, 15), 3, 2, observed)) == [10, 12, 13]


def test_too_short_split_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="task.input_len"):
        module_for(write_csv(tmp_path / "s.csv", base_series()), horizon=12)


@pytest.mark.skipif(not (SHARED_DATA / "timeseries").is_dir(), reason="shared/data/timeseries not present")
def test_bundled_series_load(monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(SHARED_DATA))
    for series, rows, m in (("sunspots", 309, 11), ("nile", 100, 1)):
        dm = ForecastDataModule(ForecastConfig(data=ForecastDataConfig(series=series)))
        dm.prepare()
        assert len(dm.series.times) == rows
        assert dm.info.seasonality == m and dm.info.columns[0] in ("SUNACTIVITY", "volume")
    co2 = ForecastDataModule(
        ForecastConfig(data=ForecastDataConfig(series="co2", missing="interpolate"), input_len=52, horizon=13)
    )
    co2.prepare()
    assert co2.series.is_date and int((~co2.series.observed).sum()) == 59
    assert not np.isnan(co2.filled).any()
