"""The run folder: claimed fresh for each run, checked before Hydra writes into it, and cleaned up only where the
run itself created something.

Promises (docs/reliability.md):
- a default run folder is unique, even for runs started in the same second (``..._2``, ``_3`` is appended);
- an explicit ``hydra.run.dir`` / ``hydra.sweep.dir`` that already holds a run is refused before anything is written
  (its config, checkpoints and results are never overwritten), and one that cannot be written is one line;
- a failed run removes only the folders and files it created, and only while they hold no checkpoint; a folder that
  existed before the run is never removed;
- an explicit ``hydra.sweep.dir`` that already holds a sweep is refused too, with one narrow exception: the folder of
  a sweep seqlab's own sweeper wrote (:data:`SWEEP_MARKER`), continued with ``resume_sweep=`` (seqlab/sweep_resume.py:
  it reuses finished jobs, continues interrupted ones and moves aside, never deletes, what a rerun replaces).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

from seqlab.errors import ConfigError

RUN_MARKERS = (".hydra", "results.json", "failed.json", "checkpoints")
SWEEP_MARKER = ".seqlab-sweep.json"  # written by seqlab's sweepers into the sweep folder (hydra_plugins/seqlab_sweeper)
SWEEP_FILES = ("multirun.yaml", SWEEP_MARKER)
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
        if _launched_rank():  # a DDP rank runs in the folder its rank zero claimed
            return
        explicit = any(o.split("=", 1)[0] == f"hydra.{kind}.dir" for o in config.hydra.overrides.hydra)
        folder = claim(Path(str(config.hydra[kind].dir)), unique=not explicit)
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra[kind].dir = str(folder)


def _launched_rank() -> bool:
    return any(os.environ.get(k, "0") != "0" for k in ("LOCAL_RANK", "RANK"))


def check_output_dirs(overrides: list[str], resuming: Path | None = None) -> None:
    """Before Hydra starts: the run (or sweep) folder can be created, and an explicit one holds no earlier run or
    sweep, except ``resuming``: the folder of a seqlab sweep that ``resume_sweep=`` continues. Raises ConfigError
    naming the key."""
    given = {key: value.strip("'\"") for key, _, value in (o.partition("=") for o in overrides) if key in DIR_KEYS}
    for key in DIR_KEYS:
        raw = given.get(key, "outputs")
        if "${" in raw:  # an interpolation (the time): only its fixed prefix can be checked
            raw = raw.split("${", 1)[0] or "."
        path = Path(raw).expanduser().absolute()
        _check_writable(key, path)
        if key not in given or _launched_rank() or not path.is_dir():
            continue
        if _holds_a_run(path):
            raise ConfigError(
                key,
                f"{path} already holds a run; seqlab never overwrites one: choose a new folder "
                f"(resume={path} continues that run in a new folder)",
            )
        resumed = resuming is not None and path == Path(resuming).absolute() and is_seqlab_sweep(path)
        if key == "hydra.sweep.dir" and _holds_a_sweep(path) and not resumed:
            raise ConfigError(
                key,
                f"{path} already holds a sweep; seqlab never overwrites one: choose a new folder "
                f"(resume_sweep={path} continues that sweep in its folder)",
            )


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
