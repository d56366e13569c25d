"""One run: validate -> build task and model -> Trainer -> fit, test -> results.json in the run folder."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

from seqlab import registry
from seqlab.config.validate import validate
from seqlab.results import RESULTS_FILE, write_json
from seqlab.resume import resolve_resume
from seqlab.training.ddp import launch_environment_restored, launch_ranks_as_this_job
from seqlab.training.loggers import WANDB_ID_FILE
from seqlab.training.throughput import ThroughputMeter
from seqlab.training.trainer import build_trainer, find_callback

log = logging.getLogger(__name__)


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train, validate and test the configured task; return (and write) the results."""
    validate(cfg)
    ckpt_path = resolve_resume(cfg.get("resume"), run_dir)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    task_cls = registry.get_task(cfg.task.name)
    module, data = task_cls.build(cfg)
    launch_ranks_as_this_job()
    with launch_environment_restored():
        own_sampler = {"use_distributed_sampler": False} if getattr(data, "shards_itself", False) else None
        trainer = build_trainer(cfg, run_dir, resumed_from=ckpt_path, overrides=own_sampler)
        _remember_wandb_run(trainer, run_dir)
        try:
            return _fit_and_test(cfg, run_dir, trainer, module, data, ckpt_path)
        finally:
            _finish(trainer)


def _fit_and_test(cfg: DictConfig, run_dir: Path, trainer: pl.Trainer, module: pl.LightningModule,
                  data: pl.LightningDataModule, ckpt_path: str | None) -> dict[str, Any]:
    started = time.time()
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    fit_seconds = time.time() - started
    metrics = _metrics(trainer, "val/", "train/")
    if not any(k.startswith("val/") for k in metrics) and trainer.limit_val_batches != 0 and not trainer.interrupted:
        # max_steps came before the first validation (it counts optimizer steps, one per TBPTT chunk, while
        # val_check_interval counts batches): validate the final weights once, so every run reports val/*
        log.info("no validation ran during training; validating the final weights")
        trainer.validate(module, datamodule=data, verbose=False)
        metrics.update(_metrics(trainer, "val/"))
    checkpoint = trainer.checkpoint_callback
    # read before testing: trainer.test(ckpt_path=best) restores the callback's state from the best checkpoint
    best = checkpoint.best_model_path if checkpoint else ""
    best_score = checkpoint.best_model_score if checkpoint else None
    last = checkpoint.last_model_path if checkpoint else ""
    if cfg.get("test", True) and trainer.limit_test_batches != 0:
        trainer.test(module, datamodule=data, ckpt_path=best or None, verbose=False)
        metrics.update(_metrics(trainer, "test/"))
    meter = find_callback(trainer, ThroughputMeter)
    results: dict[str, Any] = {
        **metrics,
        "task": cfg.task.name,
        "model": cfg.model.name,
        "trainable_parameters": sum(p.numel() for p in module.parameters() if p.requires_grad),
        "model_parameters": module.encoder.num_parameters() if hasattr(module, "encoder") else None,
        "tokens_seen": sum(_gather(meter.tokens(module))),
        "tokens_per_second": sum(_gather(meter.tokens_per_second(module))),
        "optimizer_steps": trainer.global_step,
        "epochs": trainer.current_epoch,
        "fit_seconds": fit_seconds,
        "wall_seconds": time.time() - started,
        "world_size": trainer.world_size,
        "train_shards": _gather(getattr(data, "shard", None)),
        "best_checkpoint": best or None,
        "best_score": best_score,
        "last_checkpoint": last or None,
        "resumed_from": ckpt_path,
        "run_dir": str(run_dir),
    }
    if trainer.is_global_zero:
        write_json(run_dir / RESULTS_FILE, results)
        log.info("results: %s", run_dir / RESULTS_FILE)
    return results


def _remember_wandb_run(trainer: pl.Trainer, run_dir: Path) -> None:
    """Write the W&B run id into the run folder, so ``resume=<this folder>`` continues the same W&B run."""
    for logger in trainer.loggers:
        if type(logger).__name__ == "WandbLogger" and trainer.is_global_zero:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / WANDB_ID_FILE).write_text(str(logger.experiment.id))


def _finish(trainer: pl.Trainer) -> None:
    """End what this run started, so the next job of a multirun starts clean: the W&B run, the process group."""
    import torch.distributed as dist

    for logger in trainer.loggers:
        if type(logger).__name__ == "WandbLogger":
            import wandb

            wandb.finish()
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _gather(value: Any) -> list[Any]:
    """``value`` from every rank (rank order); ``[value]`` outside DDP."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def _metrics(trainer: pl.Trainer, *prefixes: str) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(prefixes)}
