"""``python -m seqlab``: compose the config with Hydra, check it, run the job.

Errors a user can fix (unknown option or key, wrong type, missing file, impossible combination) end with one line
on stderr naming the key and the allowed values, exit code 2, and no run folder. ``debug=true`` or
``HYDRA_FULL_ERROR=1`` shows the traceback instead. In a multirun a failing job records ``failed.json`` in its folder
and the sweep goes on.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from seqlab.config.preflight import preflight
from seqlab.config.store import register_configs
from seqlab.errors import SeqlabError
from seqlab.results import FAILED_FILE, write_json

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
        results = run(cfg, run_dir)
    except SeqlabError as exc:
        if cfg.get("debug") or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if multirun:
            write_json(run_dir / FAILED_FILE, {"error": str(exc), "overrides": list(hc.overrides.task)})
            log.error("job %s failed: %s", hc.job.num, exc)
            return None
        print(f"seqlab: error: {exc}", file=sys.stderr)
        _remove_unfinished(run_dir)
        sys.exit(2)
    metric = results.get(cfg.optimized_metric)
    return float(metric) if metric is not None else None


def _remove_unfinished(run_dir: Path) -> None:
    """Delete a run folder that holds no checkpoint (nothing half-written is left behind)."""
    if run_dir.is_dir() and not any((run_dir / "checkpoints").glob("*.ckpt")):
        logging.shutdown()
        shutil.rmtree(run_dir, ignore_errors=True)
        parent = run_dir.parent
        while parent.name and parent != Path.cwd() and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def main() -> None:
    """Console entry point: check the command line first, then hand it to Hydra."""
    try:
        preflight(sys.argv[1:])
    except SeqlabError as exc:
        print(f"seqlab: error: {exc}", file=sys.stderr)
        sys.exit(2)
    hydra_main()
