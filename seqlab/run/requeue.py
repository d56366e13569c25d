"""A preempted job continues in its own run folder, and only there (hydra_plugins/seqlab_submitit).

- :func:`record_preemption` (the stopped job, rank zero): when the run says it was interrupted and its
  ``checkpoints/last.ckpt`` is there, append the attempt to the folder's :data:`REQUEUE_FILE` (signal, step, job
  id, time) under a random token, and return the :class:`Requeue` state the requeued submission carries.
- :func:`check_own_folder` (the requeued job, before anything is written): the folder must be the one the job
  left, holding that token and the checkpoint; another run there, or a folder moved away, is refused with one
  line (seqlab never writes into a run it did not create).
- :func:`continued` (around the requeued job): the stopped attempt's results.json and csv/metrics.csv move into
  ``previous-<k>/`` (nothing is deleted, as for ``resume_sweep=``), the job finds its checkpoint in
  :data:`ENV_CHECKPOINT` (:func:`requeued_checkpoint`, read by seqlab/sweep/resume.py), and the metrics logged
  before the stop are merged back in front of the new ones.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.checkpoint import LAST
from seqlab.errors import ConfigError
from seqlab.results import RESULTS_FILE, write_json

REQUEUE_FILE = "requeue.json"
ENV_CHECKPOINT = "SEQLAB_REQUEUE_CHECKPOINT"  # the checkpoint a requeued job continues from, for each of its ranks


@dataclass(frozen=True)
class Requeue:
    """What a requeued submission carries: its run folder, the token written there, the checkpoint to continue
    from."""

    run_dir: str
    token: str
    checkpoint: str


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_preemption(run_dir: Path, signal_name: str, job_id: str, token: str | None = None) -> Requeue | None:
    """After a job the preemption signal stopped: the state to requeue it with, or None when there is nothing to
    continue (it finished anyway, failed, or stopped before its first checkpoint)."""
    run_dir = Path(run_dir).absolute()
    results = _read(run_dir / RESULTS_FILE)
    last = run_dir / LAST
    if not results.get("interrupted") or not last.is_file():
        return None
    record = _read(run_dir / REQUEUE_FILE)
    token = token or str(record.get("token") or uuid.uuid4().hex)
    attempts = record.get("attempts") if isinstance(record.get("attempts"), list) else []
    attempts.append(
        {
            "job_id": job_id,
            "signal": signal_name,
            "step": results.get("optimizer_steps"),
            "stopped": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    )
    write_json(run_dir / REQUEUE_FILE, {"token": token, "checkpoint": str(LAST), "attempts": attempts})
    return Requeue(str(run_dir), token, str(last))


def check_own_folder(state: Requeue) -> None:
    """Raise ConfigError unless ``state.run_dir`` is still the folder the stopped job left: its token and its
    checkpoint are there."""
    folder = Path(state.run_dir)
    if _read(folder / REQUEUE_FILE).get("token") != state.token:
        raise ConfigError(
            "hydra.sweep.dir",
            f"{folder} is not the folder this requeued job left (no {REQUEUE_FILE} with its token): another run is "
            "there or it was moved; seqlab never writes into a run it did not create",
        )
    if not Path(state.checkpoint).is_file():
        raise ConfigError("resume", f"{state.checkpoint}: the requeued job's checkpoint is gone; nothing to continue")


@contextmanager
def continued(state: Requeue | None, writer: bool) -> Iterator[None]:
    """Around a requeued job (nothing when ``state`` is None): the stopped attempt's results and metrics set aside
    (by the ``writer``, rank zero), its checkpoint in :data:`ENV_CHECKPOINT`, the metrics merged afterwards."""
    if state is None:
        yield
        return
    from seqlab.sweep.resume import Job, merge_metrics, set_aside

    job = Job(num=-1, overrides=[], folder=Path(state.run_dir), action="resume")
    if writer:
        set_aside(job)
    os.environ[ENV_CHECKPOINT] = state.checkpoint
    try:
        yield
    finally:
        os.environ.pop(ENV_CHECKPOINT, None)
        if writer:
            merge_metrics(job)


def requeued_checkpoint(run_dir: Path) -> str | None:
    """The checkpoint this job continues from when it is a requeued job of this run folder, else None."""
    checkpoint = os.environ.get(ENV_CHECKPOINT)
    if not checkpoint:
        return None
    from seqlab.run.resume import run_folder_of

    return checkpoint if run_folder_of(Path(checkpoint)).resolve() == Path(run_dir).resolve() else None
