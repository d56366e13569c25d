"""seqlab's sweepers (conf/config.yaml and conf/hparams_search/optuna.yaml name them in ``hydra.sweeper._target_``).

A fresh sweep runs exactly as Hydra's grid sweeper or the Optuna sweeper would, and marks its folder as seqlab's.
With ``resume_sweep=`` (checked before Hydra started: seqlab/sweep_check.py) it continues the sweep in that folder:

- a grid replays the jobs of the folder's multirun.yaml under their original numbers, skipping the finished ones,
  continuing the interrupted ones from their last checkpoint, rerunning the failed ones with ``rerun_failed=true``
  (seqlab/sweep_resume.py);
- an Optuna search loads its study from its storage (a SQLite file in the sweep folder), finishes the trials a kill
  left running (continuing them from their last checkpoint), and runs trials until the study has ``n_trials``, the
  new ones numbered after the existing ones. ``rerun_failed=true`` asks the failed trials' parameters again, as new
  trials.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from omegaconf import OmegaConf

from seqlab import sweep_resume

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


try:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
except ImportError:  # the [optuna] extra is not installed: hparams_search=optuna says so (seqlab/config/preflight.py)
    OptunaSweeper = None

if OptunaSweeper is not None:

    class SeqlabOptunaSweeper(OptunaSweeper):
        """The Optuna sweeper that keeps its study in the sweep folder and can continue it there."""

        def sweep(self, arguments: list[str]) -> None:
            impl = self.sweeper
            logging.getLogger("alembic").setLevel(logging.WARNING)  # the SQLite storage's set-up chatter
            args = [a for a in arguments if not sweep_resume.is_free(sweep_resume.override_key(a))]
            folder = sweep_resume.resume_folder(impl.config)
            if folder is None:
                sweep_dir = Path(str(impl.config.hydra.sweep.dir))
                sweep_resume.mark_sweep(sweep_dir, "optuna")
                OmegaConf.save(impl.config, sweep_dir / "multirun.yaml")  # what resume_sweep= compares with
                return impl.sweep(args)
            _continue_study(impl, folder)
            return impl.sweep(args)


def _continue_study(impl: Any, folder: Path) -> None:
    """Finish the trials a kill left running, then set the sweeper up to run the trials still missing."""
    import optuna
    from optuna.trial import TrialState

    config = impl.config
    rerun_failed = bool(OmegaConf.select(config, "rerun_failed", default=False))
    metric = str(OmegaConf.select(config, "optimized_metric", default="val/loss"))
    study = optuna.load_study(study_name=impl.study_name, storage=impl.storage)
    folders = {num: (path, overrides) for num, path, overrides in sweep_resume.job_folders(folder)}
    jobs, running = [], []
    never_ran = set(study.user_attrs.get("seqlab_never_ran", []))  # trials asked and never launched
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.WAITING:  # enqueued, not asked yet: the sweeper asks it first, below
            continue
        path, overrides = folders.get(trial.number, (None, []))
        state = sweep_resume.job_state(path)
        if trial.state == TrialState.RUNNING and path is None:  # asked, never launched: closed, not counted
            study.tell(trial.number, state=TrialState.FAIL)
            never_ran.add(trial.number)
            continue
        if trial.state == TrialState.RUNNING:  # its job was killed: it runs now, in its folder
            running.append(trial.number)
        else:  # finished in the study: never run again in its folder (a failed one may be asked again, below)
            state = "failed" if trial.state == TrialState.FAIL else "done"
        jobs.append(sweep_resume.Job(trial.number, list(overrides), path, state))
    note = "asked again as new trials" if rerun_failed else "not asked again; rerun_failed=true asks them again"
    study.set_user_attr("seqlab_never_ran", sorted(never_ran))
    returns = sweep_resume.run_jobs(
        impl.launcher, folder, jobs, metric, rerun_failed, raise_failed=False, notes={"failed": f"failed ({note})"}
    )
    for job, ret in zip(jobs, returns, strict=True):
        if job.num in running:
            value = ret.return_value if ret.status.name == "COMPLETED" else None
            if value is None:
                study.tell(job.num, state=TrialState.FAIL)
            else:
                study.tell(job.num, float(value))
    trials = study.get_trials(deepcopy=False)
    rerun = set(study.user_attrs.get("seqlab_rerun", [])) | never_ran
    if rerun_failed:
        for trial in trials:
            if trial.state == TrialState.FAIL and trial.number not in rerun:
                study.enqueue_trial(dict(trial.params))
                rerun.add(trial.number)
        study.set_user_attr("seqlab_rerun", sorted(rerun))
    counted = sum(
        t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (t.state == TrialState.FAIL and not rerun_failed and t.number not in never_ran)
        for t in trials
    )
    target = int(impl.n_trials)
    impl.n_trials = max(0, target - counted)
    # the next trials get the next numbers, in the study and as folders (enqueued ones are the last numbers)
    waiting = [t.number for t in study.get_trials(deepcopy=False) if t.state == TrialState.WAITING]
    impl.job_idx = min(waiting) if waiting else len(trials)
    print(
        f"the study has {len(trials)} trials, {counted} of them toward n_trials={target}; running {impl.n_trials} more",
        flush=True,
    )
    _reseed(impl.sampler, OmegaConf.select(config, "hydra.sweeper.sampler.seed", default=None), len(trials))


def _reseed(sampler: Any, seed: Any, offset: int) -> None:
    """A seeded sampler continues with a seed of its own (else its first samples would repeat the first trials')."""
    if seed is None:
        return
    import numpy as np

    for part in (sampler, getattr(sampler, "_random_sampler", None)):
        if part is not None and hasattr(part, "_rng"):
            part._rng = np.random.RandomState(int(seed) + offset)
