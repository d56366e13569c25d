"""Early stopping on ``checkpoint.monitor`` (``callbacks=early_stopping``), and why a run stopped.

:class:`EarlyStop` is Lightning's EarlyStopping (patience counted in validations, so it follows
``trainer.val_check_interval``: every N batches, or at each epoch's end) that remembers when and why it stopped.
:func:`stop_reason` gives results.json's ``stopped_by`` and ``stopped_at`` from the callback that stopped the run
(early stopping, or a pruned Optuna trial: seqlab/training/trial_pruning.py).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping

EARLY_STOPPING = "early_stopping"


class EarlyStop(EarlyStopping):
    """EarlyStopping that records the stop as ``stop_record`` (epoch, optimizer step, best value, patience)."""

    def __init__(self, monitor: str = "val/loss", mode: str = "min", patience: int = 3, **kwargs: Any) -> None:
        super().__init__(monitor=monitor, mode=mode, patience=patience, **kwargs)
        self.stop_record: dict[str, Any] | None = None

    def _run_early_stopping_check(self, trainer: pl.Trainer) -> None:
        stopped_before = trainer.should_stop
        super()._run_early_stopping_check(trainer)
        if trainer.should_stop and not stopped_before and self.stop_record is None:
            self.stop_record = {
                "stopped_by": EARLY_STOPPING,
                "stopped_at": {
                    "epoch": int(trainer.current_epoch),
                    "step": int(trainer.global_step),
                    "monitor": self.monitor,
                    "best": float(self.best_score),
                    "patience": int(self.patience),
                },
            }


def stop_reason(trainer: pl.Trainer) -> dict[str, Any]:
    """``{"stopped_by": ..., "stopped_at": {...}}`` of the callback that stopped training early, else ``{}``."""
    for callback in trainer.callbacks:
        record = getattr(callback, "stop_record", None)
        if isinstance(record, dict) and record:
            return dict(record)
    return {}
