"""``python -m seqlab``: compose the config with Hydra, check it, run the job.

Errors a user can fix (unknown option or key, wrong type, missing file, impossible combination) end with one line
on stderr naming the key and the allowed values, exit code 2, and no run folder. ``debug=true`` or
``HYDRA_FULL_ERROR=1`` shows the traceback instead. In a multirun a failing job records ``failed.json`` in its folder
and the sweep goes on.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from seqlab.config.preflight import HANDS_OFF, preflight, split_argv
from seqlab.config.store import register_configs
from seqlab.errors import SeqlabError, TrainingFailed
from seqlab.results import FAILED_FILE, write_json
from seqlab.run_folder import _launched_rank, check_output_dirs, remove_unfinished
from seqlab.sweep_resume import prepare, resumed_checkpoint
from seqlab.training.signals import SIGTERM_EXIT, Terminated, interrupted_exit_code, sigterm_raises

log = logging.getLogger("seqlab")
register_configs()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    """Hydra's task function: one job. Returns ``cfg.optimized_metric`` for sweepers."""
    from seqlab.run import run

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        with resumed_checkpoint(hc, run_dir, multirun) as checkpoint:  # a resumed sweep's interrupted job
            results = run(cfg, run_dir, resume_from=checkpoint)
    except SeqlabError as exc:
        if cfg.get("debug") or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        record = exc.record() if isinstance(exc, TrainingFailed) else {"error": str(exc)}
        record["overrides"] = list(hc.overrides.task)
        if _launched_rank():  # a DDP rank other than 0: rank 0 reports (seqlab/training/rank_failure.py)
            sys.exit(2)
        if multirun:
            write_json(run_dir / FAILED_FILE, record)
            log.error("job %s failed: %s", hc.job.num, exc)
            return None
        print(f"seqlab: error: {exc}", file=sys.stderr)
        if isinstance(exc, TrainingFailed):  # it trained: keep the folder, with the reason beside the checkpoints
            write_json(run_dir / FAILED_FILE, record)
        else:  # nothing of value yet: take back what this run created (never a folder that was there before)
            remove_unfinished(run_dir)
        sys.exit(2)
    if results.get("interrupted"):
        sys.exit(interrupted_exit_code(results))
    metric = results.get(cfg.optimized_metric)
    return float(metric) if metric is not None else None


def main() -> None:
    """Console entry point: check the command line first, then hand it to Hydra."""
    try:
        preflight(sys.argv[1:])
        if not any(a.split("=")[0] in HANDS_OFF for a in sys.argv[1:]):
            argv, resuming = prepare(sys.argv[1:])  # resume_sweep=: checked, and pointed at its folder
            check_output_dirs(split_argv(argv)[0], resuming=resuming)
            sys.argv[1:] = argv
    except SeqlabError as exc:
        print(f"seqlab: error: {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        with sigterm_raises():  # SIGTERM outside a Trainer: unwind (a sweep writes its summary), exit 143
            hydra_main()
    except Terminated:
        print("seqlab: stopped by SIGTERM", file=sys.stderr)
        sys.exit(SIGTERM_EXIT)
    from seqlab.sweep_summary import sweep_failures

    failed = sweep_failures()
    if failed:  # after the summary: a sweep with failed jobs is not a success for scripts and CI
        print(f"seqlab: {failed} job(s) of the sweep failed (see sweep_summary.md)", file=sys.stderr)
        sys.exit(1)
