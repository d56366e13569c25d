"""Every checkpoint seqlab writes is put in place atomically: a kill at any moment leaves the previous file whole.

Lightning's own save pickles into memory and lets fsspec write a temp file in ``$TMPDIR`` that it then moves over
the target; with ``$TMPDIR`` on another filesystem (a tmpfs ``/tmp``) that move is a copy, so a kill during it
truncates the previous checkpoint, and a kill before it leaves a checkpoint-sized file in ``$TMPDIR``.
:class:`AtomicCheckpointIO` (the Trainer's ``CheckpointIO``, seqlab/training/trainer.py) writes a temp file in the
target's own folder (``.seqlab-partial-<pid>-*``), flushes and fsyncs it, then ``os.replace``-s it over the target
and fsyncs the folder. A temp file left by a killed save is recognised by that prefix and removed at the next save
into the folder, or when a run resumes from it, but only when the process that wrote it is gone.

A save that fails (no space left, a read-only folder) raises :class:`CheckpointWriteFailed`: one line naming the
file, the run folder kept with failed.json (seqlab/cli/command.py), and the previous checkpoint untouched.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from seqlab.errors import TrainingFailed
from seqlab.results import _umask

PARTIAL_PREFIX = ".seqlab-partial-"
_PARTIAL = re.compile(re.escape(PARTIAL_PREFIX) + r"(\d+)-.*\.tmp$")


class CheckpointWriteFailed(TrainingFailed):
    """A checkpoint could not be written; the previous one at that path is unchanged."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are atomic on a local filesystem (temp file beside the target, fsync,
    ``os.replace``)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        save_atomically(checkpoint, Path(path))


def save_atomically(obj: Any, target: Path) -> None:
    """``torch.save(obj)`` to ``target`` atomically; :class:`CheckpointWriteFailed` (nothing left behind) when the
    file cannot be written."""
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(folder)
        fd, temp = tempfile.mkstemp(prefix=f"{PARTIAL_PREFIX}{os.getpid()}-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _failed(target, exc) from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # the permissions of any file the user creates, not mkstemp's 0600
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise _failed(target, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(folder)


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the temp files of saves killed in ``folder`` (seqlab's prefix, written by a process that is gone);
    return them. Files of a live process and every other file are left alone. Only global rank 0 looks: the pids
    are those of its host, and another node's rank cannot tell whether they are alive (seqlab/run/ranks.py)."""
    from seqlab.run.ranks import joins_a_run

    removed: list[Path] = []
    if joins_a_run():
        return removed
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _PARTIAL.match(entry.name)
        if match and entry.is_file() and not _alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                entry.unlink()
                removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _failed(target: Path, exc: OSError) -> CheckpointWriteFailed:
    reason = exc.strerror or str(exc)
    return CheckpointWriteFailed(f"checkpoint {target}: cannot be written: {reason}")


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a power cut after it keeps the new file)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
