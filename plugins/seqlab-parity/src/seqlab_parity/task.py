"""Task ``parity``: config schema, checks, and the module/data pair."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from seqlab.errors import ConfigError
from seqlab.tasks.base import Task, task_config
from seqlab_parity.data import ParityDataModule
from seqlab_parity.module import ParityModule

TARGETS = ("running", "final")


@dataclass
class ParityConfig:
    name: str = "parity"
    seq_len: int = 32
    target: str = "running"
    batch_size: int = 32
    tbptt_steps: int | None = None
    train_size: int = 2048
    val_size: int = 256
    test_size: int = 256
    seed: int = 0


class ParityTask(Task):
    """Running parity (label every step; causal) or the parity of the whole sequence (one label)."""

    name = "parity"
    Config = ParityConfig
    module_class = ParityModule
    causal = True  # for the default target=running; target=final accepts a bidirectional model

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        task = task_config(cfg)
        if task.target not in TARGETS:
            raise ConfigError("task.target", f"unknown target '{task.target}'", allowed=TARGETS)
        if task.target == "running":
            super().check(cfg)
        for key in ("seq_len", "batch_size", "train_size", "val_size", "test_size"):
            if getattr(task, key) < 1:
                raise ConfigError(f"task.{key}", f"must be >= 1, got {getattr(task, key)}")
        if task.tbptt_steps is not None:
            if not 1 <= task.tbptt_steps <= task.seq_len:
                raise ConfigError(
                    "task.tbptt_steps", f"must be in [1, task.seq_len={task.seq_len}] or null, got {task.tbptt_steps}"
                )
            if cfg.model.get("bidirectional", False):
                raise ConfigError(
                    "task.tbptt_steps", "truncated BPTT means nothing for a bidirectional model", allowed=["null"]
                )

    @classmethod
    def build(cls, cfg: DictConfig) -> tuple[ParityModule, ParityDataModule]:
        return ParityModule(cfg), ParityDataModule(task_config(cfg))
