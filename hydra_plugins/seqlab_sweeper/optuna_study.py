"""The study of one ``hparams_search=optuna`` sweep, shared by every worker that runs it.

A worker is one ``python -m seqlab -m hparams_search=optuna ...`` process: the first starts the sweep, others join
it with ``resume_sweep=<its folder>`` (same storage). Each worker asks the study for trials while the study holds
fewer than ``n_trials`` trials that count (finished, pruned, failed ones unless rerun, and running ones of live
workers), so several workers together run ``n_trials`` trials, each number once.

Each running trial carries its worker's heartbeat (user attribute :data:`HEARTBEAT`: host, pid, time), written when
it is asked and every ``heartbeat_s`` seconds while it runs. A running trial whose worker is gone (the pid is dead on
this host, or the heartbeat is older than ``grace_s``; without a heartbeat: started more than ``grace_s`` ago) was
killed: a worker that resumes the sweep continues it from its last checkpoint.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

HEARTBEAT = "seqlab_heartbeat"
NEVER_RAN = "seqlab_never_ran"  # trials asked and never launched: closed as failed, not counted
RERUN = "seqlab_rerun"  # failed trials whose parameters were asked again (rerun_failed=true)


def load(study_name: str, storage: str | None, sampler: Any, direction: str) -> Any:
    """The study, created when missing (any worker may be first)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        study_name=study_name, storage=storage, sampler=sampler, direction=direction, load_if_exists=True
    )


def worker_id() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def is_alive(trial: Any, grace_s: float) -> bool:
    """Whether a running trial's worker is still running it (else the trial was killed)."""
    beat = trial.user_attrs.get(HEARTBEAT)
    if not isinstance(beat, dict):  # asked this instant (its heartbeat follows), or a trial of the former sweeper
        started = trial.datetime_start
        return started is not None and (datetime.now() - started).total_seconds() < grace_s
    if beat.get("host") == socket.gethostname():
        if beat.get("pid") == os.getpid():
            return True
        try:
            os.kill(int(beat["pid"]), 0)
        except (ProcessLookupError, ValueError, TypeError, KeyError):
            return False
        except PermissionError:
            return True
        return True
    return time.time() - float(beat.get("time", 0)) < grace_s


def beat(study: Any, numbers: Iterable[int]) -> None:
    """Write this worker's heartbeat into its running trials."""
    from optuna.trial import TrialState

    now = {**worker_id(), "time": time.time()}
    running = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    for number in numbers:
        trial = running.get(number)
        if trial is not None:
            study._storage.set_trial_user_attr(trial._trial_id, HEARTBEAT, now)


class Heartbeat:
    """A daemon thread writing the heartbeat of the trials this worker runs, every ``interval_s`` seconds."""

    def __init__(self, study: Any, interval_s: float) -> None:
        self.study = study
        self.interval_s = interval_s
        self.numbers: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seqlab-optuna-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def own(self, numbers: Iterable[int]) -> None:
        with self._lock:
            self.numbers |= set(numbers)
            beat(self.study, sorted(self.numbers))

    def release(self, numbers: Iterable[int]) -> None:
        with self._lock:
            self.numbers -= set(numbers)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                numbers = sorted(self.numbers)
            if numbers:
                try:
                    beat(self.study, numbers)
                except Exception:  # a storage hiccup: the next beat tries again
                    pass


def never_ran(study: Any, trials: list[Any]) -> set[int]:
    """Trials asked and never launched (closed as failed; they do not count toward ``n_trials``)."""
    return set(study.user_attrs.get(NEVER_RAN, [])) | {t.number for t in trials if t.user_attrs.get(NEVER_RAN)}


def counted(study: Any, trials: list[Any], rerun_failed: bool, grace_s: float) -> tuple[int, int]:
    """``(finished, running)`` toward ``n_trials``: finished = complete + pruned + failed (not with
    ``rerun_failed``, nor the never launched); running = the trials live workers run."""
    from optuna.trial import TrialState

    skipped = never_ran(study, trials)
    finished = sum(
        t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (t.state == TrialState.FAIL and not rerun_failed and t.number not in skipped)
        for t in trials
    )
    running = sum(t.state == TrialState.RUNNING and is_alive(t, grace_s) for t in trials)
    return finished, running
