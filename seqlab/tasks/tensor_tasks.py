"""What the tasks built on ``SequenceModule`` and tensors in memory share (copy, adding, seqdigits): the checks of
a seeded synthetic ``task.data`` and the build of the module/data pair. A task's check imports this module without
Lightning: the module and data module are imported in the build."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from seqlab.config.job import JobConfig
from seqlab.data.synthetic import Splits, SyntheticDataConfig, seeded_splits
from seqlab.tasks.base import task_config
from seqlab.training.tbptt_check import check_positive, check_tbptt

if TYPE_CHECKING:
    import torch

    from seqlab.data.tensor_datamodule import TensorDataModule
    from seqlab.tasks.sequence_module import SequenceModule

__all__ = ["check_synthetic", "sequence_task_pair", "synthetic_splits"]


def check_synthetic(task: Any, seq_len: int, *keys: str) -> None:
    """``task.batch_size`` and the task's own ``keys`` are >= 1, every split of ``task.data`` (a
    ``SyntheticDataConfig``) holds an example, and ``task.tbptt_steps`` fits sequences of ``seq_len`` steps."""
    check_positive(task, "batch_size", *keys)
    check_positive(task.data, "train_size", "val_size", "test_size", prefix="task.data")
    check_tbptt(task.tbptt_steps, seq_len)


def synthetic_splits(make: Callable[[int, int], tuple[torch.Tensor, ...]], data: SyntheticDataConfig) -> Splits:
    """``make(n, seed)`` for the train, val and test sizes of ``data``, seeded ``data.seed + i``."""
    return seeded_splits(make, data.seed, (data.train_size, data.val_size, data.test_size))


def sequence_task_pair(
    cfg: JobConfig | DictConfig, splits: Splits, **module_args: Any
) -> tuple[SequenceModule, TensorDataModule]:
    """A ``SequenceModule(cfg, **module_args)`` and the data module serving ``splits`` in ``task.batch_size``
    batches."""
    from seqlab.data.tensor_datamodule import TensorDataModule
    from seqlab.tasks.sequence_module import SequenceModule

    return SequenceModule(cfg, **module_args), TensorDataModule(splits, task_config(cfg).batch_size)
