"""The typed config of one job: the task's and the model's dataclasses, built once from the composed DictConfig.

Validation (:func:`seqlab.config.validate.validate`) builds a :class:`JobConfig` and hands it on: ``Task.check``,
``Task.build`` and the task's LightningModule receive it, so every module reads its keys from the dataclass that
validation built, and each default is written once, in that dataclass. The composed DictConfig stays beside it as
``raw``: Hydra, Lightning (the Trainer's arguments, the checkpoint's hyper-parameters) and the optimizer (its
``_target_`` and keyword arguments) read it.

A module rebuilt from a checkpoint gets the saved config as a plain dict; :func:`job_config` builds its JobConfig
then (the schema merge only, no checks).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seqlab import registry
from seqlab.config.optimizer_settings import OptimizerSettings, optimizer_settings
from seqlab.config.schema import to_dataclass


@dataclass(frozen=True)
class JobConfig:
    """``task`` and ``model``: the typed configs (``Task.Config`` / ``SequenceModel.Config`` instances);
    ``optimizer``: seqlab's keys of the optimizer node (clipping, schedule; the torch optimizer's own arguments stay
    in ``raw.optimizer``); ``raw``: the composed config. Any other attribute (``seed``, ``trainer``, ...) reads
    ``raw``, so code written for the DictConfig (``cfg.seed``, ``cfg.model.name``) keeps working."""

    raw: DictConfig
    task: Any
    model: Any
    optimizer: OptimizerSettings

    @property
    def task_cls(self) -> type:
        return registry.get_task(self.raw.task.name)

    @property
    def model_cls(self) -> type:
        return registry.get_model(self.raw.model.name)

    @property
    def logger_kinds(self) -> list[str]:
        """The loggers the ``logger`` group turns on (``csv``, ``tensorboard``, ``wandb``), from the config."""
        return logger_kinds(self.raw.get("logger"))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # pickle and copy probe dunders before ``raw`` exists
            raise AttributeError(name)
        return getattr(self.__dict__["raw"], name)


def logger_kinds(node: DictConfig | dict | None) -> list[str]:
    """The loggers a ``logger`` node turns on: the keys set true in ``kinds`` (one per option of a list such as
    ``logger=[csv,tensorboard]``, merged by Hydra), or the single ``kind`` of an older config; ``none`` is none."""
    node = node or {}
    kinds = node.get("kinds")
    names = [str(k) for k, on in kinds.items() if on] if kinds is not None else [str(node.get("kind", "none"))]
    return [k for k in names if k != "none"]


def build_job(cfg: DictConfig, known_keys_only: bool = False) -> JobConfig:
    """Merge the ``task`` and ``model`` nodes into their classes' schemas (ConfigError on unknown keys or types).
    ``known_keys_only``: keys the schemas lack are left out instead (a config saved by an older seqlab)."""
    model_cls = registry.get_model(cfg.model.name)
    task_cls = registry.get_task(cfg.task.name)
    model_node, task_node = cfg.model, cfg.task
    if known_keys_only:
        model_node, task_node = _known(model_cls.Config, model_node), _known(task_cls.Config, task_node)
    model = to_dataclass(model_cls.Config, model_node, "model")
    task = to_dataclass(task_cls.Config, task_node, "task")
    return JobConfig(raw=cfg, task=task, model=model, optimizer=optimizer_settings(cfg.optimizer))


def job_config(cfg: JobConfig | DictConfig | dict) -> JobConfig:
    """``cfg`` itself when it is a JobConfig (what validation built), else a JobConfig built from it: a config
    composed by a test, or one saved in a checkpoint (keys a newer schema dropped are left out, so it still loads)."""
    if isinstance(cfg, JobConfig):
        return cfg
    return build_job(raw_config(cfg), known_keys_only=True)


def raw_config(cfg: JobConfig | DictConfig | dict) -> DictConfig:
    """The composed DictConfig behind ``cfg``."""
    if isinstance(cfg, JobConfig):
        return cfg.raw
    return cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)


def _known(schema: type, node: Any) -> Any:
    """``node`` (a mapping) without the keys ``schema`` (a dataclass) lacks, recursively into nested dataclasses."""
    if not dataclasses.is_dataclass(schema) or not isinstance(node, DictConfig | dict):
        return node
    fields = {f.name: f for f in dataclasses.fields(schema)}
    hints = typing.get_type_hints(schema)
    return {str(k): _known(hints.get(str(k)), v) for k, v in node.items() if str(k) in fields}
