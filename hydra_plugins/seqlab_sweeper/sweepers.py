"""seqlab's sweepers (conf/config.yaml and conf/hparams_search/optuna.yaml name them in ``hydra.sweeper._target_``).

A fresh grid runs exactly as Hydra's grid sweeper would; both sweepers mark their folder as seqlab's.
With ``resume_sweep=`` (checked before Hydra started: seqlab/sweep/check.py) it continues the sweep in that folder:

- a grid replays the jobs of the folder's multirun.yaml under their original numbers, skipping the finished ones,
  continuing the interrupted ones from their last checkpoint, rerunning the failed ones with ``rerun_failed=true``
  (seqlab/sweep/resume.py);
- an Optuna search loads its study from its storage (a SQLite file in the sweep folder, or any database URL),
  finishes the trials a kill left running (continuing them from their last checkpoint), and runs trials until the
  study has ``n_trials``, the new ones numbered after the existing ones; a worker started while another runs the
  search joins it (seqlab_sweeper/optuna_search.py). ``rerun_failed=true`` asks the failed trials' parameters again,
  as new trials.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from seqlab.sweep import resume as sweep_resume

log = logging.getLogger(__name__)


class SeqlabSweeper(BasicSweeper):
    """Hydra's grid sweeper that can continue a sweep in its own folder."""

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        folder = sweep_resume.resume_folder(self.config)
        if folder is None:
            sweep_resume.mark_sweep(Path(str(self.config.hydra.sweep.dir)), "grid")
            return super().sweep(arguments)
        rerun_failed = bool(OmegaConf.select(self.config, "rerun_failed", default=False))
        jobs = sweep_resume.plan_grid(folder, rerun_failed)
        metric = str(OmegaConf.select(self.config, "optimized_metric", default="val/loss"))
        return [sweep_resume.run_jobs(self.launcher, folder, jobs, metric, rerun_failed)]


class SeqlabOptunaSweeper(Sweeper):
    """seqlab's Optuna sweeper (``hparams_search=optuna``), on Optuna's ask/tell API (Optuna >= 4): a study in the
    sweep folder or any database, shared by the workers that join it with ``resume_sweep=``, pruning at every
    validation. The search itself: seqlab_sweeper/optuna_search.py; the keys: conf/hydra/sweeper/optuna.yaml."""

    def __init__(
        self,
        sampler: Any = None,
        direction: str = "minimize",
        storage: str | None = None,
        study_name: str | None = None,
        n_trials: int = 20,
        n_jobs: int = 1,
        max_failure_rate: float = 0.0,
        params: Any = None,
        pruner: str = "none",
        pruner_args: Any = None,
        heartbeat_s: float = 30.0,
        grace_s: float = 120.0,
    ) -> None:
        self.sampler = sampler
        self.direction = direction
        self.storage = storage
        self.study_name = study_name
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.max_failure_rate = max_failure_rate
        self.params = params
        self.pruner = pruner
        self.pruner_args = pruner_args
        self.heartbeat_s = heartbeat_s
        self.grace_s = grace_s
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> None:
        from hydra_plugins.seqlab_sweeper.optuna_search import run_search

        assert self.config is not None and self.launcher is not None
        run_search(self, arguments)
