"""One run: validate -> build task and model -> Trainer -> fit, test -> results.json in the run folder."""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from pytorch_lightning.utilities.exceptions import SIGTERMException

from seqlab.checkpoint import check_compatible, read_checkpoint
from seqlab.config.lightning_errors import trainer_arguments_checked
from seqlab.config.validate import validated_job
from seqlab.errors import RunInterrupted, TrainingFailed
from seqlab.results import RESULTS_FILE, write_json
from seqlab.run.resume import resolve_resume
from seqlab.run.summary import print_summary
from seqlab.training.atomic_checkpoint import remove_stale_partials
from seqlab.training.ddp import (
    gather_objects,
    launch_environment_restored,
    launch_ranks_as_this_job,
    train_shard,
    trainer_overrides_for,
)
from seqlab.training.early_stopping import stop_reason
from seqlab.training.eval_budget import EvalTimer, announce_test, eval_limits
from seqlab.training.last_checkpoint import EvaluationSkipped, LastCheckpoint, ctrl_c_skips
from seqlab.training.loggers import WANDB_ID_FILE
from seqlab.training.rank_failure import rank_errors_shared
from seqlab.training.signals import SIGINT_NAME, stop_signal_name
from seqlab.training.stop_notice import StopNotice
from seqlab.training.tbptt import TBPTTModule
from seqlab.training.threads import apply_threads
from seqlab.training.throughput import ThroughputMeter
from seqlab.training.trainer import build_trainer, find_callback
from seqlab.training.trial_pruning import PRUNED_BY, trial_callbacks

log = logging.getLogger(__name__)


def run(cfg: DictConfig, run_dir: Path, resume_from: str | None = None) -> dict[str, Any]:
    """Train, validate and test the configured task; return (and write) the results. ``resume_from``: the
    checkpoint an interrupted job of a resumed sweep continues from (else ``resume=`` decides)."""
    job = validated_job(cfg)  # pre-flight's result for a single run: validated once per job
    apply_threads(cfg)  # hardware.threads: torch's threads shared among the runs on these cores
    ckpt_path = resume_from or resolve_resume(cfg.get("resume"), run_dir, cfg=cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module, data = job.task_cls.build(job)
    if ckpt_path:
        check_compatible(module, read_checkpoint(ckpt_path, "resume"), "resume")
        remove_stale_partials(Path(ckpt_path).parent)  # the temp file of a save killed in that folder
    launch_ranks_as_this_job()
    with launch_environment_restored():
        own_sampler = trainer_overrides_for(data)
        with trainer_arguments_checked():
            trainer = build_trainer(
                cfg,
                run_dir,
                extra_callbacks=[
                    EvalTimer(),
                    StopNotice(),
                    *trial_callbacks(cfg),
                ],  # an Optuna trial reports to its study,
                resumed_from=ckpt_path,
                overrides={**eval_limits(cfg), **own_sampler},
            )
        wandb_on = "wandb" in job.logger_kinds  # the logger group's choice, not the logger objects' types
        if wandb_on:
            _remember_wandb_run(trainer, run_dir)
        with rank_errors_shared(run_dir, trainer):  # DDP: an error on one rank ends every rank (one line)
            try:
                results = _fit_and_test(cfg, run_dir, trainer, module, data, ckpt_path)
            except BaseException:
                _finish(trainer, ok=False, wandb_on=wandb_on)
                raise
            _finish(trainer, ok=True, wandb_on=wandb_on)
            return results


def _fit_and_test(
    cfg: DictConfig,
    run_dir: Path,
    trainer: pl.Trainer,
    module: pl.LightningModule,
    data: pl.LightningDataModule,
    ckpt_path: str | None,
) -> dict[str, Any]:
    started = time.time()
    latest = find_callback(trainer, LastCheckpoint)
    interrupted: RunInterrupted | None = None
    try:
        with trainer_arguments_checked():
            trainer.fit(module, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    except RunInterrupted as exc:
        interrupted = exc
    except SIGTERMException:  # DDP, or SIGTERM during validation: Lightning stopped fit (seqlab/training/signals.py)
        by = stop_signal_name()
        interrupted = latest.interruption(trainer) if latest else RunInterrupted("", trainer.global_step, by)
    except TrainingFailed as exc:
        if latest is not None and latest.path.is_file():
            exc.last_checkpoint = str(latest.path)
        raise
    fit_seconds = time.time() - started
    metrics = _metrics(trainer, "val/", "train/")
    if isinstance(module, TBPTTModule) and module.train_loss is not None:
        metrics["train/loss"] = module.train_loss  # the last batch's, also where the loggers skipped it
    if interrupted is not None:
        log.info("interrupted at step %d; resume with: resume=%s", interrupted.step, run_dir)
    elif not any(k.startswith("val/") for k in metrics) and trainer.limit_val_batches != 0:
        # max_steps came before the first validation (it counts optimizer steps, one per TBPTT chunk, while
        # val_check_interval counts batches): validate the final weights once, so every run reports val/*
        log.info("no validation ran during training; validating the final weights")
        trainer.validate(module, datamodule=data, verbose=False)
        metrics.update(_metrics(trainer, "val/"))
    checkpoint = trainer.checkpoint_callback
    # read before testing: trainer.test(ckpt_path=best) restores the callback's state from the best checkpoint
    best = checkpoint.best_model_path if checkpoint else ""
    best_score = checkpoint.best_model_score if checkpoint else None
    last = str(latest.path) if latest is not None and latest.path.is_file() else ""
    # a scheduler's SIGTERM leaves seconds before SIGKILL: record what we have rather than test first
    test_skipped = interrupted is not None and interrupted.by != SIGINT_NAME
    stopped = stop_reason(trainer)  # early stopping, or a pruned trial (not tested: the search dropped it)
    if cfg.test and trainer.limit_test_batches != 0 and not test_skipped and stopped.get("stopped_by") != PRUNED_BY:
        announce_test(trainer, data, find_callback(trainer, EvalTimer))
        if interrupted is not None:
            print("seqlab: testing the best checkpoint before stopping (Ctrl-C again to skip the test)", flush=True)
        try:
            with ctrl_c_skips() if interrupted is not None else nullcontext():
                trainer.test(module, datamodule=data, ckpt_path=best or None, verbose=False, weights_only=True)
            metrics.update(_metrics(trainer, "test/"))
        except EvaluationSkipped:
            test_skipped = True
        except SIGTERMException:  # SIGTERM while testing: record what fit left, exit 143
            test_skipped = True
            interrupted = interrupted or RunInterrupted(last, trainer.global_step, stop_signal_name())
    meter = find_callback(trainer, ThroughputMeter)
    results: dict[str, Any] = {
        **metrics,
        "task": cfg.task.name,
        "model": cfg.model.name,
        "trainable_parameters": sum(p.numel() for p in module.parameters() if p.requires_grad),
        "model_parameters": module.model_parameters() if isinstance(module, TBPTTModule) else None,
        "tokens_seen": sum(gather_objects(meter.tokens(module))),
        "tokens_per_second": sum(gather_objects(meter.tokens_per_second(module))),
        "optimizer_steps": trainer.global_step,
        "epochs": trainer.current_epoch,
        "fit_seconds": fit_seconds,
        "wall_seconds": time.time() - started,
        "world_size": trainer.world_size,
        "val_batches": _batch_counts(trainer.num_val_batches),
        "test_batches": _batch_counts(trainer.num_test_batches),
        "train_shards": gather_objects(train_shard(data)),
        "best_checkpoint": best or None,
        "best_score": best_score,
        "last_checkpoint": last or None,
        "resumed_from": ckpt_path,
        "run_dir": str(run_dir),
        "interrupted": interrupted is not None,
        **({"interrupted_by": interrupted.by} if interrupted is not None else {}),
        **({"test_skipped": True} if test_skipped else {}),
        **stopped,
        **(module.extra_results() if isinstance(module, TBPTTModule) else {}),
    }
    if trainer.is_global_zero:
        write_json(run_dir / RESULTS_FILE, results)
        log.info("results: %s", run_dir / RESULTS_FILE)
        print_summary(results)
    return results


def _remember_wandb_run(trainer: pl.Trainer, run_dir: Path) -> None:
    """Write the W&B run id into the run folder, so ``resume=<this folder>`` continues the same W&B run."""
    from pytorch_lightning.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and trainer.is_global_zero:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / WANDB_ID_FILE).write_text(str(logger.experiment.id))


def _finish(trainer: pl.Trainer, ok: bool, wandb_on: bool) -> None:
    """End what this run started, so the next job of a multirun starts clean: the W&B run (``wandb_on``: the
    ``logger`` group turned W&B on), the process group. A failed rank does not wait at the barrier: the other ranks
    may never reach it."""
    import torch.distributed as dist

    if wandb_on:
        import wandb

        wandb.finish()
    if dist.is_available() and dist.is_initialized():
        if ok:
            dist.barrier()
        dist.destroy_process_group()


def _batch_counts(counts: list[int | float]) -> int | None:
    """Batches of one evaluation pass (per rank), or None when that pass did not run."""
    return int(sum(counts)) if counts and all(c != float("inf") for c in counts) else None


def _metrics(trainer: pl.Trainer, *prefixes: str) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(prefixes)}
