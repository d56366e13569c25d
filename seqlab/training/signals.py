"""SIGTERM (what SLURM, Kubernetes and ``docker stop`` send) ends a run the way Ctrl-C does, with exit code 143.

During fit, Lightning's own handler (``_SignalConnector``) sets ``trainer.received_sigterm``; seqlab does not replace
it but reads the flag: :class:`~seqlab.training.last_checkpoint.LastCheckpoint` saves ``last.ckpt`` at the end of
the current batch and raises :class:`~seqlab.errors.RunInterrupted` (one process), or saves when Lightning raises its
``SIGTERMException`` on every rank at the next batch border (DDP). The run then writes results.json with
``"interrupted": true, "interrupted_by": "SIGTERM"``, prints the resume command and exits 143. It does not test the
best checkpoint first (a scheduler's grace period before SIGKILL is short; ``"test_skipped": true``).

Outside a Trainer (building the data, between the jobs of a sweep), :func:`sigterm_raises` turns SIGTERM into
:class:`Terminated`, so the process still unwinds: a sweep writes its summary (the jobs that never ran included)
and exits 143 instead of vanishing.

A scheduler's preemption notice (SLURM's ``--signal``, SIGUSR2 under submitit; seqlab/training/preemption.py) is
handled as SIGTERM by :func:`handle_as_sigterm`: the same stop at a batch border, recorded under its own name
(``"interrupted_by": "SIGUSR2"``, exit code 128 + its number, 140).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

INTERRUPTED_EXIT = 130  # the shell's code for a process ended by Ctrl-C (SIGINT)
SIGTERM_EXIT = 143  # ... and by SIGTERM: 128 + 15
SIGTERM_NAME = "SIGTERM"
SIGINT_NAME = "SIGINT"


class Terminated(BaseException):  # noqa: N818 - like KeyboardInterrupt: a request, not an error
    """SIGTERM arrived while no Trainer was running."""


_stop_name = SIGTERM_NAME  # what a stop through SIGTERM's handling records: SIGTERM, or the signal handled as it


def interrupted_exit_code(results: dict[str, Any]) -> int:
    """The exit code of a run whose results say it was interrupted: 128 + the signal's number (143 for SIGTERM,
    140 for SIGUSR2), 130 for Ctrl-C."""
    by = results.get("interrupted_by")
    try:
        return 128 + signal.Signals[str(by)].value
    except KeyError:
        return INTERRUPTED_EXIT


def stop_signal_name() -> str:
    """The name of the signal that asked this process to stop the way SIGTERM does (SIGTERM unless
    :func:`handle_as_sigterm` handled another one)."""
    return _stop_name


def reset_stop_signal() -> None:
    """A new stop request: SIGTERM until :func:`handle_as_sigterm` says otherwise."""
    global _stop_name
    _stop_name = SIGTERM_NAME


def handle_as_sigterm(signum: int, frame: Any) -> None:
    """A signal handler: handle ``signum`` as SIGTERM is handled at this moment (during fit: Lightning's handler, a
    stop at the next batch border with last.ckpt saved), recorded under ``signum``'s name."""
    global _stop_name
    _stop_name = signal.Signals(signum).name
    handler = signal.getsignal(signal.SIGTERM)
    if callable(handler):
        handler(signal.SIGTERM, frame)


def _raise_terminated(signum: int, frame: Any) -> None:
    if signal.getsignal(signal.SIGTERM) is not _raise_terminated:
        # called by Lightning's handler, which keeps the one it found: a Trainer is running and stops at a batch
        # border by itself (trainer.received_sigterm)
        return
    raise Terminated


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM outside a Trainer raises :class:`Terminated` (inside one, Lightning's handler
    and seqlab's callbacks stop the run at a batch border)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
