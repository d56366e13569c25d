"""The forecaster: a sequence model over normalized windows and a linear head, scored against the baselines.

- ``direct`` (many-to-one for H = 1, many-to-many for H > 1): ``y_hat[t:t+H] = W h_{t-1} + b`` from the last
  hidden state of the input window; loss = MSE over the H (observed) targets.
- ``autoregressive``: trained teacher-forced to predict the next value at every step (many-to-many); at evaluation
  it reads the window, then feeds each prediction back as the next input for H steps.
- ``task.level=window``: windows arrive relative to their last input value ``c`` (see windows.py); forecasts are
  ``c + y_hat``, so the model learns changes from the current level instead of absolute values.

The loss (``{train,val,test}/loss``) is the MSE in normalized units; ``{val,test}/{mae,rmse,mase}`` are in original
units, with ``naive_*`` and ``seasonal_naive_*`` beside them (see metrics.py). The test pass writes
``forecast_test.png`` and ``forecast_test.csv`` in the run folder.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from seqlab.models.base import State
from seqlab.tasks.base import build_model
from seqlab.tasks.forecast.metrics import ErrorSums, masked_mse
from seqlab.tasks.forecast.plot import TestForecasts, save_plot, save_table
from seqlab.training.loggers import log_image
from seqlab.training.metric_sums import Sums
from seqlab.training.tbptt import StepResult, TBPTTModule

log = logging.getLogger(__name__)
FORECASTERS = {"model": "", "naive": "naive_", "snaive": "seasonal_naive_"}


class ForecastModule(TBPTTModule):
    """``data`` is :class:`seqlab.tasks.forecast.data.Prepared` as a dict (columns, scaler, MASE scale, season)."""

    def __init__(self, config: DictConfig | dict, data: dict[str, Any]) -> None:
        super().__init__(config, data=dict(data))
        task = self.task
        self.mode: str = task.mode
        self.relative: bool = task.level == "window"
        self.horizon: int = task.horizon
        self.mase_scale = float(data["mase_scale"])
        self.target_mean, self.target_std = float(data["mean"][0]), float(data["std"][0])
        self.encoder = build_model(self.job.model, len(data["columns"]))
        self.head = nn.Linear(self.encoder.output_size, self.horizon if self.mode == "direct" else 1)
        # sum |e|, sum e^2, count for each forecaster (model, naive, seasonal naive) of one pass
        self._errors = nn.ModuleDict({name: Sums(3) for name in FORECASTERS})
        self._records: list[dict[str, torch.Tensor]] = []

    # ---- forecasting -----------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """Head outputs at every step ``(B, T, H or 1)`` and the final state."""
        out, state = self.encoder(x, state)
        return self.head(out), state

    def forecast(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized forecasts ``(B, H)`` of the H steps after the window ``x`` (B, L, F)."""
        out, state = self(x)
        if self.mode == "direct":
            return out[:, -1]
        preds = [out[:, -1]]  # (B, 1)
        for _ in range(self.horizon - 1):
            out, state = self(preds[-1].unsqueeze(1), state)
            preds.append(out[:, -1])
        return torch.cat(preds, dim=1)

    def to_original(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.target_std + self.target_mean

    @torch.no_grad()
    def predict_next(self, history: np.ndarray | list) -> np.ndarray:
        """The next H target values (original units) after ``history``: (L,) target values, or (L, F) rows of
        [target, *exogenous] in the training columns' order, with no missing values."""
        rows = np.asarray(history, dtype=np.float64).reshape(len(history), -1)
        mean, std = np.asarray(self.hparams["data"]["mean"]), np.asarray(self.hparams["data"]["std"])
        x = torch.as_tensor((rows - mean) / std, dtype=torch.float32, device=self.device).unsqueeze(0)
        level = x[0, -1, 0].clone() if self.relative else torch.zeros((), device=self.device)
        x[..., 0] -= level
        was_training = self.training
        self.eval()
        out = self.to_original(self.forecast(x) + level)[0].cpu().numpy()
        self.train(was_training)
        return out

    # ---- training --------------------------------------------------------------------------------------------
    def split_batch(self, batch: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """TBPTT chunks: direct mode scores only the last chunk; autoregressive mode splits targets too."""
        if self.tbptt_steps is None:
            return [batch]
        xs = batch["x"].split(self.tbptt_steps, dim=1)
        if self.mode == "direct":
            return [{"x": c} for c in xs[:-1]] + [{**batch, "x": xs[-1]}]
        ys, ms = batch["y"].split(self.tbptt_steps, dim=1), batch["mask"].split(self.tbptt_steps, dim=1)
        return [{"x": x, "y": y, "mask": m} for x, y, m in zip(xs, ys, ms)]

    def chunks_per_batch(self) -> int:
        if self.tbptt_steps is None or self.mode == "direct" or getattr(self, "tbptt_accumulate", False):
            return 1  # direct mode steps once per batch (only its last chunk has targets)
        task = self.task
        return math.ceil((task.input_len + task.horizon - 1) / self.tbptt_steps)

    def train_chunk(self, chunk: dict[str, torch.Tensor], state: State) -> StepResult:
        x = chunk["x"]
        out, state = self(x, state)
        tokens = x.shape[0] * x.shape[1]
        if "y" not in chunk:
            return StepResult(loss=None, count=0, state=state, tokens=tokens)
        pred = out[:, -1] if self.mode == "direct" else out.squeeze(-1)
        loss, count = masked_mse(pred, chunk["y"], chunk["mask"])
        return StepResult(loss=loss, count=count, state=state, tokens=tokens)

    # ---- evaluation ------------------------------------------------------------------------------------------
    def eval_batch(self, batch: dict[str, torch.Tensor], state: State, stage: str) -> StepResult:
        pred = self.forecast(batch["x"])
        loss, count = masked_mse(pred, batch["y"], batch["mask"])
        forecast = self.to_original(pred + batch["level"].unsqueeze(-1))
        for name, values in (("model", forecast), ("naive", batch["naive"]), ("snaive", batch["snaive"])):
            self._errors[name].update(ErrorSums.of(values, batch["actual"], batch["mask"]).as_tensor())
        if stage == "test":
            self._records.append(
                {
                    "origins": batch["origin"],
                    "forecast": forecast,
                    "actual": batch["actual"],
                    "naive": batch["naive"],
                    "snaive": batch["snaive"],
                    "observed": batch["mask"],
                }
            )
        x = batch["x"]
        return StepResult(
            loss=loss if loss is not None else torch.zeros(()), count=count, tokens=x.shape[0] * x.shape[1]
        )

    def _eval_start(self) -> None:
        super()._eval_start()
        for sums in self._errors.values():
            sums.reset()
        self._records = []

    def _log_errors(self, stage: str) -> None:
        for name, prefix in FORECASTERS.items():
            sums = self._errors[name].totals()  # summed over DDP ranks
            for metric, value in ErrorSums.from_tensor(sums).metrics(self.mase_scale).items():
                self.log(f"{stage}/{prefix}{metric}", value, prog_bar=(metric == "mase" and not prefix))

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._log_errors("val")

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self._log_errors("test")
        if self.task.plot:
            forecasts = self._test_forecasts()  # a collective under DDP: every rank calls it
            if self.trainer.is_global_zero and forecasts is not None:
                self.save_test_outputs(Path(self.trainer.default_root_dir), forecasts)

    def _test_forecasts(self) -> dict[str, np.ndarray] | None:
        """Every test window's arrays, from all ranks, sorted by origin (None when there are none)."""
        local = (
            {k: torch.cat([r[k] for r in self._records]).detach().cpu().numpy() for k in self._records[0]}
            if self._records
            else None
        )
        parts = [local]
        if self.trainer.world_size > 1 and torch.distributed.is_initialized():
            parts = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(parts, local)
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        order = np.argsort(merged["origins"], kind="stable")
        return {k: v[order] for k, v in merged.items()}

    def save_test_outputs(self, run_dir: Path, forecasts: dict[str, np.ndarray]) -> None:
        """forecast_test.png and forecast_test.csv from the test windows' arrays."""
        f = TestForecasts(**forecasts)
        f.observed = f.observed.astype(bool)
        dm = getattr(self.trainer, "datamodule", None)
        times_of = dm.times_of if hasattr(dm, "times_of") else (lambda rows: np.asarray(rows))
        task, model = self.task, self.job.model
        target = self.hparams["data"]["columns"][0]
        title = (
            f"{task.data.path or task.data.series}: {target}, test range; {model.name}, input_len="
            f"{task.input_len}, horizon={task.horizon}, {task.mode}"
        )
        png = save_plot(run_dir / "forecast_test.png", f, times_of, title)
        save_table(run_dir / "forecast_test.csv", f, times_of)
        log.info("forecast plot: %s", png)
        log_image(self.trainer, "forecast_test", png, self.trainer.global_step)
