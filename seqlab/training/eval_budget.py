"""Evaluation of a budgeted run: a bounded validation subset during training, the full test set once at the end.

A run capped by ``trainer.max_steps`` or ``trainer.max_time`` validates on at most ``eval.val_batches`` batches (the
first N of a fixed order: a contiguous slice of every stream for language models, a fixed random sample of length
bands for sentiment), the same subset at every validation, so validations stay cheap and comparable. The test runs
once, after training, on ``eval.test_batches`` batches (null: the whole test set; 0: no test); before it starts, its
duration is estimated from the validation speed and printed. ``trainer.limit_val_batches`` /
``trainer.limit_test_batches`` on the command line win over both keys.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def is_budgeted(cfg: DictConfig) -> bool:
    """Whether the run is capped by steps or time rather than by epochs alone."""
    max_steps = cfg.trainer.get("max_steps")
    return (max_steps is not None and max_steps > 0) or cfg.trainer.get("max_time") is not None


def eval_limits(cfg: DictConfig) -> dict[str, Any]:
    """Trainer arguments that bound evaluation (empty when the user set them or the run is not budgeted)."""
    node = cfg.get("eval") or {}
    limits: dict[str, Any] = {}
    val_batches = node.get("val_batches")
    if is_budgeted(cfg) and cfg.trainer.get("limit_val_batches") is None and val_batches is not None:
        limits["limit_val_batches"] = int(val_batches)
    test_batches = node.get("test_batches")
    if cfg.trainer.get("limit_test_batches") is None and test_batches is not None:
        limits["limit_test_batches"] = int(test_batches)
    return limits


class EvalTimer(pl.Callback):
    """Seconds per validation batch, measured during fit (for the estimate of the final test)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.batches = 0
        self._started: float | None = None

    def on_validation_batch_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        self._started = time.perf_counter()

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self.batches += 1

    def per_batch(self) -> float | None:
        return self.seconds / self.batches if self.batches else None


def announce_test(trainer: pl.Trainer, data: pl.LightningDataModule, timer: EvalTimer | None) -> str | None:
    """One line: how many test batches will run and, from the validation speed, about how long it will take."""
    try:
        total = len(data.test_dataloader())
    except TypeError:  # an iterable without a length
        return None
    limit = trainer.limit_test_batches
    batches = min(total, int(limit)) if isinstance(limit, int) else int(total * float(limit if limit else 1.0))
    what = "the whole test set" if batches >= total else f"{batches} of {total} test batches (eval.test_batches)"
    per_batch = timer.per_batch() if timer else None
    estimate = f", about {_duration(batches * per_batch)} at the validation speed" if per_batch else ""
    line = f"testing on {what}: {batches} batches{estimate}"
    if trainer.is_global_zero:
        log.info(line)
    return line


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
