"""Task ``copy``: the checks of its config (config.py) and the module/data pair (the data:
seqlab.data.synthetic.copy_data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from seqlab.data.synthetic import copy_data, seeded_splits
from seqlab.tasks.base import Task, task_config
from seqlab.tasks.copy.config import CopyConfig
from seqlab.training.tbptt_check import check_positive, check_tbptt

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
        check_positive(task, "batch_size", "length", "delay", "vocab")
        check_positive(task.data, "train_size", "val_size", "test_size")
        check_tbptt(task.tbptt_steps, task.delay + 2 * task.length)

    @classmethod
    def build(cls, cfg: DictConfig) -> tuple[SequenceModule, TensorDataModule]:
        from seqlab.data.tensor_datamodule import TensorDataModule
        from seqlab.tasks.sequence_module import SequenceModule

        task = task_config(cfg)
        d = task.data
        splits = seeded_splits(
            lambda n, seed: copy_data(n, task.length, task.delay, task.vocab, seed),
            d.seed,
            (d.train_size, d.val_size, d.test_size),
        )
        module = SequenceModule(
            cfg,
            input_size=task.vocab + 2,
            output_size=task.vocab + 1,
            objective="per_step",
            one_hot=task.vocab + 2,
            seq_len=task.delay + 2 * task.length,
        )
        return module, TensorDataModule(splits, task.batch_size)
