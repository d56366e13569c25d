"""Progress a user can read anywhere: a bar on a terminal, log lines everywhere else.

When stdout is a terminal and ``trainer.enable_progress_bar`` is true, Lightning's bar is shown (its epoch counter
without a total when ``trainer.max_steps`` bounds the run). Otherwise (output redirected to a file, a batch job, a
pipe, or the bar turned off) :class:`ProgressLog` logs one line every ``progress.every_n_steps`` optimizer steps or
``progress.every_seconds`` seconds, whichever comes first (step, loss, tokens/s, elapsed, estimated remaining time),
and one line per validation with its metrics.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from pytorch_lightning.callbacks import RichProgressBar, Timer
from pytorch_lightning.utilities.imports import _RICH_AVAILABLE

from seqlab.training.throughput import ThroughputMeter

log = logging.getLogger("seqlab.progress")


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def progress_callbacks(cfg: DictConfig, bar_wanted: bool) -> tuple[list[pl.Callback], bool]:
    """The progress callbacks of a run and whether Lightning's bar is on: the bar on a terminal (when wanted), log
    lines otherwise (unless ``progress.every_n_steps`` and ``progress.every_seconds`` are both 0)."""
    show_bar = bool(bar_wanted) and stdout_is_terminal()
    if show_bar:
        return ([StepAwareRichProgressBar()] if _RICH_AVAILABLE else []), True
    settings = cfg.get("progress") or {}
    steps, seconds = int(settings.get("every_n_steps") or 0), float(settings.get("every_seconds") or 0)
    return ([ProgressLog(steps, seconds)] if steps or seconds else []), False


class StepAwareRichProgressBar(RichProgressBar):
    """Lightning's rich bar, but "Epoch N" without "/max_epochs-1" when ``max_steps`` bounds the run."""

    def _get_train_description(self, current_epoch: int) -> str:
        if (self.trainer.max_steps or -1) < 0:
            return super()._get_train_description(current_epoch)
        description = f"Epoch {current_epoch}"
        return f"{description:{max(len(description), len(self.validation_description))}}"


class ProgressLog(pl.Callback):
    """One log line every ``every_n_steps`` optimizer steps or ``every_seconds`` seconds (0: off), and one per
    validation; rank zero only."""

    def __init__(self, every_n_steps: int = 50, every_seconds: float = 30.0) -> None:
        self.every_n_steps = every_n_steps
        self.every_seconds = every_seconds
        self._started = self._last_time = 0.0
        self._first_step = self._last_step = 0
        self._first_batch: int | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = self._last_time = time.monotonic()
        self._first_step = self._last_step = trainer.global_step
        self._first_batch = None

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not trainer.is_global_zero:
            return
        done = self._batches_done(trainer, batch_idx)
        if self._first_batch is None:
            self._first_batch = done - 1
        now, step = time.monotonic(), trainer.global_step
        by_steps = self.every_n_steps and step // self.every_n_steps > self._last_step // self.every_n_steps
        by_time = self.every_seconds and now - self._last_time >= self.every_seconds
        if by_steps or by_time:
            self._last_step, self._last_time = step, now
            log.info(self.train_line(trainer, pl_module, done, now))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        shown = "  ".join(f"{k} {_number(v)}" for k, v in sorted(metrics.items()))
        log.info("validation at step %d: %s", trainer.global_step, shown or "(no metrics)")

    def train_line(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batches_done: int, now: float) -> str:
        step, elapsed = trainer.global_step, now - self._started
        bound = f"/{trainer.max_steps}" if trainer.max_steps and trainer.max_steps > 0 else ""
        parts = [f"step {step}{bound}", f"epoch {trainer.current_epoch}"]
        # a TBPTTModule logs train/loss to Lightning only when its loggers write (seqlab/training/log_steps.py)
        loss = getattr(pl_module, "train_loss", None)
        if loss is None:
            loss = trainer.callback_metrics.get("train/loss")
        if loss is not None:
            parts.append(f"loss {float(loss):.4f}")
        meter = next((cb for cb in trainer.callbacks if isinstance(cb, ThroughputMeter)), None)
        if meter is not None and meter.train_seconds:
            parts.append(f"{meter.tokens_per_second(pl_module) * trainer.world_size:,.0f} tokens/s")
        parts.append(f"elapsed {_duration(elapsed)}")
        remaining = self.remaining(trainer, batches_done, elapsed)
        if remaining is not None:
            parts.append(f"remaining ~{_duration(remaining)}")
        return "  ".join(parts)

    def remaining(self, trainer: pl.Trainer, batches_done: int, elapsed: float) -> float | None:
        """Seconds left by whichever bound (max_steps, max_epochs, max_time) ends the run first; None if unknown."""
        estimates = []
        if trainer.max_steps and trainer.max_steps > 0:
            estimates.append(
                _extrapolate(elapsed, trainer.global_step - self._first_step, trainer.max_steps - self._first_step)
            )
        per_epoch = trainer.num_training_batches
        if trainer.max_epochs and trainer.max_epochs > 0 and math.isfinite(per_epoch) and per_epoch > 0:
            first = self._first_batch or 0
            estimates.append(_extrapolate(elapsed, batches_done - first, trainer.max_epochs * per_epoch - first))
        timer = next((cb for cb in trainer.callbacks if isinstance(cb, Timer)), None)
        left = timer.time_remaining() if timer is not None else None
        if left is not None:
            estimates.append(max(0.0, left))
        known = [e for e in estimates if e is not None]
        return min(known) if known else None

    @staticmethod
    def _batches_done(trainer: pl.Trainer, batch_idx: int) -> int:
        per_epoch = trainer.num_training_batches
        epoch_start = trainer.current_epoch * per_epoch if math.isfinite(per_epoch) else 0
        return int(epoch_start) + batch_idx + 1


def _extrapolate(elapsed: float, done: float, total: float) -> float | None:
    if done <= 0 or total <= 0:
        return None
    return max(0.0, elapsed * (total - done) / done)


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _number(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)
