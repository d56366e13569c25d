"""The test-range picture and table: forecast against actual (original units), baselines beside.

``forecast_test.png`` draws the actual series over the test targets, the model's lead-1 forecast (and its lead-H
forecast when H > 1), and the lead-1 naive and seasonal-naive forecasts. ``forecast_test.csv`` lists every scored
(window, lead) pair: ``time, lead, actual, forecast, naive, seasonal_naive, observed``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class TestForecasts:
    """Per-window arrays: ``origins`` (N,), the rest (N, H) in original units; ``observed`` (N, H) bool."""

    origins: np.ndarray
    forecast: np.ndarray
    actual: np.ndarray
    naive: np.ndarray
    snaive: np.ndarray
    observed: np.ndarray


def _series_at(rows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(rows, kind="stable")
    rows, values = rows[order], values[order]
    keep = np.concatenate(([True], np.diff(rows) != 0))
    return rows[keep], values[keep]


def save_plot(path: Path, f: TestForecasts, times_of, title: str) -> Path:
    """Write the PNG; ``times_of(rows)`` maps rows to axis values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    horizon = f.forecast.shape[1]
    leads = np.arange(horizon)
    rows_all = (f.origins[:, None] + leads[None, :]).ravel()
    actual = np.where(f.observed, f.actual, np.nan).ravel()
    rows, actual = _series_at(rows_all, actual)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(times_of(rows), actual, color="black", lw=1.8, label="actual")
    ax.plot(times_of(f.origins), f.forecast[:, 0], color="tab:blue", lw=1.5, label="model (lead 1)")
    if horizon > 1:
        ax.plot(
            times_of(f.origins + horizon - 1),
            f.forecast[:, -1],
            color="tab:purple",
            lw=1.2,
            label=f"model (lead {horizon})",
        )
    ax.plot(times_of(f.origins), f.naive[:, 0], color="tab:gray", lw=1, ls="--", label="naive (lead 1)")
    ax.plot(times_of(f.origins), f.snaive[:, 0], color="tab:orange", lw=1, ls=":", label="seasonal naive (lead 1)")
    ax.set_title(title)
    ax.set_xlabel("time")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_table(path: Path, f: TestForecasts, times_of) -> Path:
    """Write one CSV row per (window, lead)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["time", "lead", "actual", "forecast", "naive", "seasonal_naive", "observed"])
        for i, origin in enumerate(f.origins):
            for k in range(f.forecast.shape[1]):
                out.writerow(
                    [
                        times_of(np.array([origin + k]))[0],
                        k + 1,
                        f.actual[i, k],
                        f.forecast[i, k],
                        f.naive[i, k],
                        f.snaive[i, k],
                        int(f.observed[i, k]),
                    ]
                )
    return path
