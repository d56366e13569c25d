"""The Lightning Trainer of one run: trainer.* keys + hardware group + seqlab's callbacks and logger."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from seqlab.config.choices import parse_timeout
from seqlab.errors import ConfigError
from seqlab.training.atomic_checkpoint import AtomicCheckpointIO
from seqlab.training.ddp import strategy_with_timeout
from seqlab.training.early_notice import EarlyNotice
from seqlab.training.exact_resume import ExactResume
from seqlab.training.last_checkpoint import LastCheckpoint
from seqlab.training.loggers import build_logger
from seqlab.training.optim import optimizer_callbacks, schedule_callbacks
from seqlab.training.preemption import cluster_plugins
from seqlab.training.progress import progress_callbacks
from seqlab.training.quiet import quiet_lightning
from seqlab.training.threads import ThreadShare
from seqlab.training.throughput import ThroughputMeter


def build_trainer(
    cfg: DictConfig,
    run_dir: Path,
    extra_callbacks: list[pl.Callback] | None = None,
    resumed_from: str | None = None,
    overrides: dict | None = None,
) -> pl.Trainer:
    """A Trainer writing checkpoints to ``run_dir/checkpoints`` (best by ``checkpoint.monitor`` and last);
    ``overrides`` are Trainer arguments the task fixes (they win over ``cfg.trainer``)."""
    ck = cfg.checkpoint
    checkpoint = ModelCheckpoint(
        dirpath=str(run_dir / "checkpoints"),
        filename="best-{step}",
        monitor=ck.monitor,
        mode=ck.mode,
        save_last=False,  # last.ckpt is LastCheckpoint's: the latest state, not the latest top-k save
        save_top_k=ck.save_top_k,
        auto_insert_metric_name=False,
    )
    latest = [LastCheckpoint(run_dir / "checkpoints")] if ck.save_last else []  # after ExactResume: it counts first
    callbacks: list[pl.Callback] = [
        checkpoint,
        ThroughputMeter(),
        ExactResume(),
        # before last.ckpt: the checkpoint saved at a validation holds what these did at it (exact resume)
        *schedule_callbacks(cfg),  # schedule=plateau: steps on checkpoint.monitor after each validation
        *configured_callbacks(cfg, run_dir),  # early stopping's patience count, among others
        *latest,
        *optimizer_callbacks(cfg.optimizer),  # ASGD / NT-ASGD: evaluate and checkpoint the averaged weights
        *(extra_callbacks or []),
    ]
    kwargs = {**OmegaConf.to_container(cfg.trainer, resolve=True), **(overrides or {})}
    kwargs["strategy"] = strategy_with_timeout(kwargs.get("strategy", "auto"), _timeout(cfg))
    # the bar on a terminal, log lines elsewhere (seqlab/training/progress.py); cores shared among runs (threads.py)
    progress, kwargs["enable_progress_bar"] = progress_callbacks(cfg, kwargs.get("enable_progress_bar") is not False)
    callbacks += [ThreadShare(), EarlyNotice(), *progress]  # a preemption notice before training: acted on
    quiet_lightning()
    return pl.Trainer(
        **kwargs,
        logger=build_logger(cfg, run_dir, resumed_from) or False,
        callbacks=callbacks,
        default_root_dir=str(run_dir),
        # every checkpoint (last, best-*) is replaced atomically; under SLURM, submitit requeues, not Lightning
        plugins=[AtomicCheckpointIO(), *cluster_plugins()],
    )


def _timeout(cfg: DictConfig) -> float:
    return parse_timeout(OmegaConf.select(cfg, "hardware.timeout", default=None))


def configured_callbacks(cfg: DictConfig, run_dir: Path) -> list[pl.Callback]:
    """Callbacks of the ``callbacks`` group: each entry with a ``_target_`` is instantiated; a ``run_dir``
    argument, when the class takes one, is the run folder."""
    out = []
    for name, node in (cfg.get("callbacks") or {}).items():
        if node is None or "_target_" not in node:
            continue
        try:
            target = get_class(node._target_)
            extra = {"run_dir": str(run_dir)} if "run_dir" in inspect.signature(target).parameters else {}
            out.append(instantiate(node, **extra))
        except Exception as exc:
            raise ConfigError(f"callbacks.{name}", f"cannot build {node._target_}: {exc}") from exc
    return out


def find_callback(trainer: pl.Trainer, kind: type) -> object | None:
    return next((cb for cb in trainer.callbacks if isinstance(cb, kind)), None)
