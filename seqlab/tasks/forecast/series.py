"""A time series from a CSV: read, sort, chronological split, missing values, and a train-only scaler.

Rules (also in docs/forecast.md):

- Columns: one time column, the target column, optional exogenous columns; all values are floats. Empty cells and
  ``NA``/``NaN``/``null``/``?`` are missing values. Rows are sorted by time; a repeated time is an error. Rows are
  taken as equally spaced steps (a skipped date is not filled in).
- Split: by row, in time order: ``train | val | test`` with ``n_val = int(n * val_fraction)``,
  ``n_test = int(n * test_fraction)``, ``n_train = n - n_val - n_test``.
- Missing values (``missing``):
  ``ffill`` (default): each missing value takes the last observed value before it (strictly causal); rows before
  the first observation of any column are dropped before splitting.
  ``interpolate``: linear in time between the nearest observed values *of the same split* (nothing crosses a
  split boundary); a gap at a split's edge takes the split's nearest observed value.
  Either way a missing *target* is never scored: it is masked out of the loss and of every metric.
- Scaling: ``z = (x - mean) / std`` per column, mean and std of the train split's observed values only.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from seqlab.data.locate import locate
from seqlab.data.text_files import utf8_or_error
from seqlab.errors import ConfigError, DataError

MISSING_TOKENS = {"", "na", "nan", "null", "none", "?"}
MISSING_RULES = ("ffill", "interpolate")


@dataclass(frozen=True)
class BundledSeries:
    """A public series shipped in ``$SEQLAB_DATA_DIR/timeseries/``."""

    file: str
    target: str
    seasonality: int


BUNDLED = {
    "sunspots": BundledSeries("timeseries/sunspots.csv", "SUNACTIVITY", 11),  # yearly, ~11-year solar cycle
    "co2": BundledSeries("timeseries/co2.csv", "co2", 52),  # weekly, yearly cycle
    "nile": BundledSeries("timeseries/nile.csv", "volume", 1),  # yearly, no season
}


@dataclass
class Series:
    """A loaded series: ``values`` (n, F) with the target in column 0, then the exogenous columns."""

    times: np.ndarray  # (n,) float: the year/number, or days since 1970-01-01 for dates
    values: np.ndarray  # (n, F) float64, NaN where missing
    columns: list[str]  # [target, *exogenous]
    is_date: bool = False
    source: str = ""

    @property
    def observed(self) -> np.ndarray:
        """(n,) bool: the target was observed (not missing) at this row."""
        return ~np.isnan(self.values[:, 0])

    def time_labels(self) -> np.ndarray:
        """Times for a plot axis: datetime64 for dates, else the numbers."""
        if self.is_date:
            return np.array(self.times, dtype="timedelta64[D]") + np.datetime64("1970-01-01")
        return self.times


def resolve_source(data) -> tuple[Path, str | None, int]:
    """The CSV to read, the default target column and the default seasonality for ``task.data``."""
    if data.path:
        return locate("", explicit=data.path, key="task.data.path"), None, 1
    if data.series not in BUNDLED:
        raise ConfigError("task.data.series", f"unknown series '{data.series}'", allowed=sorted(BUNDLED))
    spec = BUNDLED[data.series]
    return locate(spec.file, key="task.data.series"), spec.target, spec.seasonality


def read_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh, utf8_or_error(path, "task.data.path"):
        header = next(csv.reader(fh), None)
    if not header:
        raise DataError(f"task.data.path: no header row in {path}")
    return [h.strip() for h in header]


def choose_columns(data, header: list[str], default_target: str | None) -> tuple[str, str, list[str]]:
    """(time, target, exogenous) column names, checked against the file's header."""
    time_col = data.time_column or header[0]
    target = data.target or default_target
    if target is None:
        raise ConfigError("task.data.target", "name the column to forecast", allowed=header[1:])
    for key, name in (
        ("task.data.time_column", time_col),
        ("task.data.target", target),
        *(("task.data.exogenous", e) for e in data.exogenous),
    ):
        if name not in header:
            raise ConfigError(key, f"no column '{name}' in the CSV", allowed=header)
    if target == time_col or time_col in data.exogenous or target in data.exogenous:
        raise ConfigError("task.data.exogenous", "time, target and exogenous columns must be different columns")
    if len(set(data.exogenous)) != len(data.exogenous):
        raise ConfigError("task.data.exogenous", "a column is listed twice")
    return time_col, target, list(data.exogenous)


def parse_time(raw: list[str], column: str) -> tuple[np.ndarray, bool]:
    """Times as floats. ``YYYYMMDD`` integers and ISO dates become days since 1970; other numbers stay numbers."""
    stripped = [r.strip() for r in raw]
    if all(len(r) == 8 and r.isdigit() for r in stripped):
        try:
            return np.array([_days(datetime.strptime(r, "%Y%m%d")) for r in stripped]), True
        except ValueError:
            pass
    try:
        return np.array([float(r) for r in stripped]), False
    except ValueError:
        pass
    try:
        return np.array([_days(datetime.fromisoformat(r)) for r in stripped]), True
    except ValueError:
        bad = next(r for r in stripped if not _is_iso(r))
        raise DataError(f"time column '{column}': cannot read '{bad}' as a number or an ISO date") from None


def _days(moment: datetime) -> float:
    return (moment.replace(tzinfo=None) - datetime(1970, 1, 1)).total_seconds() / 86400.0


def _is_iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
        return True
    except ValueError:
        return False


def _parse_value(text: str, column: str, row: int) -> float:
    if text.strip().lower() in MISSING_TOKENS:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"column '{column}', data row {row}: '{text}' is not a number") from None
    if math.isinf(value):
        raise DataError(f"column '{column}', data row {row}: infinite value")
    return value


def read_series(path: Path, time_col: str, target: str, exogenous: list[str]) -> Series:
    """Read the CSV, sort it by time, and refuse repeated times."""
    with open(path, newline="", encoding="utf-8") as fh, utf8_or_error(path, "task.data.path"):
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader)]
        rows = [r for r in reader if any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"task.data.path: {path} has a header but no data rows")
    index = {name: header.index(name) for name in [time_col, target, *exogenous]}
    width = max(index.values()) + 1
    short = next((i for i, r in enumerate(rows, 1) if len(r) < width), None)
    if short is not None:
        raise DataError(f"{path}: data row {short} has fewer columns than the header")
    times, is_date = parse_time([r[index[time_col]] for r in rows], time_col)
    columns = [target, *exogenous]
    values = np.array([[_parse_value(r[index[c]], c, i) for c in columns] for i, r in enumerate(rows, 1)])
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    if np.any(np.diff(times) == 0):
        raise DataError(f"time column '{time_col}': repeated time {times[np.flatnonzero(np.diff(times) == 0)[0]]}")
    return Series(times=times, values=values, columns=columns, is_date=is_date, source=str(path))


def drop_leading_missing(series: Series) -> Series:
    """Drop rows before every column has been observed once (forward fill has nothing to carry there)."""
    observed = ~np.isnan(series.values)
    if not observed.any(axis=0).all():
        empty = [c for c, ok in zip(series.columns, observed.any(axis=0)) if not ok]
        raise DataError(f"column '{empty[0]}' has no values")
    start = int(max(np.argmax(observed[:, j]) for j in range(observed.shape[1])))
    return Series(series.times[start:], series.values[start:], series.columns, series.is_date, series.source)


def forward_fill(values: np.ndarray) -> np.ndarray:
    """Each NaN takes the last non-NaN value above it in its column (the first row must be observed)."""
    out = values.copy()
    for j in range(out.shape[1]):
        col = out[:, j]
        idx = np.where(np.isnan(col), 0, np.arange(len(col)))
        np.maximum.accumulate(idx, out=idx)
        out[:, j] = col[idx]
    return out


def interpolate_segment(times: np.ndarray, values: np.ndarray, name: str = "segment") -> np.ndarray:
    """Linear-in-time interpolation of each column using only this segment's observed values."""
    out = values.copy()
    for j in range(out.shape[1]):
        col = out[:, j]
        seen = ~np.isnan(col)
        if not seen.any():
            raise DataError(f"the {name} split has no observed value in column {j}; use task.data.missing=ffill")
        col[~seen] = np.interp(times[~seen], times[seen], col[seen])  # edges: nearest observed value
    return out


def fill_missing(series: Series, sizes: tuple[int, int, int], rule: str) -> np.ndarray:
    """The filled (n, F) values under ``rule``; ``series`` must already have its leading gaps dropped for ffill."""
    if rule == "ffill":
        return forward_fill(series.values)
    if rule == "interpolate":
        bounds = np.cumsum((0, *sizes))
        parts = [
            interpolate_segment(series.times[a:b], series.values[a:b], name)
            for a, b, name in zip(bounds[:-1], bounds[1:], ("train", "val", "test"))
        ]
        return np.concatenate(parts)
    raise ConfigError("task.data.missing", f"unknown rule '{rule}'", allowed=MISSING_RULES)


@dataclass
class Scaler:
    """``z = (x - mean) / std`` per column; ``inverse`` maps the target column (0) back to original units."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, train_values: np.ndarray) -> Scaler:
        """Mean and std of the observed (non-NaN) train values of each column; a constant column gets std 1."""
        mean = np.nanmean(train_values, axis=0)
        std = np.nanstd(train_values, axis=0)
        return cls(mean=mean, std=np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse_target(self, z):
        return z * float(self.std[0]) + float(self.mean[0])


def naive_scale(target: np.ndarray) -> float:
    """MASE's denominator: the in-sample one-step naive MAE, ``mean_t |y_t - y_{t-1}|`` over consecutive pairs of
    observed train targets."""
    diffs = np.abs(np.diff(target))
    diffs = diffs[~np.isnan(diffs)]
    if diffs.size == 0 or diffs.mean() == 0:
        raise DataError("the train split's target never changes: MASE is undefined (its naive MAE is 0)")
    return float(diffs.mean())
