"""A preemption notice that came before training started (while the data was built) stops training at its first
batch border, as if it came then: submitit's job ignores SIGTERM outside a Trainer, so the notice would otherwise be
lost and the job killed at its time limit without a checkpoint to requeue from (seqlab/training/preemption.py)."""

from __future__ import annotations

import pytorch_lightning as pl

from seqlab.training import signals
from seqlab.training.preemption import notice


class EarlyNotice(pl.Callback):
    """At the start of training (Lightning's SIGTERM handler is in place by then): hand an earlier notice to it."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        received = notice()
        if received is not None and not trainer.received_sigterm:
            signals.handle_as_sigterm(received, None)
