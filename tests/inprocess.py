"""Running ``python -m MODULE ARGS`` inside the test process: the same ``main()``, its exit code, stdout and stderr,
without paying the start of a Python with torch and Lightning each time.

Use it wherever the process boundary itself is not under test; exit codes after a signal, stderr being exactly one
line (warnings and C-level output reach a real stderr only), start-up without torch and DDP ranks need a subprocess.
Whatever a job changes in the process (working folder, argv, environment, logging, Hydra's singletons, torch's
threads and random state, warning filters, seqlab's thread plan and per-process sweep count) is put back afterwards.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import random
import subprocess
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

# Python's own warning filters (``python -W`` unset): what a fresh process shows on stderr, unlike pytest's
PYTHON_WARNING_FILTERS = (
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, ""),
    ("ignore", PendingDeprecationWarning, ""),
    ("ignore", ImportWarning, ""),
    ("ignore", ResourceWarning, ""),
)
# the module whose main() ``python -m NAME`` runs, where __main__ only forwards to it
ENTRY_MODULES = {"seqlab": "seqlab.cli.command", "seqlab.report": "seqlab.report.command"}


def _loggers() -> list[logging.Logger]:
    known = logging.Logger.manager.loggerDict.values()
    return [logging.getLogger(), *(lg for lg in known if isinstance(lg, logging.Logger))]


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """Hydra configures logging for each job (handlers bound to the job's stdout/stderr and its log file)."""
    saved = {lg.name: (lg.level, lg.handlers[:], lg.propagate, lg.disabled, lg.filters[:]) for lg in _loggers()}
    disabled = logging.root.manager.disable
    try:
        yield
    finally:
        logging.disable(disabled)
        for lg in _loggers():
            level, handlers, propagate, off, filters = saved.get(lg.name, (logging.NOTSET, [], True, False, []))
            for handler in lg.handlers:
                if handler not in handlers:
                    with contextlib.suppress(Exception):
                        handler.close()
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate, lg.disabled, lg.filters[:] = propagate, off, filters


@contextlib.contextmanager
def _process_state_restored(cwd: Path, argv: list[str], env: dict[str, str]) -> Iterator[None]:
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    import seqlab.sweep.summary as sweep_summary
    from seqlab.training import threads as seqlab_threads

    saved_cwd, saved_argv, saved_env = os.getcwd(), sys.argv[:], dict(os.environ)
    threads = torch.get_num_threads()
    thread_plan = (seqlab_threads._plan, seqlab_threads._last_set)
    rng = (torch.get_rng_state(), random.getstate(), np.random.get_state())
    filters = warnings.filters[:]
    sweep_summary._failed_jobs = 0
    try:
        os.environ.update(env)
        os.chdir(cwd)
        sys.argv = argv
        with _logging_restored():
            yield
    finally:
        os.chdir(saved_cwd)
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        torch.set_num_threads(threads)
        seqlab_threads._plan, seqlab_threads._last_set = thread_plan
        torch.set_rng_state(rng[0])
        random.setstate(rng[1])
        np.random.set_state(rng[2])
        warnings.filters[:] = filters
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None
        sweep_summary._failed_jobs = 0


def _python_warnings_to(stream: io.StringIO) -> None:
    """Warnings filtered and printed as a fresh ``python`` does (pytest would record them instead)."""
    warnings.resetwarnings()
    warnings.simplefilter("default")
    for action, category, module in reversed(PYTHON_WARNING_FILTERS):
        warnings.filterwarnings(action, category=category, module=module)

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        stream.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show


def run_inprocess(
    args: list[str], cwd: Path, module: str = "seqlab", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` run in ``cwd`` by calling the module's ``main()`` here: returncode (from
    SystemExit; 1 and the traceback on stderr for an uncaught exception, as Python does), stdout and stderr."""
    main = importlib.import_module(ENTRY_MODULES.get(module, module)).main
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with _process_state_restored(Path(cwd), [module, *args], {"WANDB_MODE": "disabled", **(env or {})}):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            _python_warnings_to(err)
            try:
                main()
            except SystemExit as exc:
                if exc.code is None or isinstance(exc.code, int):
                    code = exc.code or 0
                else:
                    print(exc.code, file=sys.stderr)
                    code = 1
            except Exception:
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
    return subprocess.CompletedProcess([module, *args], code, out.getvalue(), err.getvalue())
