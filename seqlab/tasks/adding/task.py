"""Task ``adding``: the checks of its config (config.py) and the module/data pair (the data:
seqlab.data.synthetic.adding_data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from seqlab.data.synthetic import adding_data
from seqlab.errors import ConfigError
from seqlab.models.capabilities import Needs
from seqlab.tasks.adding.config import AddingConfig
from seqlab.tasks.base import Task, task_config
from seqlab.tasks.tensor_tasks import check_synthetic, sequence_task_pair, synthetic_splits

if TYPE_CHECKING:  # imported in build: a task's check runs without Lightning
    from seqlab.data.tensor_datamodule import TensorDataModule
    from seqlab.tasks.sequence_module import SequenceModule


class AddingTask(Task):
    """Many-to-one regression; ``val/mse`` against 1/6 ~ 0.167 for always answering 1.0."""

    needs = Needs(per_step=False)  # reads the last output: a pooled summary serves too

    Config = AddingConfig
    module_class = "seqlab.tasks.sequence_module:SequenceModule"  # imported when first read (seqlab/tasks/base.py)

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        super().check(cfg)
        task = task_config(cfg)
        if task.seq_len < 2:
            raise ConfigError("task.seq_len", f"must be >= 2 (two marked numbers), got {task.seq_len}")
        check_synthetic(task, task.seq_len)

    @classmethod
    def build(cls, cfg: DictConfig) -> tuple[SequenceModule, TensorDataModule]:
        task = task_config(cfg)
        splits = synthetic_splits(lambda n, seed: adding_data(n, task.seq_len, seed), task.data)
        module_args = {"input_size": 2, "output_size": 1, "objective": "regression", "seq_len": task.seq_len}
        return sequence_task_pair(cfg, splits, **module_args)
