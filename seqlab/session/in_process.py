"""``seqlab.train``: one run in this process, exactly as ``python -m seqlab`` runs it, leaving the process as it
found it (Hydra's global state, logging handlers, torch's thread count, environment variables, working folder)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from seqlab.errors import ConfigError
from seqlab.session.result import Result

QUIETED = ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")  # info lines, quiet=True


def train(
    *overrides: str, run_dir: str | Path | None = None, cwd: str | Path | None = None, quiet: bool = False
) -> Result:
    """Run ``python -m seqlab *overrides`` in this process and return its :class:`Result`.

    ``run_dir``: the run folder (``hydra.run.dir``; refused when it holds a run), else a fresh
    ``outputs/<date>/<time>_<task>_<model>`` under ``cwd`` (default: the current folder). ``quiet``: nothing on
    stdout/stderr (progress bars, the summary). The CLI's one-line errors are raised as SeqlabErrors (``.key``
    names the key, ``str(exc)`` is the line after ``seqlab: error:``), with nothing left behind."""
    from seqlab.cli.command import launch
    from seqlab.sweep.resume import quoted

    argv = [str(o) for o in overrides]
    flags = [a for a in argv if a.startswith("-")]
    if flags:
        raise ConfigError("overrides", f"train() runs one job from overrides; '{flags[0]}' is a command-line flag")
    if run_dir is not None:
        argv.append(f"hydra.run.dir={quoted(Path(run_dir).expanduser().absolute())}")
    with isolated(cwd), _silenced(quiet):
        results = launch(argv, in_process=True)
    if results is None:  # a DDP rank other than zero, or a run whose results stayed in another process
        raise ConfigError("overrides", "the run returned no results in this process")
    return Result(Path(results["run_dir"]), results)


@contextlib.contextmanager
def isolated(cwd: str | Path | None = None) -> Iterator[None]:
    """Run a job inside: the working folder, environment, root logging handlers and level, torch's thread count
    and Hydra's global state are restored afterwards (log files the job opened are closed)."""
    from hydra.core.global_hydra import GlobalHydra

    root = logging.getLogger()
    before = (os.getcwd(), dict(os.environ), list(root.handlers), root.level, _torch_threads())
    try:
        if cwd is not None:
            os.chdir(Path(cwd).expanduser())
        yield
    finally:
        old_cwd, env, handlers, level, threads = before
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(env)
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        _restore_torch_threads(threads)
        GlobalHydra.instance().clear()


def _torch_threads() -> int | None:
    """torch's thread count, or None while torch is not imported (a config error never imports it)."""
    return sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None


def _restore_torch_threads(threads: int | None) -> None:
    if "torch" not in sys.modules:
        return
    if threads is None:  # torch came with the run: back to its own choice at import
        from seqlab.training.threads import TORCH_DEFAULT

        threads = TORCH_DEFAULT
    torch = sys.modules["torch"]
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _silenced(quiet: bool) -> Iterator[None]:
    if not quiet:
        yield
        return
    sink = io.StringIO()
    chatty = [logging.getLogger(name) for name in QUIETED]  # their handlers hold the streams of import time
    levels = [logger.level for logger in chatty]
    try:
        for logger in chatty:
            logger.setLevel(logging.WARNING)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        for logger, level in zip(chatty, levels):
            logger.setLevel(level)
