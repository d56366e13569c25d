"""Task ``parity``: config schema, checks, and the module/data pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from seqlab.api import (
    ConfigError,
    Task,
    check_model_serves,
    check_positive,
    check_tbptt,
    check_tbptt_applies,
    task_config,
)

if TYPE_CHECKING:  # imported in build: pre-flight checks a config without Lightning
    from seqlab_parity.data import ParityDataModule
    from seqlab_parity.module import ParityModule

TARGETS = ("running", "final")


@dataclass
class ParityConfig:
    name: str = "parity"
    seq_len: int = 32
    min_len: int | None = None
    target: str = "running"
    batch_size: int = 32
    tbptt_steps: int | None = None
    train_size: int = 2048
    val_size: int = 256
    test_size: int = 256
    seed: int = 0


class ParityTask(Task):
    """Running parity (label every step; causal) or the parity of the whole sequence (one label)."""

    Config = ParityConfig  # name: "parity", from ParityConfig.name
    module_class = "seqlab_parity.module:ParityModule"  # imported when first read
    causal = True  # for the default target=running; target=final accepts a bidirectional model

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        task = task_config(cfg)
        if task.target not in TARGETS:
            raise ConfigError("task.target", f"unknown target '{task.target}'", allowed=TARGETS)
        if task.target == "running":
            super().check(cfg)  # the model serves the task, is not bidirectional, and TBPTT applies to it
        else:  # the same checks without the causal one
            check_model_serves(cls, cfg)
            check_tbptt_applies(cfg)
        check_positive(task, "seq_len", "batch_size", "train_size", "val_size", "test_size")
        if task.min_len is not None and not 1 <= task.min_len <= task.seq_len:
            raise ConfigError(
                "task.min_len", f"must be in [1, task.seq_len={task.seq_len}] or null, got {task.min_len}"
            )
        check_tbptt(task.tbptt_steps, task.seq_len, "task.seq_len")
        if task.tbptt_steps is not None and (task.min_len or task.seq_len) < task.seq_len:
            raise ConfigError(
                "task.tbptt_steps",
                "variable lengths (task.min_len < task.seq_len) need full BPTT: a chunk could hold no step of a row",
                allowed=["null"],
            )

    @classmethod
    def build(cls, cfg: DictConfig) -> tuple[ParityModule, ParityDataModule]:
        from seqlab_parity.data import ParityDataModule
        from seqlab_parity.module import ParityModule

        return ParityModule(cfg), ParityDataModule(task_config(cfg))
