"""A scheduler's preemption or time-limit notice inside the job process: stop at a batch border with last.ckpt
saved, then let submitit requeue the job (hydra_plugins/seqlab_submitit).

SLURM sends the signal ``signal_delay_s`` seconds before the time limit, and at a preemption (clusters with
``SlurmctldParameters=preempt_send_user_signal``); submitit asks for SIGUSR2 (``$SUBMITIT_PREEMPT_SIGNAL``) and
installs a handler that calls the job's ``checkpoint()`` at once, in the middle of whatever the process is doing,
then requeues and exits. A checkpoint taken there is not exact (half an optimizer step), so :class:`PreemptionWatch`
takes the signal first: it is handled as SIGTERM (seqlab/training/signals.py: fit stops at the next batch border,
``last.ckpt`` is saved atomically, results.json says ``"interrupted_by": "SIGUSR2"``), and only when the job has
returned does :meth:`PreemptionWatch.requeue` hand the signal to submitit's handler, which checkpoints (requeue state,
not weights: those are saved already) and requeues.

One requeue mechanism only: Lightning's own (``SLURMEnvironment(auto_requeue=True)``, on SIGUSR1) saves an
``hpc_ckpt_*.ckpt`` that seqlab's resume does not read and reruns the job's command, which starts a new run from
scratch. :func:`cluster_plugins` turns it off whenever Lightning detects SLURM; submitit's path knows the job, its
folder and how many timeouts it may still take (``hydra.launcher.max_num_timeout``).
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

from seqlab.training import signals

PREEMPT_SIGNAL_ENV = "SUBMITIT_PREEMPT_SIGNAL"  # submitit's own variable: the signal's name without SIG (USR2)
_notice: signal.Signals | None = None  # the notice received while a watch is active (seqlab/training/early_notice.py)


def notice() -> signal.Signals | None:
    """The preemption signal this process received under the active :class:`PreemptionWatch`, else None."""
    return _notice


def preempt_signal() -> signal.Signals:
    """The signal submitit asks SLURM to send before the time limit and at a preemption."""
    return signal.Signals["SIG" + os.environ.get(PREEMPT_SIGNAL_ENV, "USR2")]


class PreemptionWatch:
    """While active (a context manager, main thread only), the preemption signal stops a running fit as SIGTERM
    does; :attr:`received` says whether it came, :meth:`requeue` runs the handler it replaced (submitit's)."""

    def __init__(self) -> None:
        self.signum = preempt_signal()
        self.received = False
        self._previous: Any = None
        self._active = False

    def __enter__(self) -> PreemptionWatch:
        global _notice
        _notice = None
        signals.reset_stop_signal()
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(self.signum, self._handle)
            self._active = True
        return self

    def __exit__(self, *exc: object) -> None:
        global _notice
        _notice = None
        if self._active:
            signal.signal(self.signum, self._previous)
            self._active = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        global _notice  # no print here: a handler that writes may interrupt a write of the main thread's
        self.received = True
        _notice = signal.Signals(signum)
        signals.handle_as_sigterm(signum, frame)

    def requeue(self) -> None:
        """Hand the signal to the handler this watch replaced (submitit's: checkpoint, requeue, exit); a no-op when
        there was none."""
        previous = self._previous
        self.__exit__()
        if callable(previous):
            previous(self.signum, None)


def cluster_plugins() -> list[Any]:
    """Trainer plugins: under SLURM, Lightning's cluster environment without its own auto-requeue (submitit's
    requeue is the only one)."""
    from lightning_fabric.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []
