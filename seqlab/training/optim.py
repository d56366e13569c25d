"""Optimizer and learning-rate schedule from the ``optimizer`` config group.

The group is a Hydra ``_target_``/``_partial_`` node for any ``torch.optim`` class plus seqlab's own keys
(clipping and schedule), which are removed before the optimizer is instantiated. An optimizer that keeps averaged
weights (``torch.optim.ASGD``, seqlab's ``NTASGD``: ``optimizer=asgd|ntasgd``) brings a callback that evaluates and
checkpoints the averages (:mod:`seqlab.training.ntasgd`, :func:`optimizer_callbacks`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from seqlab.config.choices import SCHEDULES
from seqlab.config.optimizer_settings import SEQLAB_KEYS, OptimizerSettings, optimizer_settings
from seqlab.errors import ConfigError
from seqlab.training.ntasgd import NTASGD, AveragedEvaluation


@dataclass
class ClipConfig:
    """Gradient clipping: by global norm, by value, both or neither (``None``)."""

    norm: float | None = None
    value: float | None = None


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: DictConfig) -> torch.optim.Optimizer:
    """Instantiate the optimizer node without seqlab's keys."""
    node = OmegaConf.to_container(cfg, resolve=True)
    for key in SEQLAB_KEYS:
        node.pop(key, None)
    try:
        factory = instantiate(node)
        return factory(params)
    except Exception as exc:
        raise ConfigError("optimizer", f"cannot build {node.get('_target_')}: {exc}") from exc


def optimizer_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    """The callbacks the optimizer needs: :class:`AveragedEvaluation` for an averaging one (ASGD, NT-ASGD)."""
    try:
        target = get_class(str(cfg.get("_target_")))
    except Exception:  # a wrong _target_ is reported by build_optimizer, with the key
        return []
    averaging = isinstance(target, type) and issubclass(target, torch.optim.ASGD | NTASGD)
    return [AveragedEvaluation()] if averaging else []


def clip_config(cfg: OptimizerSettings | DictConfig) -> ClipConfig:
    settings = optimizer_settings(cfg)
    return ClipConfig(norm=settings.clip_grad_norm, value=settings.clip_grad_value)


def schedule_factor(cfg: OptimizerSettings | DictConfig, total_steps: int):
    """lr multiplier of optimizer step s: linear warm-up over ``warmup_steps``, then

    constant: 1; cosine: r + (1 - r)(1 + cos(pi p))/2; linear: 1 - (1 - r) p;
    step: gamma^(max(0, s - decay_start) // step_size),
    with p the fraction of the post-warm-up steps done and r = ``min_lr_ratio``."""
    settings = optimizer_settings(cfg)
    kind = settings.schedule
    if kind not in SCHEDULES:
        raise ConfigError("optimizer.schedule", f"unknown schedule '{kind}'", allowed=SCHEDULES)
    warm, ratio = settings.warmup_steps, settings.min_lr_ratio
    step_size, gamma, decay_start = settings.step_size, settings.gamma, settings.decay_start

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        p = min(1.0, (step - warm) / max(1, total_steps - warm))
        if kind == "cosine":
            return ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * p))
        if kind == "linear":
            return 1 - (1 - ratio) * p
        if kind == "step":
            return gamma ** (max(0, step - decay_start) // step_size)
        return 1.0  # constant (plateau is not a function of the step: build_scheduler)

    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimizerSettings | DictConfig, total_steps: int, mode: str = "min"
):
    """A LambdaLR stepped once per optimizer step (per TBPTT chunk); for ``schedule=plateau`` a ReduceLROnPlateau
    (``mode``: the checkpoint's), stepped after each validation by :class:`PlateauStep`; its floor is the
    optimizer's lr times ``min_lr_ratio``."""
    settings = optimizer_settings(cfg)
    if settings.schedule == "plateau":
        lr = float(optimizer.param_groups[0]["lr"])
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode=mode,
            factor=settings.gamma,
            patience=settings.plateau_patience,
            min_lr=lr * settings.min_lr_ratio,
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule_factor(cfg, total_steps))


def steps_per_optimizer_step(scheduler: object) -> bool:
    """Whether the schedule steps with the optimizer (every schedule but ``plateau``, which steps per validation)."""
    return scheduler is not None and not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


class PlateauStep(pl.Callback):
    """``schedule=plateau`` under manual optimization: after each validation during training, step the
    ReduceLROnPlateau on ``monitor`` (``checkpoint.monitor``)."""

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":  # validations during fit only
            return
        value = trainer.callback_metrics.get(self.monitor)
        scheduler = pl_module.lr_schedulers()
        if value is not None and isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(float(value))


def schedule_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    """:class:`PlateauStep` for ``optimizer.schedule=plateau``, else nothing."""
    if optimizer_settings(cfg.optimizer).schedule != "plateau":
        return []
    return [PlateauStep(str(cfg.checkpoint.monitor))]
