"""Which limit ends the run: one line at the start of training when both ``trainer.max_steps`` and
``trainer.max_epochs`` bound it.

Lightning stops at whichever limit comes first, so ``trainer.max_steps=1500`` on a task whose budget is 10 epochs of
94 steps stops at step 940. Neither limit wins by rule (a budget's epochs and a step cap on the command line are
both the user's word); instead the run says at start which one will stop it, and about where:

    stops after trainer.max_epochs=10 (about 940 optimizer steps), before trainer.max_steps=1500 ...

Optimizer steps per epoch are the training batches per epoch times the module's optimizer steps per batch
(``TBPTTModule.chunks_per_batch``: one per TBPTT chunk).
"""

from __future__ import annotations

import logging
import math

import pytorch_lightning as pl

log = logging.getLogger(__name__)


def stop_line(max_epochs: int | None, max_steps: int | None, steps_per_epoch: float | None) -> str | None:
    """The line saying which of the two limits stops the run; None when at most one of them is set."""
    if max_epochs is None or max_epochs < 0 or max_steps is None or max_steps < 0:
        return None
    if steps_per_epoch is None or math.isinf(steps_per_epoch) or steps_per_epoch <= 0:
        return f"stops at trainer.max_steps={max_steps} or trainer.max_epochs={max_epochs}, whichever comes first"
    epoch_steps = int(max_epochs * steps_per_epoch)
    if epoch_steps < max_steps:
        return (
            f"stops after trainer.max_epochs={max_epochs} (about {epoch_steps} optimizer steps), before "
            f"trainer.max_steps={max_steps}; raise trainer.max_epochs (or set it to -1) to train {max_steps} steps"
        )
    epochs = max_steps / steps_per_epoch
    where = f"about {epochs:.1f} epochs" if epochs >= 0.1 else f"of about {steps_per_epoch:.0f} in an epoch"
    return f"stops at trainer.max_steps={max_steps} ({where}), before trainer.max_epochs={max_epochs}"


class StopNotice(pl.Callback):
    """Logs :func:`stop_line` once, when training starts (on rank zero)."""

    def __init__(self) -> None:
        self.line: str | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        batches = trainer.num_training_batches
        chunks = getattr(pl_module, "chunks_per_batch", lambda: 1)()
        per_epoch = None if batches is None else float(batches) * chunks
        self.line = stop_line(trainer.max_epochs, trainer.max_steps, per_epoch)
        if self.line and trainer.is_global_zero:
            log.info(self.line)
