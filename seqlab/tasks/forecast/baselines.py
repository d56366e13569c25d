"""The baselines every forecast is reported beside (original units, from the filled series before the origin).

- naive (last value): ``y_hat[t + k] = y[t - 1]``;
- seasonal naive with period ``m``: ``y_hat[t + k] = y[t + k - m * (k // m + 1)]``, the value one cycle before
  (or more cycles, for leads beyond one season); ``m = 1`` is the naive forecast.
"""

from __future__ import annotations

import numpy as np


def naive_forecast(filled_target: np.ndarray, origin: int, horizon: int) -> np.ndarray:
    """Last value: ``y_hat[t + k] = y[t - 1]`` for every lead ``k``."""
    return np.full(horizon, filled_target[origin - 1])


def seasonal_naive_forecast(filled_target: np.ndarray, origin: int, horizon: int, m: int) -> np.ndarray:
    """Same season last cycle: ``y_hat[t + k] = y[t + k - m * (k // m + 1)]`` (needs ``t >= m``)."""
    k = np.arange(horizon)
    return filled_target[origin + k - m * (k // m + 1)]
