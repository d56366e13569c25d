"""Task ``seqdigits``: the checks of its config (config.py) and the module/data pair."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from seqlab.errors import ConfigError
from seqlab.models.capabilities import Needs
from seqlab.tasks.base import Task, task_config
from seqlab.tasks.seqdigits.config import SeqDigitsConfig
from seqlab.tasks.seqdigits.data import MODES, as_sequences, load_image_folder, load_sklearn_digits, split_images
from seqlab.tasks.tensor_tasks import sequence_task_pair
from seqlab.training.tbptt_check import check_positive, check_tbptt

if TYPE_CHECKING:  # imported in build: a task's check runs without Lightning
    from seqlab.data.tensor_datamodule import TensorDataModule
    from seqlab.tasks.sequence_module import SequenceModule


class SeqDigitsTask(Task):
    """Many-to-one classification of images read as sequences; ``val/acc``."""

    needs = Needs(per_step=False)  # reads the last output: a pooled summary serves too

    Config = SeqDigitsConfig
    module_class = "seqlab.tasks.sequence_module:SequenceModule"  # imported when first read (seqlab/tasks/base.py)

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        super().check(cfg)
        task = task_config(cfg)
        if task.mode not in MODES:
            raise ConfigError("task.mode", f"unknown mode '{task.mode}'", allowed=MODES)
        check_positive(task, "batch_size")
        check_positive(task.data, "image_size", prefix="task.data")
        for key in ("val_fraction", "test_fraction"):
            if not 0.0 < getattr(task.data, key) < 1.0:
                raise ConfigError(f"task.data.{key}", f"must be in (0, 1), got {getattr(task.data, key)}")
        side = 8 if task.data.path is None else task.data.image_size
        check_tbptt(task.tbptt_steps, side if task.mode == "rows" else side * side)

    @classmethod
    def build(cls, cfg: DictConfig) -> tuple[SequenceModule, TensorDataModule]:
        task = task_config(cfg)
        d = task.data
        if d.path is None:
            images, labels, classes = load_sklearn_digits()
        else:
            images, labels, classes = load_image_folder(d.path, d.image_size)
        x = as_sequences(images, task.mode)
        splits = split_images(x, labels, d.val_fraction, d.test_fraction, d.seed)
        return sequence_task_pair(
            cfg, splits, input_size=x.size(-1), output_size=len(classes), objective="classification", seq_len=x.size(1)
        )
