"""When Lightning reads a per-batch training metric, so that the metric is handed to it only then.

``self.log`` costs Lightning 0.4-0.7 ms a call on a CPU (it builds and updates a metric object; see
docs/benchmarks.md), which is 3-4 % of a short step (sentiment: ~15 ms). A value logged ``on_step`` is only read:

- by the loggers, after the batches where Lightning writes them: every ``trainer.log_every_n_steps`` batches, the
  batch a run stops at, and every batch of a ``fast_dev_run`` (:func:`loggers_write_now`);
- by a progress bar on screen, and by a callback that monitors it (``checkpoint.monitor=train/loss``, early stopping,
  a plateau schedule, a search's pruner), after every batch (:func:`read_every_step`).
"""

from __future__ import annotations

from typing import Any


def loggers_write_now(trainer: Any) -> bool:
    """Whether Lightning writes the logged step metrics after the current training batch.

    Asked in a LightningModule's ``on_train_batch_end`` (after every callback's, so a stop a callback asks for at
    this batch counts), it is exactly the test Lightning makes before writing: its private
    ``_logger_connector.should_update_logs``, the property its own LearningRateMonitor and ThroughputMonitor ask
    (tests/test_lightning_hooks.py fails if an upgrade removes it)."""
    return bool(trainer._logger_connector.should_update_logs or trainer.fast_dev_run)


def read_every_step(trainer: Any, name: str) -> bool:
    """Whether something reads metric ``name`` after every batch: a progress bar on screen, or a callback whose
    ``monitor`` is ``name``."""
    bar = trainer.progress_bar_callback
    if bar is not None and bar.is_enabled:
        return True
    return any(getattr(callback, "monitor", None) == name for callback in trainer.callbacks)
