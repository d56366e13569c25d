"""Continue a sweep in its own folder: ``python -m seqlab -m <the same sweep> resume_sweep=<folder>|latest``.

- before Hydra starts, seqlab/sweep/check.py (:func:`~seqlab.sweep.check.prepare`) finds the folder and checks
  that the command line composes its jobs.
- :func:`plan_grid` and :func:`run_jobs` (in seqlab's sweeper, hydra_plugins/seqlab_sweeper): each job of the original
  grid, matched to its folder by its overrides, is ``done`` (results.json: not run, its results reused), ``failed``
  (failed.json: reported again; ``rerun_failed=true`` makes it ``rerun``), ``resume`` (a last checkpoint and no
  results: continues from it), ``restart`` (started, no checkpoint yet) or ``new`` (never started), and runs under its
  original number. Nothing is deleted: what a rerun would replace moves into ``<job>/previous-<k>/`` first.
- :func:`resumed_checkpoint` (in the job): the checkpoint a ``resume`` job continues from, read from the plan the
  sweeper recorded in the sweep folder's :data:`SWEEP_MARKER` (or, for a job requeued after a preemption, its own
  folder's, seqlab/run/requeue.py).
"""

from __future__ import annotations

import csv
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

import yaml
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf

from seqlab.errors import ConfigError
from seqlab.results import FAILED_FILE, RESULTS_FILE, write_json
from seqlab.run.folder import SWEEP_MARKER, is_seqlab_sweep
from seqlab.run.ranks import joins_a_run

log = logging.getLogger("seqlab")
FREE_KEYS = (
    "resume_sweep",
    "rerun_failed",
    "sweep_max_jobs",
)  # may differ between a sweep and its resumption (and hydra.*)
LAST = Path("checkpoints") / "last.ckpt"
RUNS = ("resume", "restart", "rerun", "new")  # the actions that launch the job
ENV_CHECKPOINT = "SEQLAB_SWEEP_CHECKPOINT"  # the checkpoint of a resumed job, for its DDP ranks


@dataclass
class Job:
    """One job of a resumed sweep: its number and overrides in the original sweep, its folder, what happens to it."""

    num: int
    overrides: list[str]
    folder: Path | None
    action: str  # done | failed | rerun | resume | restart | new
    checkpoint: str | None = None
    previous: Path | None = None  # where the previous attempt's replaced files went


# ---- overrides ----------------------------------------------------------------------------------------------------
def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def is_free(key: str) -> bool:
    return key in FREE_KEYS or key == "hydra" or key.startswith(("hydra.", "hydra/"))


def job_id(overrides: Sequence[str]) -> frozenset[str]:
    """What identifies a job: its overrides, without the ones that may differ."""
    return frozenset(str(o) for o in overrides if not is_free(override_key(str(o))))


def grid_jobs(params: Mapping[str, Any] | None, task_overrides: Sequence[str]) -> list[list[str]]:
    """The jobs of a grid in Hydra's order: the preset's ``hydra.sweeper.params``, then the command line."""
    conf = [f"{k}={v}" for k, v in (params or {}).items()]
    conf += [str(o) for o in task_overrides if not is_free(override_key(str(o)))]
    (jobs,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(conf), None)
    return [list(job) for job in jobs]


def quoted(path: Path) -> str:
    """``path`` as an override value."""
    text = str(path)
    return text if re.fullmatch(r"[\w/.:+-]+", text) else "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---- the folder ----------------------------------------------------------------------------------------------------
def read_marker(sweep_dir: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads((sweep_dir / SWEEP_MARKER).read_text())
    except (OSError, ValueError):
        return {}


def mark_sweep(sweep_dir: Path, kind: str) -> None:
    """A fresh sweep: mark its folder as seqlab's (``grid`` or ``optuna``), so ``resume_sweep=`` may continue it."""
    write_json(sweep_dir / SWEEP_MARKER, {"kind": kind, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "resumes": []})


def resume_folder(config: DictConfig) -> Path | None:
    """The folder a sweep's master config resumes (its ``hydra.sweep.dir``, as :func:`prepare` set it), or None."""
    value = OmegaConf.select(config, "resume_sweep", default=None)
    if not value:
        return None
    folder = Path(str(value)).absolute()
    if folder != Path(str(config.hydra.sweep.dir)).absolute() or not is_seqlab_sweep(folder):
        raise ConfigError("resume_sweep", f"{folder}: start the resumed sweep with python -m seqlab -m ...")
    return folder


def job_folders(sweep_dir: Path) -> list[tuple[int, Path, list[str]]]:
    """``(job number, folder, overrides)`` of every job folder in the sweep, by number."""
    found = []
    for saved in sweep_dir.glob("**/.hydra/overrides.yaml"):
        folder = saved.parent.parent
        try:
            hydra_cfg = yaml.safe_load((saved.parent / "hydra.yaml").read_text()) or {}
            num = int(hydra_cfg["hydra"]["job"]["num"])
        except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
            continue  # not a job of this sweep (a DDP rank writes no .hydra)
        found.append((num, folder, [str(o) for o in yaml.safe_load(saved.read_text()) or []]))
    return sorted(found, key=lambda t: (t[0], str(t[1])))


def job_state(folder: Path | None) -> str:
    """``new``, ``done``, ``failed``, ``resume`` (a last checkpoint, no final results) or ``restart``."""
    if folder is None:
        return "new"
    results = folder / RESULTS_FILE
    if results.is_file() and not _interrupted(results):
        return "done"
    if (folder / FAILED_FILE).is_file():
        return "failed"
    return "resume" if (folder / LAST).is_file() else "restart"


def _interrupted(results: Path) -> bool:
    import json

    try:
        return bool(json.loads(results.read_text()).get("interrupted"))
    except (OSError, ValueError, AttributeError):
        return False


def plan_grid(sweep_dir: Path, rerun_failed: bool) -> list[Job]:
    """Every job of the grid the folder's multirun.yaml ran, in its order, matched to its folder by overrides."""
    saved = OmegaConf.load(sweep_dir / "multirun.yaml")
    original = grid_jobs(OmegaConf.select(saved, "hydra.sweeper.params"), list(saved.hydra.overrides.task))
    by_id: dict[frozenset[str], list[tuple[Path, list[str]]]] = {}
    for _, folder, overrides in job_folders(sweep_dir):
        by_id.setdefault(job_id(overrides), []).append((folder, overrides))
    jobs = []
    for num, overrides in enumerate(original):
        matches = by_id.get(job_id(overrides))
        folder, overrides = matches.pop(0) if matches else (None, overrides)
        jobs.append(Job(num, overrides, folder, action(job_state(folder), rerun_failed)))
    return jobs


def action(state: str, rerun_failed: bool) -> str:
    return "rerun" if state == "failed" and rerun_failed else state


def set_aside(job: Job) -> None:
    """Before a job runs again in its folder: move what it would replace into ``previous-<k>/`` (nothing is
    deleted). A resumed job keeps its checkpoints; a rerun or restart keeps only ``.hydra`` and its log."""
    if job.folder is None or job.action == "new":
        return
    folder = job.folder
    if job.action == "resume":
        names = [RESULTS_FILE, "csv/metrics.csv"]
        job.checkpoint = str(folder / LAST)
    else:
        names = [p.name for p in folder.iterdir() if p.name != ".hydra" and p.suffix != ".log"]
        names = [n for n in names if not n.startswith("previous-")]
    present = [n for n in names if (folder / n).exists()]
    if not present:
        return
    k = 1
    while (folder / f"previous-{k}").exists():
        k += 1
    job.previous = folder / f"previous-{k}"
    for name in present:
        target = job.previous / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (folder / name).rename(target)


def merge_metrics(job: Job) -> None:
    """A resumed job's csv/metrics.csv: the rows logged before the kill (up to the resumed step), then its own."""
    if job.folder is None or job.previous is None:
        return
    old, new = job.previous / "csv" / "metrics.csv", job.folder / "csv" / "metrics.csv"
    if not (old.is_file() and new.is_file()):
        return
    with open(old, newline="") as fh_old, open(new, newline="") as fh_new:
        before, after = list(csv.DictReader(fh_old)), list(csv.DictReader(fh_new))
    steps = [_step(r) for r in after if _step(r) is not None]
    first = min(steps) if steps else float("inf")
    kept = [r for r in before if (_step(r) if _step(r) is not None else first) < first]
    fields = sorted({k for r in kept + after for k in r})
    tmp = new.with_name(".metrics.csv.merging")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept + after)
    os.replace(tmp, new)


def _step(row: dict[str, str]) -> float | None:
    try:
        return float(row.get("step") or "")
    except ValueError:
        return None


def record_plan(sweep_dir: Path, jobs: list[Job], rerun_failed: bool) -> None:
    """Append this resumption's plan to the sweep's marker (the jobs read their checkpoint from it)."""
    marker = read_marker(sweep_dir) or {"kind": "grid", "started": None}
    marker.setdefault("resumes", []).append(
        {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "rerun_failed": rerun_failed,
            "jobs": [
                {
                    "num": j.num,
                    "dir": os.path.relpath(j.folder, sweep_dir) if j.folder else None,
                    "action": j.action,
                    "checkpoint": j.checkpoint,
                }
                for j in jobs
            ],
        }
    )
    write_json(sweep_dir / SWEEP_MARKER, marker)


def describe(jobs: list[Job], sweep_dir: Path, notes: Mapping[str, str] | None = None) -> str:
    """One line: how many jobs are reused, reported as failed, rerun, continued, run."""
    counts = {a: sum(j.action == a for j in jobs) for a in ("done", "failed", "rerun", "resume", "restart", "new")}
    words = {
        "done": "finished (reused, not run)",
        "failed": "failed (not rerun; rerun_failed=true reruns them)",
        "rerun": "failed (rerun)",
        "resume": "interrupted (continue from their last checkpoint)",
        "restart": "started without a checkpoint (run again)",
        "new": "not started (run now)",
        **(notes or {}),
    }
    parts = [f"{n} {words[a]}" for a, n in counts.items() if n]
    return f"resuming the sweep in {sweep_dir}: {len(jobs)} jobs: " + ", ".join(parts)


def run_jobs(
    launcher: Any,
    sweep_dir: Path,
    jobs: list[Job],
    metric: str,
    rerun_failed: bool,
    raise_failed: bool = True,
    notes: Mapping[str, str] | None = None,
) -> list[Any]:
    """Launch the jobs to run under their own numbers (consecutive ones together); the others return their stored
    result. Returns one JobReturn per job."""
    for job in jobs:
        if job.action in RUNS:
            set_aside(job)
    record_plan(sweep_dir, jobs, rerun_failed)
    print(describe(jobs, sweep_dir, notes), flush=True)
    returns: dict[int, Any] = {j.num: _stored(j, metric) for j in jobs if j.action not in RUNS}
    to_run = [j for j in jobs if j.action in RUNS]
    for _, group in groupby(enumerate(to_run), key=lambda pair: pair[1].num - pair[0]):
        batch = [job for _, job in group]
        results = launcher.launch([j.overrides for j in batch], initial_job_idx=batch[0].num)
        for job, ret in zip(batch, results, strict=True):
            returns[job.num] = ret
            if job.action == "resume":
                merge_metrics(job)
        if raise_failed:
            for ret in results:
                _ = ret.return_value  # a crashed job stops the sweep, as in Hydra's own sweeper
    return [returns[j.num] for j in jobs]


def _stored(job: Job, metric: str) -> JobReturn:
    import json

    value = None
    if job.action == "done" and job.folder is not None:
        value = json.loads((job.folder / RESULTS_FILE).read_text()).get(metric)
    return JobReturn(overrides=job.overrides, status=JobStatus.COMPLETED, _return_value=value)


# ---- in the job ----------------------------------------------------------------------------------------------------
@contextmanager
def resumed_checkpoint(hydra_cfg: Any, run_dir: Path, multirun: bool) -> Iterator[str | None]:
    """The checkpoint this job continues from when its sweep is resumed (else None). Its DDP ranks, started as
    single runs, find it in the environment. A job requeued after a preemption continues from its own folder's
    checkpoint (seqlab/run/requeue.py)."""
    from seqlab.run.requeue import requeued_checkpoint

    requeued = requeued_checkpoint(run_dir)
    if requeued is not None:
        yield requeued
        return
    if not multirun:
        yield os.environ.get(ENV_CHECKPOINT) if joins_a_run() else None
        return
    sweep_dir = Path(str(hydra_cfg.sweep.dir))
    resumes = read_marker(sweep_dir).get("resumes") or []
    checkpoint = None
    for job in resumes[-1]["jobs"] if resumes else []:
        if job["num"] == int(hydra_cfg.job.num) and job["action"] == "resume" and job["dir"] is not None:
            if (sweep_dir / job["dir"]).resolve() == run_dir.resolve() and Path(job["checkpoint"]).is_file():
                checkpoint = job["checkpoint"]
    if checkpoint is None:
        yield None
        return
    os.environ[ENV_CHECKPOINT] = checkpoint
    try:
        yield checkpoint
    finally:
        os.environ.pop(ENV_CHECKPOINT, None)
