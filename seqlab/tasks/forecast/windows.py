"""Sliding windows over a split series: ``input_len`` past steps -> the next ``horizon`` target values.

A window with origin ``t`` reads inputs ``z[t - L : t]`` (all columns, normalized) and forecasts the target at
``t, ..., t + H - 1``. A window belongs to the split that holds *all* of its targets: train windows therefore read
train rows only, while val/test windows may read earlier rows (the past is known at forecast time) but their
targets never enter a training input or the scaler. Windows whose targets are all missing are dropped.

In ``autoregressive`` mode a training window is one step-ahead sequence of ``L + H - 1`` inputs
``z[t - L : t + H - 1]`` with targets ``y[t - L + 1 : t + H]`` (teacher forcing); evaluation windows are the same
as in ``direct`` mode and the model rolls out ``H`` steps from its own predictions.

With ``relative=True`` (``task.level=window``) each window is expressed relative to its level ``c = z[t - 1]``, the
last input value of the target column before the forecast origin: the target column of ``x`` and ``y`` become
``z - c``, and the item carries ``level`` (normalized units) to add back. A trending series (CO2) then looks the same
to the model in every split, where a global scaler would put val/test outside anything seen in training.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from seqlab.tasks.forecast.baselines import naive_forecast, seasonal_naive_forecast

SPLITS = ("train", "val", "test")


def split_bounds(sizes: tuple[int, int, int]) -> dict[str, tuple[int, int]]:
    """Row ranges ``[start, end)`` of each split."""
    edges = np.cumsum((0, *sizes))
    return {name: (int(edges[i]), int(edges[i + 1])) for i, name in enumerate(SPLITS)}


def window_origins(bounds: tuple[int, int], input_len: int, horizon: int, observed: np.ndarray) -> np.ndarray:
    """Origins ``t`` with ``t - L >= 0``, targets ``[t, t + H)`` inside ``bounds``, and at least one observed."""
    start, end = bounds
    first = max(start, input_len)
    origins = np.arange(first, end - horizon + 1)
    keep = [observed[t : t + horizon].any() for t in origins]
    return origins[np.array(keep, dtype=bool)] if len(origins) else origins


class WindowDataset(Dataset):
    """Windows of one split as dicts of tensors.

    Every item has ``x`` (time, F) normalized inputs, ``y`` (H,) normalized targets, ``mask`` (H,) observed targets,
    ``origin`` (the row of the first target). Evaluation items also carry ``actual``, ``naive`` and ``snaive``
    (H,) in original units. Autoregressive training items have ``x`` (L + H - 1, F) and per-step ``y``/``mask``.
    """

    def __init__(
        self,
        z: np.ndarray,
        filled_target: np.ndarray,
        observed: np.ndarray,
        origins: np.ndarray,
        input_len: int,
        horizon: int,
        seasonality: int,
        teacher_forced: bool = False,
        relative: bool = False,
    ) -> None:
        self.z = torch.as_tensor(z, dtype=torch.float32)
        self.target = torch.as_tensor(filled_target, dtype=torch.float32)
        self.observed = torch.as_tensor(observed, dtype=torch.bool)
        self.origins = np.asarray(origins, dtype=np.int64)
        self.input_len, self.horizon, self.m = input_len, horizon, seasonality
        self.teacher_forced, self.relative = teacher_forced, relative
        self._filled = np.asarray(filled_target, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.origins)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        t, L, H = int(self.origins[i]), self.input_len, self.horizon
        level = self.z[t - 1, 0] if self.relative else torch.zeros(())
        if self.teacher_forced:
            return {
                "x": self._shift(self.z[t - L : t + H - 1], level),
                "y": self.z[t - L + 1 : t + H, 0] - level,
                "mask": self.observed[t - L + 1 : t + H],
                "origin": torch.tensor(t),
                "level": level,
            }
        return {
            "x": self._shift(self.z[t - L : t], level),
            "y": self.z[t : t + H, 0] - level,
            "level": level,
            "mask": self.observed[t : t + H],
            "origin": torch.tensor(t),
            "actual": self.target[t : t + H],
            "naive": torch.as_tensor(naive_forecast(self._filled, t, H), dtype=torch.float32),
            "snaive": torch.as_tensor(seasonal_naive_forecast(self._filled, t, H, self.m), dtype=torch.float32),
        }

    @staticmethod
    def _shift(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """``x`` with ``level`` subtracted from its target column (column 0)."""
        x = x.clone()
        x[:, 0] -= level
        return x
