"""The config schema of task ``forecast``: the series (bundled or a CSV), its columns and gaps, the windows, the
mode and the scaling level."""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("direct", "autoregressive")
LEVELS = ("global", "window")


@dataclass
class ForecastDataConfig:
    series: str = "sunspots"
    path: str | None = None
    time_column: str | None = None
    target: str | None = None
    exogenous: list[str] = field(default_factory=list)
    missing: str = "ffill"
    val_fraction: float = 0.15
    test_fraction: float = 0.15


@dataclass
class ForecastConfig:
    name: str = "forecast"
    data: ForecastDataConfig = field(default_factory=ForecastDataConfig)
    input_len: int = 22
    horizon: int = 1
    mode: str = "direct"
    level: str = "global"
    seasonality: int | None = None
    batch_size: int = 32
    tbptt_steps: int | None = None
    plot: bool = True
