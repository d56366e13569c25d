"""``checkpoints/last.ckpt`` is always the latest state, and Ctrl-C stops a run at a batch border with it saved.

Lightning's ModelCheckpoint with a monitored metric rewrites ``last.ckpt`` only when it also saves a top-k file, so
a run whose metric stops improving would resume from its best step rather than its latest. This callback writes
``last.ckpt`` itself after every validation of fit and at the end of training; ModelCheckpoint keeps ``best-*``.

The first SIGINT (Ctrl-C) during fit only sets a flag: the current batch finishes, ``last.ckpt`` is saved at that
batch's end (with the exact-resume state: stream position, carried hidden state, RNG), and :class:`RunInterrupted`
ends fit; the run then tests the best checkpoint (a second Ctrl-C skips that), writes results.json with
``"interrupted": true`` and exits 130. A second Ctrl-C during training interrupts at once. Under DDP (several
processes) the first Ctrl-C is left to Lightning, which stops every rank.

SIGTERM is handled the same way (seqlab/training/signals.py): Lightning's handler sets ``trainer.received_sigterm``;
one process saves at the end of the current batch; under DDP Lightning raises ``SIGTERMException`` on every rank at
the next batch border, and ``last.ckpt`` is saved there (``on_exception``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from seqlab.errors import RunInterrupted
from seqlab.training.signals import SIGINT_NAME, stop_signal_name

LAST_NAME = "last.ckpt"
# what Lightning *saves*: the whole state (optimizer, loops, callbacks) for an exact resume, not the weights alone;
# every *load* in seqlab is torch.load(weights_only=True), seqlab/checkpoint.py
SAVE_WEIGHTS_ONLY = False


class LastCheckpoint(pl.Callback):
    def __init__(self, dirpath: Path) -> None:
        self.path = Path(dirpath) / LAST_NAME
        self.saved_step: int | None = None
        self.interrupt_requested = False
        self._previous_handler: Any = None

    def save(self, trainer: pl.Trainer) -> None:
        trainer.save_checkpoint(str(self.path), weights_only=SAVE_WEIGHTS_ONLY)
        self.saved_step = trainer.global_step

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            self.save(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.saved_step != trainer.global_step:
            self.save(trainer)

    # ---- Ctrl-C ------------------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.world_size == 1 and threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._request_interrupt)

    def _request_interrupt(self, signum: int, frame: Any) -> None:
        self.interrupt_requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once
        print(
            "\nseqlab: interrupted: finishing this batch and saving checkpoints/last.ckpt "
            "(Ctrl-C again to stop at once)",
            flush=True,
        )

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.interrupt_requested or (trainer.world_size == 1 and trainer.received_sigterm):
            self.save(trainer)
            by = SIGINT_NAME if self.interrupt_requested else stop_signal_name()
            raise RunInterrupted(str(self.path), trainer.global_step, by)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Lightning's SIGTERMException, raised on every rank together at a batch border of training: save there
        (mid-validation the latest last.ckpt is kept)."""
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        if isinstance(exception, SIGTERMException) and trainer.state.fn == "fit" and not trainer.validating:
            if self.saved_step != trainer.global_step:
                self.save(trainer)

    def interruption(self, trainer: pl.Trainer) -> RunInterrupted:
        """What a SIGTERMException that ended fit leaves: the latest last.ckpt and its step."""
        step = self.saved_step if self.saved_step is not None else trainer.global_step
        return RunInterrupted(str(self.path), step, stop_signal_name())

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None


class EvaluationSkipped(Exception):  # noqa: N818 - the user asked for it
    """Ctrl-C during the evaluation that follows an interrupted fit."""


@contextmanager
def ctrl_c_skips() -> Iterator[None]:
    """While the block runs, Ctrl-C raises :class:`EvaluationSkipped` (Lightning turns a KeyboardInterrupt into
    ``sys.exit(1)``, which would lose results.json); the previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def skip(signum: int, frame: Any) -> None:
        raise EvaluationSkipped

    previous = signal.signal(signal.SIGINT, skip)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
