"""Exact mid-epoch resume: a resumed run continues as if it had never stopped.

Lightning restores weights, optimizer, scheduler and loop counters, but it cannot fast-forward an iterable stream,
and it knows nothing of a hidden state carried across batches. This callback saves, in each checkpoint, the number
of training batches done in the current epoch, the module's carried training state and the RNG states; on resume
the training dataset skips those batches (when it has a ``skip_batches`` attribute, as language-model streams do)
and the first resumed batch starts from the saved state and RNG.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from seqlab.models.base import map_state

log = logging.getLogger(__name__)
KEY = "seqlab_exact_resume"


class ExactResume(pl.Callback):
    def __init__(self) -> None:
        self.batches_done = 0
        self._pending: dict[str, Any] | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A mid-epoch restart goes straight to the batches: Lightning calls no on_train_epoch_start then.
        if self._pending is None:
            return
        self.batches_done = self._pending["batches_done"]
        dataset = getattr(trainer.train_dataloader, "dataset", None)
        if hasattr(dataset, "skip_batches"):
            dataset.skip_batches = self.batches_done
        elif self.batches_done:
            log.warning(
                "resuming mid-epoch: this task's data cannot skip the %d batches already seen this epoch; "
                "the resumed run will not match an uninterrupted one exactly",
                self.batches_done,
            )

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # a fresh epoch (also right after resuming from an end-of-epoch checkpoint): nothing to skip or carry
        self.batches_done = 0
        dataset = getattr(trainer.train_dataloader, "dataset", None)
        if hasattr(dataset, "skip_batches"):
            dataset.skip_batches = 0
        if self._pending is not None:
            self._pending["train_state"] = None

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        if hasattr(pl_module, "_train_state") and pending.get("train_state") is not None:
            pl_module._train_state = map_state(pending["train_state"], lambda t: t.to(pl_module.device))
        torch.set_rng_state(pending["torch_rng"])
        name, keys, pos, has_gauss, cached = pending["numpy_rng"]
        np.random.set_state((name, keys.numpy(), pos, has_gauss, cached))
        random.setstate(pending["python_rng"])

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.batches_done += 1

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[KEY] = {
            "batches_done": self.batches_done,
            "train_state": getattr(pl_module, "_train_state", None),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": _numpy_state(),
            "python_rng": random.getstate(),
        }

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._pending = checkpoint.get(KEY)


def _numpy_state() -> tuple:
    """NumPy's RNG state with its key array as a tensor (checkpoints load with ``weights_only=True``)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return (name, torch.from_numpy(keys.copy()), int(pos), int(has_gauss), float(cached))
