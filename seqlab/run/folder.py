"""The run folder: claimed fresh for each run, checked before Hydra writes into it, and cleaned up only where the
run itself created something.

Promises (docs/reliability.md):
- a default run folder is unique, even for runs started in the same second (``..._2``, ``_3`` is appended);
- an explicit ``hydra.run.dir`` / ``hydra.sweep.dir`` that already holds a run, or any entry a run writes
  (:data:`RUN_ENTRIES`: its logs, metrics, samples, pictures), is refused before anything is written: no file a user
  owns is overwritten, appended to or deleted, at any depth; one that cannot be written is one line;
- one writer per folder: the claimed folder is locked for the life of the process (seqlab/run/lock.py), and a
  second run, resumed sweep or sweep on it is refused with one line naming the holder;
- a failed run removes only the folders and files it created, and only while they hold no checkpoint; a folder that
  existed before the run is never removed; when something of the failed run remains (a checkpoint), failed.json
  says why (:func:`record_failure`);
- an explicit ``hydra.sweep.dir`` that already holds a sweep is refused too, with one narrow exception: the folder of
  a sweep seqlab's own sweeper wrote (:data:`SWEEP_MARKER`), continued with ``resume_sweep=`` (seqlab/sweep/resume.py:
  it reuses finished jobs, continues interrupted ones and moves aside, never deletes, what a rerun replaces).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from seqlab.errors import ConfigError, SeqlabError
from seqlab.results import FAILED_FILE, write_json
from seqlab.run.lock import LOCK_FILE, check_not_in_use, holds_lock, lock_folder, release
from seqlab.run.rank_join import JOB_NAME, join_run_folder, rank_of, require_shared_folder
from seqlab.run.ranks import joins_a_run

RUN_MARKERS = (".hydra", "results.json", "failed.json", "checkpoints")
# every top-level entry a run may write into its folder (besides Hydra's job log, <job name>.log); a folder that
# existed before the run and holds any of them is refused, so nothing of the user's is overwritten or appended to
RUN_ENTRIES = (
    *RUN_MARKERS,
    "csv",  # CSVLogger: deletes an existing metrics.csv, overwrites hparams.yaml
    "tensorboard",
    "wandb",
    "wandb_run_id",
    "samples.jsonl",  # language models: appended to
    "grad_flow",
    "captions",
    "attention",
    "forecast_test.png",
    "forecast_test.csv",
    "confusion_matrix_test.png",
    "requeue.json",  # a job preempted and requeued into its folder (seqlab/run/requeue.py)
)
SWEEP_MARKER = ".seqlab-sweep.json"  # written by seqlab's sweepers into the sweep folder (hydra_plugins/seqlab_sweeper)
SWEEP_FILES = ("multirun.yaml", SWEEP_MARKER)
SWEEP_ENTRIES = (*SWEEP_FILES, "sweep_summary.md", "sweep_summary.json")  # and the job folders 0, 1, ...
DIR_KEYS = {"hydra.run.dir": "run", "hydra.sweep.dir": "sweep"}


@dataclass
class Claim:
    """What this process created for its run folder: the folder itself (and empty parents), or, for a folder that
    existed before, the names that were already in it."""

    path: Path
    created: list[Path] = field(default_factory=list)  # deepest first: the run folder, then new parents
    existing_entries: frozenset[str] | None = None  # None when the run created the folder


_claims: dict[Path, Claim] = {}


def claim(path: Path, unique: bool) -> Path:
    """Create ``path`` (and its missing parents) and remember what was created. With ``unique``, a folder that already
    exists is not shared: ``path_2``, ``path_3``, ... is taken instead (``os.mkdir`` is atomic, so two processes
    never get the same one)."""
    path = Path(path).absolute()
    created_parents = _make_parents(path.parent)
    candidate, n = path, 1
    while True:
        try:
            os.mkdir(candidate)
        except FileExistsError:
            if not unique:
                _claims[candidate] = Claim(candidate, created_parents, frozenset(p.name for p in candidate.iterdir()))
                return candidate
            n += 1
            candidate = path.with_name(f"{path.name}_{n}")
            continue
        _claims[candidate] = Claim(candidate, [candidate, *created_parents])
        return candidate


def _make_parents(folder: Path) -> list[Path]:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)
    return missing  # deepest first


def remove_unfinished(run_dir: Path) -> list[Path]:
    """After a failed run: delete what this run created and that holds no checkpoint; return what was removed.
    Without a claim (a folder this process did not claim) nothing is removed."""
    claimed = _claims.get(Path(run_dir).absolute())
    if claimed is None:
        return []
    _close_log_files(claimed.path)  # Hydra's log file handler holds a file in the folder
    removed: list[Path] = []
    if claimed.existing_entries is not None:  # the folder was there before: only our own entries go
        for entry in claimed.path.iterdir():
            if entry.name not in claimed.existing_entries and not _holds_checkpoint(entry):
                _remove(entry)
                removed.append(entry)
        return removed
    if _holds_checkpoint(claimed.path):
        return removed
    for folder in claimed.created:  # the run folder first, then the parents it created, while they are empty
        if folder == claimed.path:
            shutil.rmtree(folder, ignore_errors=True)
        elif folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        else:
            break
        removed.append(folder)
    return removed


def _close_log_files(folder: Path) -> None:
    """Close and detach the logging handlers that write into ``folder`` (others, e.g. a notebook's, stay)."""
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in list(getattr(logger, "handlers", [])):
            name = getattr(handler, "baseFilename", None)
            if name and Path(name).absolute().is_relative_to(folder):
                handler.close()
                logger.removeHandler(handler)


def _holds_checkpoint(path: Path) -> bool:
    return path.is_file() and path.suffix == ".ckpt" or path.is_dir() and any(path.glob("**/*.ckpt"))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class RunFolderClaim(Callback):
    """Hydra callback (first in ``hydra.callbacks``): claims the run or sweep folder before Hydra writes into it."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._claim(config, "run")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._claim(config, "sweep")

    @staticmethod
    def _claim(config: DictConfig, kind: str) -> None:
        if joins_a_run():  # a DDP rank runs in the folder its rank zero claimed (seqlab/run/rank_join.py)
            if kind == "run":
                join_run_folder(config)
            return
        if kind == "run":  # a run on several nodes: each node must be told the one folder rank 0 claims
            _refuse_in_one_line(require_shared_folder, config, rank_of(config))
        explicit = any(o.split("=", 1)[0] == f"hydra.{kind}.dir" for o in config.hydra.overrides.hydra)
        folder = claim(Path(str(config.hydra[kind].dir)), unique=not explicit)
        resumed = kind == "sweep" and config.get("resume_sweep") not in (None, "", "null")
        key = "resume_sweep" if resumed else f"hydra.{kind}.dir"
        try:  # one writer: lock first, then look again (another process may have written here since the pre-check)
            lock_folder(folder, key, shared=kind == "sweep" and shares_its_folder(config))
            if kind == "run":
                refuse_clashes(folder, key, str(config.hydra.job.name))
            elif not resumed:
                refuse_sweep_clashes(folder, key)
        except SeqlabError as exc:
            _drop_claim(folder)
            print(f"seqlab: error: {exc}", file=sys.stderr)
            sys.exit(2)
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra[kind].dir = str(folder)


def shares_its_folder(config: DictConfig) -> bool:
    """A search whose workers share one sweep folder: seqlab's Optuna sweeper (its study in a database hands each
    worker its own trials, so its own job folders; hydra_plugins/seqlab_sweeper)."""
    return str(OmegaConf.select(config, "hydra.sweeper._target_", default="")).endswith(".SeqlabOptunaSweeper")


def _refuse_in_one_line(check: Any, *args: Any) -> None:
    try:
        check(*args)
    except SeqlabError as exc:
        print(f"seqlab: error: {exc}", file=sys.stderr)
        sys.exit(2)


def _drop_claim(folder: Path) -> None:
    """A refused claim: take back only what this process created (its lock file, then the folder and the parents it
    made while they are empty); another process's lock file and everything else stay."""
    claimed = _claims.pop(folder, None)
    if claimed is None:
        return
    ours = holds_lock(folder)
    release(folder)
    if not ours:  # another process holds it (it may have got the lock of the folder this process made): hands off
        return
    if claimed.existing_entries is None or LOCK_FILE not in claimed.existing_entries:
        (folder / LOCK_FILE).unlink(missing_ok=True)
    for created in claimed.created:  # the run folder first, then the parents it created, while they are empty
        if not created.is_dir() or any(created.iterdir()):
            break
        created.rmdir()


def refuse_clashes(folder: Path, key: str, job_name: str = JOB_NAME) -> None:
    """Raise ConfigError on ``key`` when ``folder`` (one that existed before the run) holds an entry the run would
    write: a run's markers (its config, checkpoints, results) or any of :data:`RUN_ENTRIES` and the job log."""
    if not folder.is_dir():
        return
    if _holds_a_run(folder):
        raise ConfigError(
            key,
            f"{folder} already holds a run; seqlab never overwrites one: choose a new folder "
            f"(resume={folder} continues that run in a new folder)",
        )
    for name in (*RUN_ENTRIES, f"{job_name}.log"):
        if (folder / name).exists() or (folder / name).is_symlink():
            raise ConfigError(
                key,
                f"{folder / name} is there already and a run writes {name}; seqlab never overwrites, appends to or "
                "deletes a file it did not create: choose a new or empty folder",
            )


def refuse_sweep_clashes(folder: Path, key: str) -> None:
    """Raise ConfigError on ``key`` when ``folder`` already holds a sweep or an entry a new sweep writes (its
    summaries, a job folder ``0``, ``1``, ...)."""
    if not folder.is_dir():
        return
    if _holds_a_run(folder):
        raise ConfigError(key, f"{folder} already holds a run; seqlab never overwrites one: choose a new folder")
    if _holds_a_sweep(folder):
        raise ConfigError(
            key,
            f"{folder} already holds a sweep; seqlab never overwrites one: choose a new folder "
            f"(resume_sweep={folder} continues that sweep in its folder)",
        )
    for entry in sorted(folder.iterdir()):
        if entry.name in SWEEP_ENTRIES or entry.name.isdigit():
            raise ConfigError(
                key,
                f"{entry} is there already and a sweep writes {entry.name}; seqlab never overwrites a file it did not "
                "create: choose a new or empty folder",
            )


def record_failure(run_dir: Path, record: dict[str, Any]) -> Path | None:
    """After a failed single run: take back what it created that holds no checkpoint; when anything of it remains
    (a checkpoint), write failed.json beside it, so no folder of a failed run is left unmarked. Returns failed.json,
    or None when nothing of the run remains."""
    remove_unfinished(run_dir)
    claimed = _claims.get(Path(run_dir).absolute())
    if not Path(run_dir).is_dir():
        return None
    if claimed is not None and claimed.existing_entries is not None:
        own = [e for e in Path(run_dir).iterdir() if e.name not in claimed.existing_entries and e.name != LOCK_FILE]
        if not own:
            return None
    return write_json(Path(run_dir) / FAILED_FILE, record)


def record_crash(run_dir: Path, exc: BaseException, overrides: list[str]) -> None:
    """After an unexpected exception (a traceback follows): failed.json in the run folder, when it exists, naming
    the exception; nothing is removed (what the run left may help find the bug). Only rank 0 writes it."""
    if Path(run_dir).is_dir() and not joins_a_run():
        write_json(Path(run_dir) / FAILED_FILE, {"error": f"{type(exc).__name__}: {exc}", "overrides": overrides})


def check_output_dirs(overrides: list[str], resuming: Path | None = None) -> None:
    """Before Hydra starts: the run (or sweep) folder can be created, and an explicit one holds no earlier run or
    sweep, except ``resuming``: the folder of a seqlab sweep that ``resume_sweep=`` continues. Raises ConfigError
    naming the key."""
    given = {key: value.strip("'\"") for key, _, value in (o.partition("=") for o in overrides)}
    _refuse_resuming_a_held_run(given.get("resume", ""))
    for key in DIR_KEYS:
        raw = given.get(key, "outputs")
        if "${" in raw:  # an interpolation (the time): only its fixed prefix can be checked
            raw = raw.split("${", 1)[0] or "."
        path = Path(raw).expanduser().absolute()
        _check_writable(key, path)
        if key not in given or joins_a_run() or not path.is_dir():
            continue
        resumed = resuming is not None and path == Path(resuming).absolute() and is_seqlab_sweep(path)
        if key == "hydra.run.dir":
            job_name = given.get("hydra.job.name", JOB_NAME)
            refuse_clashes(path, key, job_name)
        elif not resumed:
            refuse_sweep_clashes(path, key)


def _refuse_resuming_a_held_run(resume: str) -> None:
    """``resume=<folder or .ckpt>`` of a run another process is still writing: refused before anything is written
    (``resume=latest`` is checked once it is resolved, seqlab/run/resume.py)."""
    if resume in ("", "null", "latest") or joins_a_run():
        return
    from seqlab.run.resume import run_folder_of

    path = Path(resume).expanduser().absolute()
    if path.is_dir():
        check_not_in_use(path, "resume")
    elif path.is_file():
        check_not_in_use(run_folder_of(path), "resume")


def is_seqlab_sweep(path: Path) -> bool:
    """A sweep folder seqlab's sweeper wrote (its marker), or an older seqlab sweep (multirun.yaml naming seqlab's
    folder claim): the only folders ``resume_sweep=`` writes into."""
    if (path / SWEEP_MARKER).is_file():
        return True
    saved = path / "multirun.yaml"
    return saved.is_file() and f"{RunFolderClaim.__module__}.{RunFolderClaim.__name__}" in saved.read_text()


def _holds_a_sweep(path: Path) -> bool:
    return any((path / name).exists() for name in SWEEP_FILES)


def _holds_a_run(path: Path) -> bool:
    return any((path / marker).exists() for marker in RUN_MARKERS)


def _check_writable(key: str, path: Path) -> None:
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(key, f"cannot create {path}: {existing} is a file")
    try:
        Path(tempfile.mkdtemp(dir=existing, prefix=".seqlab-write-check-")).rmdir()
    except OSError as exc:
        raise ConfigError(key, f"cannot create {path}: {existing} is not writable ({exc.strerror})") from None
