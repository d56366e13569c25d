"""Check a composed run config before anything heavy starts: names, types, ranges, impossible combinations."""

from __future__ import annotations

import dataclasses

from omegaconf import DictConfig, OmegaConf

from seqlab import registry
from seqlab.config.choices import SCHEDULES, parse_threads, parse_timeout
from seqlab.config.dry_build import dry_build
from seqlab.config.job import JobConfig, build_job, logger_kinds
from seqlab.config.optimizer_settings import OptimizerSettings
from seqlab.config.trainer_args import trainer_defaults
from seqlab.config.trainer_values import check_run_values
from seqlab.errors import ConfigError
from seqlab.old_paths import keep_old_paths

TENSORBOARD_MISSING = "tensorboard needs the tensorboard package: pip install 'seqlab[tensorboard]'"
LOGGERS = ("csv", "tensorboard", "wandb", "none")


# the last config validated in this process (its YAML) and its JobConfig: pre-flight validates a single run's config
# and the run takes the result (validated_job), so each job is validated once
_last_validated: tuple[str, JobConfig] | None = None


def validated_job(cfg: DictConfig) -> JobConfig:
    """The JobConfig of ``cfg``: the one pre-flight built for this same config (taken, so a later job validates
    afresh), else what :func:`validate` builds now (a job of a multirun, a run started from Python)."""
    global _last_validated
    taken, _last_validated = _last_validated, None
    if taken is not None and taken[0] == OmegaConf.to_yaml(cfg):
        return dataclasses.replace(taken[1], raw=cfg)  # the run's own DictConfig: Hydra's resolvers work on it
    return validate(cfg)


def validate(cfg: DictConfig) -> JobConfig:
    """The job's typed config; ConfigError (one line: key, problem, allowed values) for the first problem found.

    Nothing is built at full size: the model is built on the meta device (``dry_build``), as are the components a
    task's check builds at the config's sizes (translate's encoder and decoder)."""
    for group in ("model", "task"):
        if "name" not in cfg[group]:
            raise ConfigError(f"{group}.name", "missing", allowed=registry.names(group))
    job = build_job(cfg)
    dry_build(lambda: job.model_cls(8, job.model))  # models check their own values in __init__
    job.task_cls.check(job)  # on the CPU: a check may read data; what it builds at the config's sizes, it dry-builds
    _check_trainer(cfg)
    check_run_values(cfg, job.optimizer)
    _check_optimizer(cfg, job.optimizer)
    _check_threads_and_progress(cfg)
    _check_loggers(cfg)
    global _last_validated
    _last_validated = (OmegaConf.to_yaml(cfg), job)
    return job


def _check_loggers(cfg: DictConfig) -> None:
    import importlib.util

    for kind in logger_kinds(cfg.get("logger")):
        if kind not in LOGGERS:
            raise ConfigError("logger", f"unknown logger '{kind}'", allowed=LOGGERS)
        if kind == "tensorboard" and not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
            raise ConfigError("logger", TENSORBOARD_MISSING)


def _check_trainer(cfg: DictConfig) -> None:
    allowed = trainer_defaults()
    for key in cfg.trainer:
        if key not in allowed:
            raise ConfigError(f"trainer.{key}", "not a Trainer argument seqlab passes on", allowed=sorted(allowed))
    # seqlab optimizes manually (TBPTT), where Lightning refuses these two
    if cfg.trainer.get("gradient_clip_val") is not None:
        raise ConfigError(
            "trainer.gradient_clip_val",
            "not used by seqlab: set optimizer.clip_grad_norm or optimizer.clip_grad_value instead",
            allowed=["null"],
        )
    if (cfg.trainer.get("accumulate_grad_batches") or 1) != 1:
        raise ConfigError(
            "trainer.accumulate_grad_batches", "not supported under TBPTT's manual optimization", allowed=[1]
        )


def _check_optimizer(cfg: DictConfig, settings: OptimizerSettings) -> None:
    opt = cfg.optimizer
    if "_target_" not in opt:
        raise ConfigError("optimizer._target_", "missing (e.g. torch.optim.Adam)")
    if settings.schedule not in SCHEDULES:
        raise ConfigError("optimizer.schedule", f"unknown schedule '{settings.schedule}'", allowed=SCHEDULES)
    if not isinstance(opt.get("lr"), int | float) or opt.lr <= 0:
        raise ConfigError("optimizer.lr", f"must be a positive number, got {opt.get('lr')!r}")
    for key in ("clip_grad_norm", "clip_grad_value"):
        value = getattr(settings, key)
        if value is not None and (not isinstance(value, int | float) or value <= 0):
            raise ConfigError(f"optimizer.{key}", f"must be a positive number or null, got {value!r}")


def _check_threads_and_progress(cfg: DictConfig) -> None:
    """``hardware.threads``: auto, torch or a positive int; ``hardware.timeout``: seconds > 0; ``progress.*``:
    numbers >= 0."""

    parse_threads((cfg.get("hardware") or {}).get("threads", "auto"))
    parse_timeout((cfg.get("hardware") or {}).get("timeout"))
    for key in ("every_n_steps", "every_seconds"):
        value = (cfg.get("progress") or {}).get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise ConfigError(f"progress.{key}", f"must be a number >= 0 (0: off), got {value!r}")


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("validate",), new_home="seqlab.testing")
