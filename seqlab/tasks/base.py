"""The task contract: a config schema, the checks it makes, and how it builds its module and data.

A task never imports a model: it asks :func:`build_model` (the registry) for the one the config names.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytorch_lightning as pl
from omegaconf import DictConfig

from seqlab import registry
from seqlab.config.schema import to_dataclass
from seqlab.errors import ConfigError
from seqlab.models.base import SequenceModel


class Task:
    """Subclasses set ``name``, ``Config`` (a dataclass), ``module_class`` and implement ``build``."""

    name: ClassVar[str] = "?"
    Config: ClassVar[type]
    module_class: ClassVar[type[pl.LightningModule]]
    causal: ClassVar[bool] = False  # predicts step t from steps <= t: needs a unidirectional model
    tbptt_key: ClassVar[str] = "task.tbptt_steps"

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        """Raise ConfigError for combinations this task cannot run (called before anything heavy)."""
        if cls.causal and cfg.model.get("bidirectional", False):
            raise ConfigError(
                "model.bidirectional",
                f"a bidirectional model cannot be the causal language model of task '{cls.name}' "
                "(it would read the characters it must predict)",
                allowed=[False],
            )

    @classmethod
    def build(cls, cfg: DictConfig) -> tuple[pl.LightningModule, pl.LightningDataModule]:
        raise NotImplementedError


def task_config(cfg: DictConfig) -> Any:
    """The typed task config of a run."""
    return to_dataclass(registry.get_task(cfg.task.name).Config, cfg.task, "task")


def build_model(model_cfg: DictConfig | dict, input_size: int) -> SequenceModel:
    """The sequence model the config names, built through the registry."""
    model_cls = registry.get_model(model_cfg["name"])
    config = to_dataclass(model_cls.Config, model_cfg, "model")
    return model_cls(input_size, config)
