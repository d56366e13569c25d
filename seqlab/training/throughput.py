"""Training throughput: tokens per second of time spent in training batches (validation excluded)."""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl


class ThroughputMeter(pl.Callback):
    """Sums the wall time from each training batch's start to its end; reads ``pl_module.tokens_seen``."""

    def __init__(self) -> None:
        self.train_seconds = 0.0
        self._start: float | None = None
        self._tokens_at_fit_start = 0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._tokens_at_fit_start = getattr(pl_module, "tokens_seen", 0)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._start is not None:
            self.train_seconds += time.perf_counter() - self._start
            self._start = None

    def tokens(self, pl_module: pl.LightningModule) -> int:
        """Tokens consumed by this process since fit started."""
        return getattr(pl_module, "tokens_seen", 0) - self._tokens_at_fit_start

    def tokens_per_second(self, pl_module: pl.LightningModule) -> float:
        return self.tokens(pl_module) / self.train_seconds if self.train_seconds else 0.0
