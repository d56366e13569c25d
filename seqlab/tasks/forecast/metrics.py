"""Point-forecast errors in original units over the observed targets of every (window, lead) pair.

With ``e = y_hat - y`` over the N observed (window, lead) pairs of a split:

- ``MAE = sum |e| / N``, ``RMSE = sqrt(sum e^2 / N)``;
- ``MASE = MAE / s`` where ``s`` is the in-sample one-step naive MAE of the *train* split,
  ``s = mean_t |y_t - y_{t-1}|`` (Hyndman & Koehler 2006). MASE < 1: better than the one-step naive forecast was
  on the training data; the test naive baseline's own MASE is reported beside it.

Sums (not means) are accumulated so that batches and processes combine exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class ErrorSums:
    """Running ``sum |e|``, ``sum e^2`` and the count of scored targets."""

    abs_sum: float = 0.0
    sq_sum: float = 0.0
    count: float = 0.0

    def add(self, forecast: torch.Tensor, actual: torch.Tensor, mask: torch.Tensor) -> None:
        err = (forecast.double() - actual.double())[mask.bool()]
        self.abs_sum += float(err.abs().sum())
        self.sq_sum += float((err * err).sum())
        self.count += float(err.numel())

    @classmethod
    def of(cls, forecast: torch.Tensor, actual: torch.Tensor, mask: torch.Tensor) -> ErrorSums:
        """The sums of one batch."""
        sums = cls()
        sums.add(forecast, actual, mask)
        return sums

    def as_tensor(self) -> torch.Tensor:
        return torch.tensor([self.abs_sum, self.sq_sum, self.count], dtype=torch.float64)

    @classmethod
    def from_tensor(cls, t: torch.Tensor) -> ErrorSums:
        return cls(float(t[0]), float(t[1]), float(t[2]))

    def metrics(self, scale: float) -> dict[str, float]:
        """``mae``, ``rmse`` and ``mase`` (``scale`` = the train one-step naive MAE); empty when nothing scored."""
        if not self.count:
            return {}
        mae = self.abs_sum / self.count
        return {"mae": mae, "rmse": math.sqrt(self.sq_sum / self.count), "mase": mae / scale}


def forecast_errors(
    forecast: torch.Tensor, actual: torch.Tensor, scale: float, mask: torch.Tensor | None = None
) -> dict[str, float]:
    """MAE, RMSE, MASE of one set of forecasts (all targets scored unless ``mask`` says otherwise)."""
    sums = ErrorSums()
    sums.add(forecast, actual, torch.ones_like(actual, dtype=torch.bool) if mask is None else mask)
    return sums.metrics(scale)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor | None, int]:
    """Mean squared error over the observed targets and their count (``None`` loss when none is observed)."""
    count = int(mask.sum())
    if count == 0:
        return None, 0
    diff = (pred - target)[mask]
    return (diff * diff).mean(), count
