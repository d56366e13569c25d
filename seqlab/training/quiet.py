"""Silence what a seqlab user cannot act on: Lightning's tips and the warnings its internals raise on every run."""

from __future__ import annotations

import logging
import warnings

# message regexes of warnings, each with why it is noise
WARNINGS = (
    # raised inside Lightning's own _pytree helper by torch >= 2.10; nothing in seqlab's code to change
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # the char-LM token stream: an IterableDataset with a length, read in the main process (no loader workers,
    # the case the warning is about) and sharded per rank by seqlab
    r"Your `IterableDataset` has `__len__` defined",
    # a run shorter than its first validation: seqlab validates the final weights itself (run.py); after a
    # validation a missing monitored key is an error Lightning raises, so a wrong checkpoint.monitor still shows
    r"`ModelCheckpoint\(monitor=.*could not find the monitored key",
    # under DDP: the TBPTT module sums loss and count over ranks itself (tbptt.py, _eval_end) before logging these
    r"It is recommended to use `self\.log\('(val|test)/(loss|bpc|ppl)', \.\.\., sync_dist=True\)`",
)
# info lines of Lightning's rank-zero logger that advertise or narrate internals
LOG_LINES = (
    "💡 Tip:",
    "Loading `train_dataloader` to estimate number of stepping batches",
    # accelerators this machine does not have ("GPU available: True, used: False" still shows)
    "GPU available: False",
    "TPU available: False",
    "HPU available: False",
)
LIGHTNING_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero")


class _DropLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(LOG_LINES)


_FILTER = _DropLines()


def quiet_lightning() -> None:
    """Install the filters (idempotent; called before each Trainer is built)."""
    for pattern in WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
