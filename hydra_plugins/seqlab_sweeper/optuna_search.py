"""One worker of an ``hparams_search=optuna`` sweep, on Optuna's ask/tell API (SeqlabOptunaSweeper runs it).

- A fresh sweep marks its folder as seqlab's, saves multirun.yaml (what ``resume_sweep=`` compares with), and opens
  the study (``hydra.sweeper.storage``: by default a SQLite file in the sweep folder; any database URL works).
- ``resume_sweep=<folder>`` opens the same study: it finishes the trials a kill left running (continuing them from
  their last checkpoint in their folders), leaves alone the trials other live workers run, and ``rerun_failed=true``
  enqueues the failed trials' parameters again.
- Then it asks for trials, ``n_jobs`` at a time, while the study holds fewer than ``n_trials`` that count
  (seqlab_sweeper/optuna_study.py), launches each as job number = trial number (its folder), and tells the study its
  result: the returned ``optimized_metric``, PRUNED when the job stopped because its trial was pruned (results.json
  ``"stopped_by": "pruned"``), FAIL when it failed.

Each job learns its trial number from :data:`ENV_TRIAL` (set through ``hydra.job.env_set``), and reports to its trial
at every validation (seqlab/training/trial_pruning.py).
"""

from __future__ import annotations

import json
import logging
import math
from itertools import groupby
from pathlib import Path
from typing import Any

from hydra.core.utils import JobStatus
from hydra.utils import instantiate
from omegaconf import OmegaConf

from hydra_plugins.seqlab_sweeper import optuna_study
from hydra_plugins.seqlab_sweeper.optuna_space import params_overrides, search_space, trial_overrides
from seqlab.results import RESULTS_FILE
from seqlab.sweep import resume as sweep_resume

# Hydra imports every module of hydra_plugins at start-up: Optuna and the training code (torch) load in the functions

log = logging.getLogger(__name__)
RESULTS_YAML = "optimization_results.yaml"


def env_override(number: int) -> str:
    """The job override that tells a job its trial number."""
    from seqlab.training.trial_pruning import ENV_TRIAL

    return f"++hydra.job.env_set.{ENV_TRIAL}={number}"


def run_search(sweeper: Any, arguments: list[str]) -> None:
    """Run this worker's share of the search; see the module's docstring."""
    from seqlab.training.trial_pruning import make_pruner

    config = sweeper.config
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the SQL storage's set-up chatter
    make_pruner(sweeper.pruner, sweeper.pruner_args)  # a wrong pruner stops here, before any trial
    args = [a for a in arguments if not sweep_resume.is_free(sweep_resume.override_key(a))]
    distributions, fixed = search_space(params_overrides(sweeper.params, args))
    folder = sweep_resume.resume_folder(config)
    sweep_dir = Path(str(config.hydra.sweep.dir))
    if folder is None:
        sweep_resume.mark_sweep(sweep_dir, "optuna")
        OmegaConf.save(config, sweep_dir / "multirun.yaml")
    study = optuna_study.load(sweeper.study_name, sweeper.storage, None, str(sweeper.direction))
    # the sampler's config (Hydra hands the sweeper an instance): a resumed study reseeds it
    node = OmegaConf.select(config, "hydra.sweeper.sampler", default=None)
    study.sampler = build_sampler(node, offset=len(study.trials) if folder is not None else 0)
    rerun_failed = bool(OmegaConf.select(config, "rerun_failed", default=False))
    metric = str(OmegaConf.select(config, "optimized_metric", default="val/loss"))
    with optuna_study.Heartbeat(study, float(sweeper.heartbeat_s)) as heart:
        if folder is not None:
            continue_study(sweeper, study, folder, heart, rerun_failed, metric)
        ask_and_run(sweeper, study, distributions, fixed, heart, rerun_failed)
    write_best(study, sweep_dir)


def build_sampler(node: Any, offset: int) -> Any:
    """The configured sampler; a seeded one continuing a study gets ``seed + offset`` (its first samples would
    otherwise repeat the first trials')."""
    import optuna

    if node is None:
        return optuna.samplers.TPESampler()
    spec = OmegaConf.to_container(node, resolve=True)
    spec.setdefault("_target_", "optuna.samplers.TPESampler")
    if spec.get("seed") is not None:
        spec["seed"] = int(spec["seed"]) + offset
    return instantiate(spec)


def ask_and_run(
    sweeper: Any, study: Any, distributions: dict[str, Any], fixed: dict[str, Any], heart: Any, rerun_failed: bool
) -> None:
    """Ask for trials while the study holds fewer than ``n_trials`` that count; run and tell them."""
    grace = float(sweeper.grace_s)
    while True:
        finished, running = optuna_study.counted(study, study.get_trials(deepcopy=False), rerun_failed, grace)
        todo = int(sweeper.n_trials) - finished - running
        if todo <= 0:
            return
        trials = []
        for _ in range(min(int(sweeper.n_jobs), todo)):
            trial = study.ask(fixed_distributions=distributions)
            heart.own([trial.number])  # at once: other workers see it as running here
            for key, value in fixed.items():
                trial.set_user_attr(key, value)
            trials.append(trial)
        jobs = [(t.number, [*trial_overrides(t.params, fixed), env_override(t.number)]) for t in trials]
        returns = launch(sweeper.launcher, jobs)
        failures = [tell(study, num, ret) for num, ret in zip([n for n, _ in jobs], returns)]
        heart.release(t.number for t in trials)
        failed = [ret for ret, bad in zip(returns, failures) if bad]
        if failed and len(failed) / len(returns) > float(sweeper.max_failure_rate):
            log.error(
                "%d of %d trials failed (max_failure_rate=%s)", len(failed), len(returns), sweeper.max_failure_rate
            )
            for ret in failed:
                _ = ret.return_value  # raises a crashed job's exception, as Hydra's sweepers do
            raise RuntimeError(f"{len(failed)} of {len(returns)} trials failed (max_failure_rate exceeded)")


def launch(launcher: Any, jobs: list[tuple[int, list[str]]]) -> list[Any]:
    """Launch each job as number = its trial's number (consecutive numbers together)."""
    returns: list[Any] = []
    for _, group in groupby(enumerate(jobs), key=lambda pair: pair[1][0] - pair[0]):
        batch = [job for _, job in group]
        returns += launcher.launch([overrides for _, overrides in batch], initial_job_idx=batch[0][0])
    return returns


def tell(study: Any, number: int, ret: Any) -> bool:
    """Tell the study how trial ``number`` ended; True when it failed."""
    from optuna.trial import TrialState

    value = ret.return_value if ret.status == JobStatus.COMPLETED else None
    try:
        if was_pruned(ret):
            study.tell(number, state=TrialState.PRUNED)
            return False
        if value is None or not math.isfinite(float(value)):
            study.tell(number, state=TrialState.FAIL)
            return True
        study.tell(number, float(value))
        return False
    except (RuntimeError, ValueError) as exc:  # finished meanwhile (another worker took it for killed)
        log.warning("trial %d: %s", number, exc)
        return value is None


def was_pruned(ret: Any) -> bool:
    """Whether the job stopped because its trial was pruned (its results.json says so)."""
    from seqlab.training.trial_pruning import PRUNED_BY

    output_dir = OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir") if ret.hydra_cfg is not None else None
    if output_dir is None:
        return False
    try:
        results = json.loads((Path(str(output_dir)) / RESULTS_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(results, dict) and results.get("stopped_by") == PRUNED_BY


def continue_study(sweeper: Any, study: Any, folder: Path, heart: Any, rerun_failed: bool, metric: str) -> None:
    """Finish the trials a kill left running, enqueue the failed ones again (``rerun_failed``), and say what is
    left to do."""
    from optuna.trial import TrialState

    grace = float(sweeper.grace_s)
    folders = {num: (path, overrides) for num, path, overrides in sweep_resume.job_folders(folder)}
    trials = study.get_trials(deepcopy=False)
    skipped = optuna_study.never_ran(study, trials)
    jobs, running = [], []
    for trial in trials:
        if trial.state == TrialState.WAITING:  # enqueued, not asked yet: asked first, below
            continue
        if trial.state == TrialState.RUNNING and optuna_study.is_alive(trial, grace):
            continue  # another worker runs it
        path, overrides = folders.get(trial.number, (None, []))
        state = sweep_resume.job_state(path)
        if trial.state == TrialState.RUNNING and path is None:  # asked, never launched: closed, not counted
            study._storage.set_trial_user_attr(trial._trial_id, optuna_study.NEVER_RAN, True)
            study.tell(trial.number, state=TrialState.FAIL)
            skipped.add(trial.number)
            continue
        if trial.state == TrialState.RUNNING:  # its job was killed: it continues now, in its folder
            running.append(trial.number)
            overrides = [*overrides, env_override(trial.number)]
        else:  # finished in the study: never run again in its folder (a failed one may be asked again, below)
            state = "failed" if trial.state == TrialState.FAIL else "done"
        jobs.append(sweep_resume.Job(trial.number, list(overrides), path, state))
    heart.own(running)
    note = "asked again as new trials" if rerun_failed else "not asked again; rerun_failed=true asks them again"
    returns = sweep_resume.run_jobs(
        sweeper.launcher, folder, jobs, metric, rerun_failed, raise_failed=False, notes={"failed": f"failed ({note})"}
    )
    for job, ret in zip(jobs, returns, strict=True):
        if job.num in running:
            tell(study, job.num, ret)
    heart.release(running)
    trials = study.get_trials(deepcopy=False)
    if rerun_failed:
        rerun = set(study.user_attrs.get(optuna_study.RERUN, [])) | skipped
        for trial in trials:
            if trial.state == TrialState.FAIL and trial.number not in rerun:
                study.enqueue_trial(dict(trial.params))
                rerun.add(trial.number)
        study.set_user_attr(optuna_study.RERUN, sorted(rerun))
    finished, live = optuna_study.counted(study, trials, rerun_failed, grace)
    target = int(sweeper.n_trials)
    more = max(0, target - finished - live)
    others = f", {live} running in other workers" if live else ""
    print(
        f"the study has {len(trials)} trials, {finished} of them toward n_trials={target}{others}; running {more} more",
        flush=True,
    )


def write_best(study: Any, sweep_dir: Path) -> None:
    """``optimization_results.yaml`` in the sweep folder: the best parameters and value so far."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        log.warning("no trial completed: no %s", RESULTS_YAML)
        return
    best = study.best_trial
    OmegaConf.save(
        OmegaConf.create({"name": "optuna", "best_params": dict(best.params), "best_value": best.value}),
        sweep_dir / RESULTS_YAML,
    )
