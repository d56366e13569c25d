"""Output paths checked before any work starts: one ConfigError line naming the key, and nothing written.

:func:`check_output_file` (a file a tool will write: ``attention_plot=``, ``export=``, ``--out``) and
:func:`check_output_dir` (a folder it will write into: ``out=``). A path is refused when it lies under a system
folder (``/proc``, ``/sys``, ``/dev``), when a file is wanted and a folder is there (or the reverse), when a part of
it that must be a folder is a file, or when the nearest existing folder is not writable (``os.access``; note that
root may write anywhere ``chmod`` forbids, so root is refused only where the system refuses it too). Missing
folders are not created here: the writer creates them when it writes. :func:`writing` turns an ``OSError`` of the
write itself (disk full, a folder removed meanwhile) into the same kind of line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seqlab.errors import ConfigError

SYSTEM_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))


def check_output_file(key: str, path: str | Path) -> Path:
    """``path`` (``~`` expanded) when a file can be written there; else ConfigError naming ``key``."""
    target = _not_system(key, Path(path).expanduser())
    if target.is_dir():
        raise ConfigError(key, f"{target} is a folder; give the path of a file")
    if target.exists() and not os.access(target, os.W_OK):
        raise ConfigError(key, f"{target} is not writable")
    _writable_parent(key, target)
    return target


def check_output_dir(key: str, path: str | Path) -> Path:
    """``path`` (``~`` expanded) when files can be written into it (it may not exist yet); else ConfigError."""
    folder = _not_system(key, Path(path).expanduser())
    if folder.exists() and not folder.is_dir():
        raise ConfigError(key, f"{folder} is a file, not a folder")
    if folder.is_dir():
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(key, f"{folder} is not writable")
        return folder
    _writable_parent(key, folder)
    return folder


@contextmanager
def writing(key: str, path: str | Path) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` into a ConfigError naming ``key``."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(key, f"cannot write {path}: {exc.strerror or exc}") from None


def _not_system(key: str, path: Path) -> Path:
    resolved = path.resolve()
    for system in SYSTEM_FOLDERS:
        if resolved == system or system in resolved.parents:
            raise ConfigError(key, f"{path} is under {system}, a system folder: write elsewhere")
    return path


def _writable_parent(key: str, path: Path) -> None:
    """The nearest existing folder above ``path`` is a folder and writable (the rest is created when written)."""
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(key, f"{parent} is a file, so {path} cannot be created")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(key, f"{parent} is not writable, so {path} cannot be created")
