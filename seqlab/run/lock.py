"""One writer per run folder and per sweep folder.

The process that claims a folder takes an exclusive ``fcntl.flock`` on :data:`LOCK_FILE` inside it and holds it for
the rest of its life; the file records the holder (pid, host, start time). The kernel releases the lock when the
holder exits in any way (``kill -9`` included), so a lock file left by a dead process is stale by construction and
the next writer simply takes it. A second run, ``resume=``, ``resume_sweep=`` or sweep on a held folder is refused
with one line naming the holder (:func:`lock_folder`, :func:`check_not_in_use`), before it writes anything.

The one exception is a search whose study lives in a database (the Optuna sweeper): its workers share the sweep
folder, each taking a shared lock (``shared=True``), because Optuna hands each of them different trials and so
different job folders. An exclusive writer (a run, a grid sweep or its ``resume_sweep=``) and the workers still
exclude each other.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from seqlab.errors import ConfigError

LOCK_FILE = ".seqlab.lock"

_held: dict[Path, int] = {}  # folder -> the open lock file descriptor, kept open for the life of the process


def lock_folder(folder: Path, key: str, shared: bool = False) -> None:
    """Take ``folder``'s lock for this process (a no-op when it holds it already): exclusive, or ``shared`` with
    other workers of one study. Raises ConfigError on ``key`` naming the holder when another live process holds it
    in a way that excludes this one."""
    folder = Path(folder).absolute()
    if folder in _held:
        return
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise _in_use(folder, key, holder) from None
    if not shared or _alone(fd):  # a worker joining others keeps the record of one that is still there
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}) + "\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode(), 0)
    _held[folder] = fd


def _alone(fd: int) -> bool:
    """Whether this shared holder is the only one (its lock is upgraded for a moment, then shared again)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_SH)
    return True


def check_not_in_use(folder: Path, key: str) -> None:
    """Raise ConfigError on ``key`` when another live process holds ``folder``'s lock (e.g. the run ``resume=``
    would read from is still writing it). Takes nothing: the lock is tried and let go at once."""
    folder = Path(folder).absolute()
    if folder in _held or not (folder / LOCK_FILE).is_file():
        return
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _in_use(folder, key, _read_holder(fd)) from None
    finally:
        os.close(fd)  # closing releases a shared lock taken here


def holds_lock(folder: Path) -> bool:
    """Whether this process holds ``folder``'s lock."""
    return Path(folder).absolute() in _held


def release(folder: Path) -> None:
    """Let go of ``folder``'s lock (tests; a process ending releases every lock it holds)."""
    fd = _held.pop(Path(folder).absolute(), None)
    if fd is not None:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        holder = {}
    if not isinstance(holder, dict) or "pid" not in holder:
        return "another process"
    return f"pid {holder['pid']} on {holder.get('host', '?')}, started {holder.get('started', '?')}"


def _in_use(folder: Path, key: str, holder: str) -> ConfigError:
    return ConfigError(
        key, f"{folder} is in use by another seqlab process ({holder}); wait for it to end or choose another folder"
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
