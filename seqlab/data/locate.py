"""Locate a data file: an explicit path, else ``$SEQLAB_DATA_DIR/<relative>``, else a checked download.

``SEQLAB_DATA_DIR`` is laid out like ``shared/data`` (``tinyshakespeare/input.txt``, ``imdb/train.csv.gz``, ...).
When it is unset the cache ``~/.cache/seqlab/data`` is used. A download is verified against its sha256 and written
atomically; offline, :class:`DataError` says in one line which file is missing and where to put it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from seqlab.errors import DataError


@dataclass(frozen=True)
class Remote:
    """A data file's public home and checksum."""

    url: str
    sha256: str


def data_dir() -> Path:
    """The data directory: ``$SEQLAB_DATA_DIR`` or ``~/.cache/seqlab/data``."""
    env = os.environ.get("SEQLAB_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "seqlab" / "data"


def cache_dir() -> Path:
    """Where seqlab writes what it generates (e.g. synthetic scene sets): ``$SEQLAB_CACHE_DIR`` or ``~/.cache/seqlab``.

    Apart from the data directory on purpose: ``$SEQLAB_DATA_DIR`` may be a shared, read-only copy of the data sets.
    """
    env = os.environ.get("SEQLAB_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "seqlab"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(remote: Remote, target: Path, timeout: float = 20.0) -> Path:
    """Fetch ``remote`` to ``target`` (atomically) and check its sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(remote.url, timeout=timeout) as resp:
            while block := resp.read(1 << 20):
                out.write(block)
        got = sha256_of(Path(tmp))
        if got != remote.sha256:
            raise DataError(f"download of {remote.url} has sha256 {got}, expected {remote.sha256}")
        os.replace(tmp, target)
        return target
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def locate(
    relative: str, explicit: str | os.PathLike | None = None, remote: Remote | None = None, key: str = "task.data.path"
) -> Path:
    """The file to read; raises DataError with one clear line when it is missing or empty."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise DataError(f"{key}: file not found: {path}")
        _check_not_empty(path, key)
        return path
    path = data_dir() / relative
    if path.is_file():
        _check_not_empty(path, key)
        return path
    if remote is not None:
        try:
            return download(remote, path)
        except DataError:
            raise
        except Exception as exc:
            reason = f"download from {remote.url} failed ({type(exc).__name__})"
    else:
        reason = "no public download is known"
    raise DataError(
        f"missing data file {relative}: put it at {path} (set SEQLAB_DATA_DIR to a folder laid out like "
        f"shared/data) or pass {key}=/path/to/file; {reason}"
    )


def _check_not_empty(path: Path, key: str) -> None:
    if path.stat().st_size == 0:
        raise DataError(f"{key}: file is empty: {path}")
