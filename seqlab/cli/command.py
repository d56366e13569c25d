"""``python -m seqlab``: compose the config with Hydra, check it, run the job.

Errors a user can fix (unknown option or key, wrong type, missing file, impossible combination) end with one line
on stderr naming the key and the allowed values, exit code 2, and no run folder. ``debug=true`` or
``HYDRA_FULL_ERROR=1`` shows the traceback instead. In a multirun a failing job records ``failed.json`` in its folder
and the sweep goes on.

The command line and ``seqlab.train`` share one path, :func:`launch`: it checks a command line, hands it to Hydra
and returns the job's results or raises its SeqlabError; :func:`main` only turns that into exit codes and a line.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from seqlab.config.preflight import HANDS_OFF, preflight, split_argv
from seqlab.config.store import register_configs
from seqlab.errors import SeqlabError, TrainingFailed
from seqlab.results import FAILED_FILE, write_json
from seqlab.run.folder import check_output_dirs, record_crash, record_failure
from seqlab.run.rank_join import speak_for_node
from seqlab.run.ranks import joins_a_run
from seqlab.sweep.check import prepare
from seqlab.sweep.resume import resumed_checkpoint
from seqlab.training.preemption import PreemptionWatch
from seqlab.training.signals import Terminated, interrupted_exit_code, sigterm_raises, stop_signal_name

log = logging.getLogger("seqlab")
CONFIG_PATH, CONFIG_NAME = "../conf", "config"  # seqlab/conf/config.yaml (Hydra: relative to this module)
register_configs()


@dataclass
class _Launch:
    """What one :func:`launch` learns from its job: the results of a single run, or the error that ended it."""

    show_traceback: bool  # debug: HYDRA_FULL_ERROR=1 as the caller set it
    results: dict[str, Any] | None = None


class _JobFailed(BaseException):  # noqa: N818 - carries a SeqlabError past Hydra, as sys.exit did
    """A single run's SeqlabError, after its folder was cleaned up: a BaseException, so Hydra neither reports it
    nor goes on to its end-of-job callbacks."""

    def __init__(self, error: SeqlabError) -> None:
        super().__init__(str(error))
        self.error = error


_current = _Launch(show_traceback=False)


def hydra_job(cfg: DictConfig) -> float | None:
    """Hydra's task function: one job. Returns ``cfg.optimized_metric`` for sweepers."""
    from seqlab.run.job import run

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        with resumed_checkpoint(hc, run_dir, multirun) as checkpoint:  # a resumed sweep's interrupted job
            results = run(cfg, run_dir, resume_from=checkpoint)
    except SeqlabError as exc:
        if cfg.get("debug") or _current.show_traceback:
            raise
        record = exc.record() if isinstance(exc, TrainingFailed) else {"error": str(exc)}
        record["overrides"] = list(hc.overrides.task)
        if joins_a_run():  # a DDP rank other than 0: rank 0 reports (seqlab/training/rank_failure.py)
            speak_for_node(exc)  # the first rank of another node: one line in that node's log
            sys.exit(2)
        if multirun:
            write_json(run_dir / FAILED_FILE, record)
            log.error("job %s failed: %s", hc.job.num, exc)
            return None
        if isinstance(exc, TrainingFailed):  # it trained: keep the folder, with the reason beside the checkpoints
            write_json(run_dir / FAILED_FILE, record)
        else:  # take back what this run created (never a folder that was there before); failed.json beside the rest
            record_failure(run_dir, record)
        raise _JobFailed(exc) from None
    except Exception as exc:  # a bug, not bad input: the traceback stays, and the folder says the run failed
        record_crash(run_dir, exc, list(hc.overrides.task))
        raise
    if not multirun:
        _current.results = results
    elif results.get("interrupted"):  # Ctrl-C or SIGTERM stops the whole sweep
        sys.exit(interrupted_exit_code(results))
    metric = results.get(cfg.optimized_metric)
    return float(metric) if metric is not None else None


def launch(argv: list[str], in_process: bool = False) -> dict[str, Any] | None:
    """Run a command line as ``python -m seqlab`` does: check it, compose it with Hydra, run the job(s). Returns
    the results of a single run (None for a multirun or a flag such as ``--cfg``); raises the SeqlabError that ends
    a single run, after its folder was cleaned up. ``in_process``: an unexpected error propagates as itself
    instead of Hydra's report and exit code 1."""
    global _current
    from hydra._internal.utils import _run_hydra, get_args_parser

    preflight(argv)
    if not any(a.split("=")[0] in HANDS_OFF for a in argv):
        argv, resuming = prepare(argv)  # resume_sweep=: checked, and pointed at its folder
        check_output_dirs(split_argv(argv)[0], resuming=resuming)
    parser = get_args_parser()
    args = parser.parse_args(argv)
    _current = _Launch(show_traceback=os.environ.get("HYDRA_FULL_ERROR") == "1")
    saved = os.environ.get("HYDRA_FULL_ERROR")
    if in_process:
        os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing and exiting
    try:
        if args.experimental_rerun is not None:  # as hydra.main does
            from hydra._internal.utils import _get_rerun_conf
            from hydra.core.utils import _flush_loggers

            hydra_job(_get_rerun_conf(args.experimental_rerun, args.overrides))
            _flush_loggers()
        else:
            _run_hydra(args, parser, hydra_job, config_path=CONFIG_PATH, config_name=CONFIG_NAME)
    except _JobFailed as failed:
        raise failed.error from None
    finally:
        if saved is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved
    return _current.results


def main() -> None:
    """Console entry point: exit 2 with one line for a SeqlabError, 130 after Ctrl-C, 1 when jobs of a sweep
    failed."""
    try:
        # SIGTERM outside a Trainer: unwind (a sweep writes its summary), exit 143; SIGUSR2 (a scheduler's notice)
        # is handled as SIGTERM (seqlab/training/preemption.py)
        with sigterm_raises(), PreemptionWatch():
            results = launch(sys.argv[1:])
    except SeqlabError as exc:
        print(f"seqlab: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except Terminated:
        print(f"seqlab: stopped by {stop_signal_name()}", file=sys.stderr)
        sys.exit(interrupted_exit_code({"interrupted_by": stop_signal_name()}))
    if results and results.get("interrupted"):
        if results.get("interrupted_by") not in (None, "SIGINT", "SIGTERM"):  # a scheduler's notice: say so once
            print(
                f"seqlab: stopped by {results['interrupted_by']} at step {results.get('optimizer_steps')}; "
                f"resume={results.get('run_dir')}",
                file=sys.stderr,
            )
        sys.exit(interrupted_exit_code(results))
    from seqlab.sweep.summary import sweep_failures

    failed = sweep_failures()
    if failed:  # after the summary: a sweep with failed jobs is not a success for scripts and CI
        print(f"seqlab: {failed} job(s) of the sweep failed (see sweep_summary.md)", file=sys.stderr)
        sys.exit(1)
