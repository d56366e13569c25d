"""Pruning of an Optuna trial from inside its job (``hparams_search=optuna hydra.sweeper.pruner=median|hyperband``).

seqlab's Optuna sweeper (hydra_plugins/seqlab_sweeper) launches each trial as one job and sets :data:`ENV_TRIAL` to
the trial's number. :func:`trial_callbacks` then adds :class:`TrialPruning`, which at the end of every validation
reports the monitored metric (``checkpoint.monitor``) to the trial at the optimizer step (``trial.report``), asks the
pruner (``trial.should_prune``) and, when pruned, stops training cleanly: the run skips its test, results.json
records ``"stopped_by": "pruned"`` with the step, and the sweeper tells the study the trial was PRUNED.

Only global rank 0 talks to the study; its decision is broadcast so that every DDP rank stops at the same step.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from seqlab.config.choices import PRUNERS
from seqlab.errors import ConfigError

ENV_TRIAL = "SEQLAB_OPTUNA_TRIAL"  # the job's trial number (set by the sweeper through hydra.job.env_set)
ENV_PRUNING = "SEQLAB_OPTUNA_PRUNING"  # the trial's study and pruner, for the job's DDP ranks
PRUNED_BY = "pruned"


def make_pruner(name: str | None, args: Mapping[str, Any] | None = None) -> Any:
    """The Optuna pruner ``hydra.sweeper.pruner`` names, with the ``pruner_args`` its class takes."""
    name = str(name or "none").lower()
    if name not in PRUNERS:
        raise ConfigError("hydra.sweeper.pruner", f"unknown pruner '{name}'", allowed=PRUNERS)
    import optuna

    cls = {
        "none": optuna.pruners.NopPruner,
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
    }[name]
    args = OmegaConf.to_container(args, resolve=True) if OmegaConf.is_config(args) else dict(args or {})
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in args.items() if k in accepted and v is not None})


class TrialPruning(pl.Callback):
    """Report ``monitor`` to Optuna trial ``number`` after every validation; stop the run when it is pruned."""

    def __init__(self, storage: str, study_name: str, number: int, pruner: Any, monitor: str) -> None:
        self.storage = storage
        self.study_name = study_name
        self.number = number
        self.pruner = pruner
        self.monitor = monitor
        self.trial: Any = None
        self.stop_record: dict[str, Any] | None = None  # set when pruned (results.json: "stopped_by")

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or not trainer.is_global_zero or self.trial is not None:
            return
        import optuna

        study = optuna.load_study(study_name=self.study_name, storage=self.storage, pruner=self.pruner)
        storage = study._storage  # the study's own storage object (in-memory studies included)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, self.number)
        self.trial = optuna.trial.Trial(study, trial_id)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.stop_record is not None or trainer.state.fn != "fit":
            return
        value = trainer.callback_metrics.get(self.monitor)
        step = int(trainer.global_step)
        prune = False
        if trainer.is_global_zero and self.trial is not None and value is not None and math.isfinite(float(value)):
            self.trial.report(float(value), step)
            prune = bool(self.trial.should_prune())
        prune = bool(trainer.strategy.broadcast(prune))
        if prune:
            self.stop_record = {
                "stopped_by": PRUNED_BY,
                "stopped_at": {
                    "step": step,
                    "epoch": int(trainer.current_epoch),
                    self.monitor: float(value) if value is not None else None,
                    "trial": self.number,
                },
            }
            print(f"seqlab: trial {self.number} pruned at step {step} ({self.monitor} {float(value):.4g})", flush=True)
            trainer.should_stop = True


def trial_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    """:class:`TrialPruning` when this job is a trial of seqlab's Optuna sweeper with a pruner, else nothing.

    The job reads the study and the pruner from its Hydra config (``hydra.sweeper``) and leaves them in
    :data:`ENV_PRUNING` for its DDP ranks, which start as single runs and find the same trial there."""
    number = os.environ.get(ENV_TRIAL)
    if not number:
        return []
    spec = _spec_from_env(number) or _spec_from_hydra(number)
    if spec is None:
        return []
    os.environ[ENV_PRUNING] = json.dumps(spec)
    pruner = make_pruner(spec["pruner"], spec["pruner_args"])
    return [TrialPruning(spec["storage"], spec["study"], int(number), pruner, str(cfg.checkpoint.monitor))]


def _spec_from_env(number: str) -> dict[str, Any] | None:
    try:
        spec = json.loads(os.environ.get(ENV_PRUNING, ""))
    except ValueError:
        return None
    return spec if isinstance(spec, dict) and str(spec.get("trial")) == number else None  # not a former job's


def _spec_from_hydra(number: str) -> dict[str, Any] | None:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    sweeper = HydraConfig.get().sweeper
    name = str(OmegaConf.select(sweeper, "pruner", default="none") or "none")
    storage = OmegaConf.select(sweeper, "storage", default=None)
    if name == "none" or not storage:
        return None
    args = OmegaConf.select(sweeper, "pruner_args", default=None)
    return {
        "trial": int(number),
        "storage": str(storage),
        "study": str(sweeper.study_name),
        "pruner": name,
        "pruner_args": OmegaConf.to_container(args, resolve=True) if args is not None else {},
    }
