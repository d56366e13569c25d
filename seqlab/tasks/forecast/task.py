"""Task ``forecast``: the checks of its config (config.py) and the module/data pair."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from seqlab.errors import ConfigError
from seqlab.models.capabilities import Needs
from seqlab.tasks.base import Task, is_bidirectional, task_config
from seqlab.tasks.forecast.config import LEVELS, MODES, ForecastConfig
from seqlab.tasks.forecast.inference import ForecastInference
from seqlab.tasks.forecast.series import BUNDLED, MISSING_RULES, choose_columns, read_header, resolve_source
from seqlab.training.tbptt_check import check_positive

if TYPE_CHECKING:  # imported in build: a task's check runs without Lightning
    from seqlab.tasks.forecast.data import ForecastDataModule
    from seqlab.tasks.forecast.module import ForecastModule


class ForecastTask(Task):
    """Forecast a series' next value(s) from a window of its past, beside naive and seasonal-naive baselines."""

    Config = ForecastConfig
    module_class = "seqlab.tasks.forecast.module:ForecastModule"  # imported when first read (seqlab/tasks/base.py)
    inference = ForecastInference
    causal = False  # a direct forecaster may read its window both ways; autoregressive mode is checked below

    @classmethod
    def model_needs(cls, cfg: DictConfig) -> Needs:
        """direct: the last output of a window (any encoder); autoregressive: a stateful step-by-step rollout."""
        if task_config(cfg).mode == "autoregressive":
            return Needs(per_step=True, causal=True, state=True)
        return Needs(per_step=False)

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        super().check(cfg)
        task = task_config(cfg)
        check_positive(task, "input_len", "horizon", "batch_size")
        if task.mode not in MODES:
            raise ConfigError("task.mode", f"unknown mode '{task.mode}'", allowed=MODES)
        if task.level not in LEVELS:
            raise ConfigError("task.level", f"unknown level '{task.level}'", allowed=LEVELS)
        if task.data.missing not in MISSING_RULES:
            raise ConfigError("task.data.missing", f"unknown rule '{task.data.missing}'", allowed=MISSING_RULES)
        if task.seasonality is not None and task.seasonality < 1:
            raise ConfigError("task.seasonality", f"must be >= 1 or null (the series' own), got {task.seasonality}")
        if not task.data.path and task.data.series not in BUNDLED:
            raise ConfigError("task.data.series", f"unknown series '{task.data.series}'", allowed=sorted(BUNDLED))
        bidirectional = is_bidirectional(cfg)
        if task.mode == "autoregressive":
            if bidirectional:
                raise ConfigError(
                    "model.bidirectional",
                    "autoregressive forecasting is trained step by step and cannot read the future",
                    allowed=[False],
                )
            if task.data.exogenous and task.horizon > 1:
                raise ConfigError(
                    "task.mode",
                    "an autoregressive rollout would need future values of the exogenous columns; use direct mode",
                    allowed=["direct"],
                )
        limit = task.input_len + (task.horizon - 1 if task.mode == "autoregressive" else 0)
        if task.tbptt_steps is not None and not 1 <= task.tbptt_steps <= limit:  # bidirectional: Task.check
            raise ConfigError(
                "task.tbptt_steps",
                f"must be in [1, {limit}] or null (full BPTT over each window), got {task.tbptt_steps}",
            )
        path, default_target, _ = resolve_source(task.data)  # the columns exist (header only: cheap)
        choose_columns(task.data, read_header(path), default_target)

    @classmethod
    def build(cls, cfg: DictConfig) -> tuple[ForecastModule, ForecastDataModule]:
        from seqlab.tasks.forecast.data import ForecastDataModule
        from seqlab.tasks.forecast.module import ForecastModule

        task = task_config(cfg)
        data = ForecastDataModule(task)
        info = data.prepare()
        return ForecastModule(cfg, info.as_dict()), data
