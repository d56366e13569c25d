"""Task ``copy``: the checks of its config (config.py) and the module/data pair (the data:
seqlab.data.synthetic.copy_data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from seqlab.data.synthetic import copy_data
from seqlab.tasks.base import Task, task_config
from seqlab.tasks.copy.config import CopyConfig
from seqlab.tasks.tensor_tasks import check_synthetic, sequence_task_pair, synthetic_splits

if TYPE_CHECKING:  # imported in build: a task's check runs without Lightning
    from seqlab.data.tensor_datamodule import TensorDataModule
    from seqlab.tasks.sequence_module import SequenceModule


class CopyTask(Task):
    """Per-step classification; ``val/acc`` is the per-symbol accuracy on the copied part."""

    Config = CopyConfig
    module_class = "seqlab.tasks.sequence_module:SequenceModule"  # imported when first read (seqlab/tasks/base.py)

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        super().check(cfg)
        task = task_config(cfg)
        check_synthetic(task, task.delay + 2 * task.length, "length", "delay", "vocab")

    @classmethod
    def build(cls, cfg: DictConfig) -> tuple[SequenceModule, TensorDataModule]:
        task = task_config(cfg)
        splits = synthetic_splits(lambda n, seed: copy_data(n, task.length, task.delay, task.vocab, seed), task.data)
        return sequence_task_pair(
            cfg,
            splits,
            input_size=task.vocab + 2,
            output_size=task.vocab + 1,
            objective="per_step",
            one_hot=task.vocab + 2,
            seq_len=task.delay + 2 * task.length,
        )
