"""The forecasting DataModule: load -> split -> fill -> scale (train only) -> windows; shuffled train loader."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, DistributedSampler, Subset

from seqlab.data.splits import split_sizes
from seqlab.errors import ConfigError
from seqlab.tasks.forecast.series import (
    Scaler,
    Series,
    choose_columns,
    drop_leading_missing,
    fill_missing,
    naive_scale,
    read_header,
    read_series,
    resolve_source,
)
from seqlab.tasks.forecast.windows import SPLITS, WindowDataset, split_bounds, window_origins
from seqlab.training.ddp import RankAwareData, rank_and_world


@dataclass
class Prepared:
    """Everything the module needs to know about the data (saved in checkpoints)."""

    columns: list[str]
    mean: list[float]
    std: list[float]
    mase_scale: float
    seasonality: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def load(task) -> tuple[Series, int]:
    """The series the config names and its default seasonality."""
    path, default_target, default_m = resolve_source(task.data)
    time_col, target, exogenous = choose_columns(task.data, read_header(path), default_target)
    return read_series(path, time_col, target, exogenous), default_m


class ForecastDataModule(RankAwareData):
    """``prepare()`` reads and windows the series once; loaders serve dict batches (see WindowDataset).

    Under DDP it shards itself (``shards_itself``; the run turns Lightning's distributed sampler off): training
    windows through a shuffling ``DistributedSampler`` (equal counts per rank), val/test windows strided by rank
    without the padding duplicates Lightning's sampler would add, so the summed error metrics are exact."""

    shards_itself = True

    def __init__(self, task) -> None:
        super().__init__()
        self.task = task
        self.info: Prepared | None = None
        self.datasets: dict[str, WindowDataset] = {}

    def prepare(self) -> Prepared:
        if self.info is not None:
            return self.info
        task = self.task
        series, default_m = load(task)
        if task.data.missing == "ffill":
            series = drop_leading_missing(series)
        sizes = split_sizes(len(series.times), task.data.val_fraction, task.data.test_fraction)
        bounds = split_bounds(sizes)
        filled = fill_missing(series, sizes, task.data.missing)
        train_rows = series.values[: bounds["train"][1]]
        scaler = Scaler.fit(train_rows)  # observed train values only: val/test never reach the scaler
        m = task.seasonality or default_m
        observed = series.observed
        self.series, self.sizes, self.bounds, self.filled, self.scaler = series, sizes, bounds, filled, scaler
        z = scaler.transform(filled)
        for name in SPLITS:
            origins = window_origins(bounds[name], task.input_len, task.horizon, observed)
            if len(origins) == 0:
                raise ConfigError(
                    "task.input_len",
                    f"the {name} split ({sizes[SPLITS.index(name)]} rows) has no "
                    f"window of input_len={task.input_len} + horizon={task.horizon}; lower them or "
                    "change task.data.val_fraction/test_fraction",
                )
            if name != "train" and origins[0] < m:
                raise ConfigError(
                    "task.seasonality",
                    f"{m} is longer than the history before the {name} split ({int(origins[0])} rows)",
                )
            teacher = name == "train" and task.mode == "autoregressive"
            self.datasets[name] = WindowDataset(
                z,
                filled[:, 0],
                observed,
                origins,
                task.input_len,
                task.horizon,
                m,
                teacher_forced=teacher,
                relative=task.level == "window",
            )
        self.info = Prepared(
            columns=series.columns,
            mean=scaler.mean.tolist(),
            std=scaler.std.tolist(),
            mase_scale=naive_scale(series.values[: bounds["train"][1], 0]),
            seasonality=m,
        )
        return self.info

    def times_of(self, rows: np.ndarray) -> np.ndarray:
        """Plot-axis times of rows (years, or dates)."""
        return self.series.time_labels()[rows]

    def _loader(self, name: str) -> DataLoader:
        self.prepare()
        dataset, batch = self.datasets[name], self.task.batch_size
        rank, world = rank_and_world(self.trainer)
        if world == 1:
            return DataLoader(dataset, batch_size=batch, shuffle=(name == "train"))
        if name == "train":  # Lightning calls set_epoch on it: a new order every epoch
            return DataLoader(dataset, batch_size=batch, sampler=DistributedSampler(dataset, world, rank))
        return DataLoader(Subset(dataset, range(rank, len(dataset), world)), batch_size=batch)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
